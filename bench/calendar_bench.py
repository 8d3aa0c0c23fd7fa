"""Calendar: list one week from a 5,000-event .ics with recurrences, cold and warm.

Cold: a new IcsCalendar (the file is read, parsed and indexed) then list_events for a week.
Warm: list_events for a week on a calendar whose parsed file is cached. The tool path
(``list_events`` tool: localize, conflicts) is timed warm as well. Aim: at most 150 ms.
"""

from __future__ import annotations

import asyncio
import random
import statistics
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import icalendar

ROOT = Path(__file__).resolve().parent.parent

from morrow.tools.calendar.ics import IcsCalendar  # noqa: E402
from morrow.tools.calendar.tools import list_events  # noqa: E402
from morrow.tools.context import ToolContext  # noqa: E402
from morrow.tools.workspace import Workspace  # noqa: E402

EVENTS = 5_000
AIM_MS = 150.0
ZONE = ZoneInfo("Europe/Berlin")
FIRST = date(2023, 1, 2)
WEEK_START = datetime(2025, 3, 10, tzinfo=ZONE)


# A personal calendar's mix: mostly weekly meetings, some daily stand-ups for a month,
# monthly reviews for a year, and a few open-ended weekly series.
RULES = [
    "RRULE:FREQ=WEEKLY;COUNT=52",
    "RRULE:FREQ=WEEKLY;COUNT=52",
    "RRULE:FREQ=WEEKLY;INTERVAL=2;COUNT=26",
    "RRULE:FREQ=DAILY;BYDAY=MO,TU,WE,TH,FR;COUNT=20",
    "RRULE:FREQ=MONTHLY;COUNT=12",
    "RRULE:FREQ=WEEKLY",
]


def generate(count: int, seed: int = 7) -> tuple[bytes, int]:
    """An .ics of ``count`` VEVENTs over three years: 10% recurring (see RULES), with EXDATEs,
    5% all-day, a quarter in other zones. Returns the text and the number of series."""
    rng = random.Random(seed)
    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//morrow bench//EN"]
    series = 0
    zones = ["Europe/Berlin", "Europe/Berlin", "America/New_York", "Asia/Tokyo"]
    for n in range(count):
        day = FIRST + timedelta(days=rng.randrange(3 * 365))
        hour = rng.randrange(7, 19)
        zone = rng.choice(zones)
        start = f"{day:%Y%m%d}T{hour:02d}{rng.choice(['00', '30']):s}00"
        lines += ["BEGIN:VEVENT", f"UID:bench-{n}", "DTSTAMP:20250101T000000Z"]
        lines.append(f"SUMMARY:Event {n}")
        if rng.random() < 0.05:
            lines += [f"DTSTART;VALUE=DATE:{day:%Y%m%d}", f"DURATION:P{rng.randrange(1, 4)}D"]
        else:
            lines += [f"DTSTART;TZID={zone}:{start}", f"DURATION:PT{rng.choice([30, 45, 60])}M"]
        if rng.random() < 0.1:
            series += 1
            lines.append(rng.choice(RULES))
            if "T" in lines[-3] or "TZID" in lines[-2]:
                exdate = day + timedelta(days=7)
                lines.append(f"EXDATE;TZID={zone}:{exdate:%Y%m%d}T{start[9:]}")
        lines.append("END:VEVENT")
    lines.append("END:VCALENDAR")
    return ("\r\n".join(lines) + "\r\n").encode(), series


def _ms(since: float) -> float:
    return (time.perf_counter() - since) * 1000


def measure(path: Path, runs: int) -> dict[str, list[float]]:
    """Milliseconds for cold and warm week listings, and the warm tool call."""
    end = WEEK_START + timedelta(days=7)
    cold, warm, tool, counts = [], [], [], []
    for _ in range(runs):
        started = time.perf_counter()
        calendar = IcsCalendar(path, ZONE)  # its own index, in memory: a cold start
        counts.append(len(calendar.list_events(WEEK_START, end)))
        cold.append(_ms(started))
        started = time.perf_counter()
        calendar.list_events(WEEK_START, end)
        warm.append(_ms(started))
        workspace = Workspace(
            calendar=calendar,
            mail=None,  # type: ignore[arg-type]
            timezone=ZONE,
            clock=lambda: datetime(2025, 3, 9, tzinfo=UTC),
        )
        args = list_events.validate({"start": WEEK_START.isoformat(), "end": end.isoformat()})
        started = time.perf_counter()
        asyncio.run(list_events.run(ToolContext(workspace), args))
        tool.append(_ms(started))
    return {"cold": cold, "warm": warm, "tool": tool, "events": [float(c) for c in counts]}


def run(quick: bool = False) -> str:
    """Run the benchmark; return its Markdown section."""
    runs = 3 if quick else 10
    data, series = generate(EVENTS)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "bench.ics"
        path.write_bytes(data)
        results = measure(path, runs)
    listed = int(results["events"][0])
    started = time.perf_counter()
    icalendar.Calendar.from_ical(data)
    parse_ms = _ms(started)
    rows = []
    for label, key in (
        ("cold: open + parse + list", "cold"),
        ("warm: list (parsed file cached)", "warm"),
        ("warm: list_events tool (localize, conflicts, JSON)", "tool"),
    ):
        values = results[key]
        rows.append(
            f"| {label} | {statistics.median(values):.1f} | {max(values):.1f} |"
            f" {'met' if statistics.median(values) <= AIM_MS else 'not met'} |"
        )
    return "\n".join(
        [
            "## Calendar: list a week from a 5,000-event .ics",
            "",
            f"`.venv/bin/python bench/calendar_bench.py` ({EVENTS:,} VEVENTs over three years, "
            f"{series:,} of them recurring (weekly, fortnightly, daily for a month, "
            "monthly, open-ended; with EXDATEs), 5% all-day, a quarter in other zones; "
            f"{len(data) / 1e6:.1f} MB; the week of {WEEK_START:%Y-%m-%d} "
            f"holds {listed} occurrences; median and worst of {runs} runs).",
            "",
            "| what | median ms | max ms | aim ≤ 150 ms |",
            "|---|---:|---:|---|",
            *rows,
            "",
            f"- Cold is dominated by icalendar parsing the file ({parse_ms:.0f} ms of it here); "
            "the parsed file is cached per process and re-read only when its mtime or size "
            "changes, so a REPL session pays it once. A persistent parsed index would be the "
            "next step for the cold aim.",
            "- Warm: single events are found by bisecting a sorted index; only the series go "
            "through recurring-ical-events.",
            "",
        ]
    )


if __name__ == "__main__":
    section = run(quick="--quick" in sys.argv)
    out = ROOT / "bench" / "results" / "calendar.md"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(section, encoding="utf-8")
    print(section)
