"""The child side of bench/data_bench.py: one measurement in a fresh process, as JSON.

    python bench/data_probe.py TASK JSON-ARGS

With ``MORROW_BENCH_SOURCE`` set, that folder goes first on ``sys.path``: ``import morrow``
then loads the code being compared against (the "before" of data_bench.py). Only what both
versions offer is used; where the newer one takes more (the store for the calendar's
index), it is given when it is accepted.
"""

from __future__ import annotations

import json
import os
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

STARTED = time.perf_counter()
if os.environ.get("MORROW_BENCH_SOURCE"):
    sys.path.insert(0, os.environ["MORROW_BENCH_SOURCE"])


def _ms(since: float) -> float:
    return (time.perf_counter() - since) * 1000


def _peak_kib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


def _calendar(path: str, home: str) -> Any:
    import inspect
    from zoneinfo import ZoneInfo

    from morrow.tools.calendar.ics import IcsCalendar

    zone = ZoneInfo("Europe/Berlin")
    if "store" in inspect.signature(IcsCalendar).parameters:
        from morrow.memory.store import Store

        store = Store.open(Path(home) / "morrow.sqlite")
        return IcsCalendar(Path(path), zone, store=store)
    return IcsCalendar(Path(path), zone)


def week(args: dict[str, Any]) -> dict[str, Any]:
    """Open the calendar and list one week: a new process's first question."""
    before_import = time.perf_counter()
    imported = _calendar(args["path"], args["home"])
    import_ms = _ms(before_import)
    start = datetime.fromisoformat(args["start"])
    began = time.perf_counter()
    found = imported.list_events(start, start + timedelta(days=7))
    return {
        "query_ms": _ms(began),
        "import_ms": import_ms,
        "process_ms": _ms(STARTED),
        "events": len(found),
        "peak_kib": _peak_kib(),
    }


def writes(args: dict[str, Any]) -> dict[str, Any]:
    """Creates and updates in a process that has read the calendar once (a chat session)."""
    from morrow.tools.calendar.backend import EventChanges, NewEvent

    calendar = _calendar(args["path"], args["home"])
    start = datetime.fromisoformat(args["start"])
    calendar.list_events(start, start + timedelta(days=7))
    creates, updates = [], []
    for n in range(args["count"]):
        new = NewEvent(
            uid=f"bench-new-{n}-{time.time_ns()}",
            title=f"Bench {n}",
            start=start + timedelta(days=n % 5, hours=7),
            end=start + timedelta(days=n % 5, hours=8),
        )
        began = time.perf_counter()
        calendar.create_event(new, notify=False)
        creates.append(_ms(began))
        began = time.perf_counter()
        calendar.update_event(
            args["update"][n % len(args["update"])], EventChanges(title=f"U{n}"), notify=False
        )
        updates.append(_ms(began))
    return {"create_ms": creates, "update_ms": updates, "peak_kib": _peak_kib()}


def mail(args: dict[str, Any]) -> dict[str, Any]:
    """Index (when new), search shapes repeated, then new mail and a flag change, timed."""
    from morrow.tools.email.maildir import MaildirMailbox

    root = Path(args["root"])
    box = MaildirMailbox(root, index_path=Path(args["index"]))
    began = time.perf_counter()
    box.search(limit=1)
    result: dict[str, Any] = {"first_ms": _ms(began), "searches": {}}
    for label, raw in args["queries"].items():
        query = {
            k: datetime.fromisoformat(v) if k in ("since", "until") else v for k, v in raw.items()
        }
        samples = []
        for _ in range(args["runs"]):
            began = time.perf_counter()
            box.search(**query)
            samples.append(_ms(began))
        result["searches"][label] = samples
    result["new_mail_ms"] = _deliveries(box, root, args["message"], args["deliveries"])
    result["flag_ms"] = _flag_changes(box, root, args["deliveries"])
    result["peak_kib"] = _peak_kib()
    return result


def _age(root: Path) -> None:
    old = time.time_ns() - 3_600_000_000_000
    for base in [root, *(p for p in root.iterdir() if p.name.startswith("."))]:
        for sub in ("cur", "new"):
            if (base / sub).is_dir():
                os.utime(base / sub, ns=(old, old))


def _deliveries(box: Any, root: Path, message: str, count: int) -> list[float]:
    """A message arrives in INBOX/new (the folder untouched for an hour before): the search."""
    samples = []
    for n in range(count):
        _age(root)
        box.search(limit=1)  # the aged directories are remembered as clean
        (root / "new" / f"{time.time_ns()}.bench{n}.host").write_text(message)
        began = time.perf_counter()
        box.search(limit=20)
        samples.append(_ms(began))
    return samples


def _flag_changes(box: Any, root: Path, count: int) -> list[float]:
    """A message in INBOX/cur marked flagged (renamed): the search after it."""
    names = sorted(p.name for p in (root / "cur").iterdir())[:count]
    samples = []
    for name in names:
        _age(root)
        box.search(limit=1)
        os.rename(root / "cur" / name, root / "cur" / (name + "F"))
        began = time.perf_counter()
        box.search(limit=20)
        samples.append(_ms(began))
    return samples


if __name__ == "__main__":
    task, raw = sys.argv[1], sys.argv[2]
    print(json.dumps({"week": week, "writes": writes, "mail": mail}[task](json.loads(raw))))
    sys.stdout.flush()
    os._exit(0)  # no teardown in the timing: the parent only reads the line above
