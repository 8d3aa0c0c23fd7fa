"""Canary secrets and a body marker, planted in every test's environment (tests/conftest.py).

At the end of the session, every log file and trajectory the tests wrote under pytest's
temporary folder is searched: a canary key or token found anywhere, or the body marker found
in a log, fails the run. Trajectories may hold the marker (they record what the tools read,
for replays); logs never hold a message body.
"""

from __future__ import annotations

from pathlib import Path

API_KEY = "sk-ant-api03-CANARYcanaryCANARYcanary0123456789"
REFRESH_TOKEN = "1//0gCANARYrefreshTOKENcanary0123456789abcdef"
ACCESS_TOKEN = "ya29.CANARYaccessTOKENcanary0123456789"
BODY_MARKER = "CANARY-BODY-MARKER-5e1f"
SECRETS = (API_KEY, REFRESH_TOKEN, ACCESS_TOKEN)
ENVIRONMENT = {
    "MORROW_CANARY_API_KEY": API_KEY,
    "MORROW_CANARY_REFRESH_TOKEN": REFRESH_TOKEN,
    "MORROW_CANARY_ACCESS_TOKEN": ACCESS_TOKEN,
}


def leaks(root: Path) -> list[str]:
    """Every canary found in the logs and trajectories under ``root``: "file: what" lines."""
    found = []
    for path in root.rglob("*"):
        is_log = ".jsonl" in path.suffixes or path.name.endswith(".log")  # also morrow.jsonl.1
        is_trajectory = path.suffix == ".json" and path.is_file() and _is_trajectory(path)
        if not (is_log or is_trajectory) or not path.is_file():
            continue
        text = path.read_text(encoding="utf-8", errors="replace")
        for secret in SECRETS:
            if secret in text or secret[:24] in text:
                found.append(f"{path}: a canary secret ({secret[:12]}...)")
        if is_log and BODY_MARKER in text:
            found.append(f"{path}: the message body marker")
    return found


def _is_trajectory(path: Path) -> bool:
    with path.open("rb") as file:
        return b"morrow.trajectory" in file.read(200)
