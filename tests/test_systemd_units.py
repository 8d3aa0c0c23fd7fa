"""The systemd units and the cron line shipped in docs/ start `morrow brief` and are valid."""

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

DOCS = Path(__file__).parents[1] / "docs"


def unit(name):
    """A unit file as {section: {key: [values]}} (systemd allows a key more than once)."""
    sections: dict[str, dict[str, list[str]]] = {}
    current = None
    for raw in (DOCS / name).read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("[") and line.endswith("]"):
            current = sections.setdefault(line[1:-1], {})
            continue
        key, equals, value = line.partition("=")
        assert current is not None and equals, f"{name}: not a key=value line: {raw!r}"
        current.setdefault(key.strip(), []).append(value.strip())
    return sections


def test_the_service_runs_morrow_brief_once_and_tolerates_busy():
    service = unit("morrow-brief.service")
    (command,) = service["Service"]["ExecStart"]
    assert re.fullmatch(r"\S*/morrow brief(\s.*)?", command), command
    assert service["Service"]["Type"] == ["oneshot"]
    assert "75" in service["Service"]["SuccessExitStatus"][0].split()


def test_the_timer_starts_the_service_every_day():
    timer = unit("morrow-brief.timer")
    assert timer["Timer"]["Unit"] == ["morrow-brief.service"]
    assert timer["Timer"]["OnCalendar"] and timer["Timer"]["Persistent"] == ["true"]
    assert timer["Install"]["WantedBy"] == ["timers.target"]


def test_the_cron_line_runs_morrow_brief():
    text = (DOCS / "cron.md").read_text()
    lines = [line for line in text.splitlines() if re.match(r"^\s*\d+\s+\d+\s+\*", line)]
    assert lines and all(re.search(r"/morrow\"? brief\b", line) for line in lines)


def test_systemd_analyze_verifies_the_units(tmp_path):
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed on this machine")
    morrow = Path(sys.executable).with_name("morrow")
    if not morrow.exists():
        pytest.skip("the morrow console script is not installed next to this Python")
    # verify checks that ExecStart's program exists: point it at the installed one
    service = (DOCS / "morrow-brief.service").read_text()
    service = service.replace("ExecStart=%h/.local/bin/morrow", f"ExecStart={morrow}")
    (tmp_path / "morrow-brief.service").write_text(service)
    shutil.copy(DOCS / "morrow-brief.timer", tmp_path / "morrow-brief.timer")
    done = subprocess.run(
        [analyze, "verify", str(tmp_path / "morrow-brief.service"),
         str(tmp_path / "morrow-brief.timer")],
        capture_output=True,
        stdin=subprocess.DEVNULL, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "morrow-brief" not in done.stderr, done.stderr
