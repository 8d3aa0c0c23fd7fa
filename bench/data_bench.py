"""Issue 19, a real person's data: ten years of calendar, 100,000 messages, the briefing.

    .venv/bin/python bench/data_bench.py [--quick] [--before REV]

Every aim is measured twice in one run, side by side: on the code of ``REV`` (default: the
commit before this work) and on the working tree. ``REV`` is unpacked with ``git archive``
into a temporary folder that goes first on ``sys.path`` of the child processes
(``bench/data_probe.py`` runs each measurement in a fresh process). Then the growth of the
costs with the size of the work (calendar events, messages, stored session messages) is
fitted on the working tree (time ~ size^k).

- Calendar: a ten-year .ics (5,000 events, a tenth of them recurring, a quarter in other
  zones). *Cold*: a new process, nothing indexed, lists a week. *A week in a new process*:
  six weeks across the ten years and the next year, each in a new process once the file is
  known. *Writes*: a process that has read the calendar creates and updates events.
- Mail: a generated Maildir of 100,000 messages (``email_bench.build_maildir``): search
  shapes (p95), then a message arriving in INBOX/new and a flag change, each followed by
  the search the user makes.
- The no-model briefing: ``morrow brief --force`` on the demo workspace, whole processes,
  round-robin.

Writes bench/results/data.md and its section of bench/RESULTS.md. Nothing is asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(BENCH))
BEFORE = "81ba21a"  # main before issue 19's work
BRIEF = "import sys\nfrom morrow.agent.cli import main\nsys.exit(main(['brief', '--force']))"
MARK_START, MARK_END = "<!-- data_bench: start -->", "<!-- data_bench: end -->"
ZONES = ["Europe/Berlin", "Europe/Berlin", "America/New_York", "Asia/Tokyo"]
RULES = [
    "RRULE:FREQ=WEEKLY;COUNT=52",
    "RRULE:FREQ=WEEKLY;INTERVAL=2;COUNT=26",
    "RRULE:FREQ=DAILY;BYDAY=MO,TU,WE,TH,FR;COUNT=20",
    "RRULE:FREQ=MONTHLY;COUNT=24",
    "RRULE:FREQ=YEARLY",
    "RRULE:FREQ=WEEKLY",
]
QUERIES = {
    "latest 20": {},
    "one common word": {"query": "budget"},
    "two words": {"query": "budget review"},
    "sender": {"sender": "tanaka"},
    "word + folder + dates": {
        "query": "invoice",
        "folder": "INBOX",
        "since": "2024-06-01T00:00:00+00:00",
        "until": "2025-06-01T00:00:00+00:00",
    },
}


def ten_years(count: int, seed: int = 19) -> bytes:
    """An .ics of ``count`` VEVENTs from 2016 to 2025: a tenth recurring, 5% all-day."""
    rng = random.Random(seed)
    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//morrow bench//EN"]
    first = date(2016, 1, 4)
    for n in range(count):
        day = first + timedelta(days=rng.randrange(3650))
        zone = rng.choice(ZONES)
        start = f"{day:%Y%m%d}T{rng.randrange(7, 19):02d}{rng.choice(['00', '30'])}00"
        lines += ["BEGIN:VEVENT", f"UID:ten-{n}", "DTSTAMP:20250101T000000Z", f"SUMMARY:Event {n}"]
        if rng.random() < 0.05:
            lines += [f"DTSTART;VALUE=DATE:{day:%Y%m%d}", "DURATION:P1D"]
        else:
            lines += [f"DTSTART;TZID={zone}:{start}", f"DURATION:PT{rng.choice([30, 60])}M"]
            if rng.random() < 0.1:
                lines.append(rng.choice(RULES))
        lines.append("END:VEVENT")
    lines.append("END:VCALENDAR")
    return ("\r\n".join(lines) + "\r\n").encode()


def _probe(variant: dict[str, Any], task: str, args: dict[str, Any]) -> dict[str, Any]:
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": ""}
    env.pop("PYTHONDONTWRITEBYTECODE")
    if variant["source"]:
        env["MORROW_BENCH_SOURCE"] = variant["source"]
    done = subprocess.run(
        [sys.executable, str(BENCH / "data_probe.py"), task, json.dumps(args)],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"{variant['name']} {task}: {done.stderr[-2000:]}")
    result: dict[str, Any] = json.loads(done.stdout.splitlines()[-1])
    return result


def _p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


# -- calendar -------------------------------------------------------------------------------


def calendar(variants: list[dict[str, Any]], count: int, work: Path) -> dict[str, Any]:
    path = work / f"calendar-{count}.ics"
    path.write_bytes(ten_years(count))
    now = datetime.now().astimezone()
    weeks = ["2017-06-12", "2019-11-04", "2022-02-07", "2024-09-16", "2025-03-10"]
    weeks.append((now + timedelta(days=200)).date().isoformat())
    out: dict[str, Any] = {"events": count, "bytes": path.stat().st_size}
    for variant in variants:
        home = work / f"home-{variant['name']}-{count}"
        home.mkdir()
        stamp = f"{weeks[4]}T00:00:00+01:00"
        cold = _probe(variant, "week", {"path": str(path), "home": str(home), "start": stamp})
        later = [
            _probe(
                variant,
                "week",
                {"path": str(path), "home": str(home), "start": f"{w}T00:00:00+01:00"},
            )
            for w in weeks
        ]
        copy = work / f"write-{variant['name']}-{count}.ics"
        shutil.copyfile(path, copy)
        whome = work / f"whome-{variant['name']}-{count}"
        whome.mkdir()
        updates = ["ten-3", "ten-17", "ten-40"]
        wrote = _probe(
            variant,
            "writes",
            {"path": str(copy), "home": str(whome), "start": stamp, "count": 5, "update": updates},
        )
        out[variant["name"]] = {"cold": cold, "weeks": later, "writes": wrote}
    out["week_dates"] = weeks
    return out


# -- mail -----------------------------------------------------------------------------------


def mail(variants: list[dict[str, Any]], count: int, work: Path) -> dict[str, Any]:
    import email_bench

    root = work / f"Mail-{count}"
    began = time.perf_counter()
    email_bench.build_maildir(root, count)
    generated = time.perf_counter() - began
    message = (
        "From: Priya Shah <priya@corp.example>\nTo: alex@example.com\nSubject: New budget\n"
        "Date: Mon, 01 Dec 2025 09:00:00 +0000\nMessage-ID: <new@bench.example>\n\n"
        "Could you look at the budget today?\n"
    )
    out: dict[str, Any] = {"messages": count, "generated_s": generated}
    for variant in variants:
        args = {
            "root": str(root),
            "index": str(work / f"index-{variant['name']}-{count}.sqlite"),
            "queries": QUERIES,
            "runs": 25,
            "message": message,
            "deliveries": 7,
        }
        out[variant["name"]] = _probe(variant, "mail", args)
    return out


# -- the briefing ---------------------------------------------------------------------------


def briefing(variants: list[dict[str, Any]], runs: int, work: Path) -> dict[str, Any]:
    times: dict[str, list[float]] = {v["name"]: [] for v in variants}
    homes = {}
    for variant in variants:
        home = work / f"demo-{variant['name']}"
        subprocess.run(
            [sys.executable, "-m", "morrow.tools.demo", str(home)],
            check=True,
            capture_output=True,
            env=_env(variant),
        )
        homes[variant["name"]] = home
    for round_ in range(runs + 2):
        for variant in variants if round_ % 2 else reversed(variants):
            code = BRIEF
            if variant["source"]:
                code = f"import sys\nsys.path.insert(0, {variant['source']!r})\n" + code
            env = {**_env(variant), "MORROW_HOME": str(homes[variant["name"]])}
            began = time.perf_counter()
            subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, env=env)
            if round_ >= 2:  # two warm-ups: the bytecode written, the calendar indexed
                times[variant["name"]].append((time.perf_counter() - began) * 1000)
    return times


def _env(variant: dict[str, Any]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    if variant["source"]:
        env["PYTHONPATH"] = variant["source"]
    return env


# -- growth ---------------------------------------------------------------------------------


def growth(
    after: dict[str, Any], work: Path, quick: bool, box: dict[str, Any]
) -> list[dict[str, Any]]:
    import growth as growth_module

    sizes = [500, 1_000, 2_500] if quick else [625, 1_250, 2_500, 5_000, 10_000]
    rows = []
    for size in sizes:
        (work / f"g{size}").mkdir()
        measured = calendar([after], size, work / f"g{size}")["after"]
        rows.append(
            {
                "size": size,
                "cold: index + a week (ms)": measured["cold"]["query_ms"],
                "a week, new process (ms)": statistics.median(
                    w["query_ms"] for w in measured["weeks"]
                ),
                "create (ms)": statistics.median(measured["writes"]["create_ms"]),
            }
        )
    calendar_growth = {"name": "calendar (indexed)", "unit": "events", "rows": rows}
    mail_rows = []
    for size in [2_000, 5_000, 10_000] if quick else [5_000, 20_000, 100_000]:
        if size == box["messages"]:
            measured = box["after"]  # measured above, in the same run
        else:
            (work / f"m{size}").mkdir()
            measured = mail([after], size, work / f"m{size}")["after"]
        mail_rows.append(
            {
                "size": size,
                "index build (ms)": measured["first_ms"],
                "search: common word p95 (ms)": _p95(measured["searches"]["one common word"]),
                "new mail + search (ms)": statistics.median(measured["new_mail_ms"]),
            }
        )
    mail_growth = {"name": "mailbox", "unit": "messages", "rows": mail_rows}
    return [calendar_growth, mail_growth, growth_module.session(quick)]


# -- the report -----------------------------------------------------------------------------


def report(
    cal: dict[str, Any],
    box: dict[str, Any],
    brief: dict[str, list[float]],
    grown: list[dict[str, Any]],
    meta: str,
) -> str:
    import growth as growth_module

    def med(values: list[float]) -> float:
        return statistics.median(values)

    b, a = cal["before"], cal["after"]
    week_b = [w["query_ms"] for w in b["weeks"]]
    week_a = [w["query_ms"] for w in a["weeks"]]
    proc_b = [w["process_ms"] for w in b["weeks"]]
    proc_a = [w["process_ms"] for w in a["weeks"]]
    search_b = max(_p95(v) for v in box["before"]["searches"].values())
    search_a = max(_p95(v) for v in box["after"]["searches"].values())
    rows = [
        (
            "cold: first week after a change (5,000 events)",
            b["cold"]["query_ms"],
            a["cold"]["query_ms"],
            1500,
        ),
        ("a week in a new process (median of 6)", med(week_b), med(week_a), 50),
        ("a week in a new process (worst of the 5 after the first)", *_worst(b, a), 50),
        ("the first week before last year (its series' past stored, once)", *_first(b, a), None),
        (
            "create an event (median of 5)",
            med(b["writes"]["create_ms"]),
            med(a["writes"]["create_ms"]),
            200,
        ),
        (
            "update an event (median of 5)",
            med(b["writes"]["update_ms"]),
            med(a["writes"]["update_ms"]),
            200,
        ),
        ("Maildir search, worst p95 of 5 shapes", search_b, search_a, None),
        (
            "new mail, then the search (median of 7)",
            med(box["before"]["new_mail_ms"]),
            med(box["after"]["new_mail_ms"]),
            100,
        ),
        (
            "flag change, then the search (median of 7)",
            med(box["before"]["flag_ms"]),
            med(box["after"]["flag_ms"]),
            100,
        ),
        (
            "no-model briefing, whole process (median)",
            med(brief["before"]),
            med(brief["after"]),
            300,
        ),
    ]
    lines = [
        "## A real person's data (issue 19): before and after, one run",
        "",
        meta,
        "",
        "| Aim | Before | After | Aim | |",
        "|---|---:|---:|---:|---|",
    ]
    for label, before, after, aim in rows:
        verdict = "" if aim is None else ("**met**" if after <= aim else "**not met**")
        aim_text = "" if aim is None else f"≤ {aim:,} ms"
        lines.append(f"| {label} | {before:,.1f} ms | {after:,.1f} ms | {aim_text} | {verdict} |")
    peak_b = max(w["peak_kib"] for w in b["weeks"]) / 1024
    peak_a = max(w["peak_kib"] for w in a["weeks"]) / 1024
    lines += [
        "",
        f"- Calendar: {cal['events']:,} events, {cal['bytes'] / 1e6:.2f} MB. A new process's "
        "whole life for one week (start, imports, store, query): before median "
        f"{med(proc_b):,.0f} ms, after {med(proc_a):,.0f} ms. Its peak memory (VmHWM): "
        f"before {peak_b:.0f} MiB, after {peak_a:.0f} MiB.",
        f"- Briefing p95: before {_p95(brief['before']):,.0f} ms, after "
        f"{_p95(brief['after']):,.0f} ms ({len(brief['after'])} runs each, round-robin).",
        f"- Mail: {box['messages']:,} messages (generating them, not morrow's work: "
        f"{box['generated_s']:.0f} s). Index build: before {box['before']['first_ms'] / 1000:.0f}"
        f" s, after {box['after']['first_ms'] / 1000:.0f} s.",
        "",
        "| search shape | before p95 ms | after p95 ms |",
        "|---|---:|---:|",
    ]
    for label in QUERIES:
        shapes = (box["before"]["searches"][label], box["after"]["searches"][label])
        lines.append(f"| {label} | {_p95(shapes[0]):.1f} | {_p95(shapes[1]):.1f} |")
    lines += ["", "| week (each in a new process, in this order) | before ms | after ms |"]
    lines.append("|---|---:|---:|")
    for when, wb, wa in zip(cal["week_dates"], b["weeks"], a["weeks"], strict=True):
        lines.append(f"| {when} | {wb['query_ms']:,.1f} | {wa['query_ms']:,.1f} |")
    lines += ["", "### Growth (after): cost against size", ""]
    for result in grown:
        lines.append(growth_module.table(result))
        lines.append("")
    return "\n".join(lines)


def _worst(before: dict[str, Any], after: dict[str, Any]) -> tuple[float, float]:
    return tuple(max(w["query_ms"] for w in v["weeks"][1:]) for v in (before, after))  # type: ignore[return-value]


def _first(before: dict[str, Any], after: dict[str, Any]) -> tuple[float, float]:
    return before["weeks"][0]["query_ms"], after["weeks"][0]["query_ms"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes")
    parser.add_argument("--before", default=BEFORE, help="the code to compare with (a git rev)")
    args = parser.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="morrow-data-bench-"))
    started = time.time()
    try:
        old = work / "before"
        (old / "morrow").mkdir(parents=True)
        archive = subprocess.run(
            ["git", "-C", str(ROOT), "archive", args.before], check=True, capture_output=True
        )
        subprocess.run(["tar", "-x", "-C", str(old / "morrow")], input=archive.stdout, check=True)
        variants = [{"name": "before", "source": str(old)}, {"name": "after", "source": ""}]
        load = os.getloadavg()
        cal = calendar(variants, 2_000 if args.quick else 5_000, work)
        box = mail(variants, 10_000 if args.quick else 100_000, work)
        brief = briefing(variants, 6 if args.quick else 15, work)
        grown = growth(variants[1], work, args.quick, box)
        after_load = os.getloadavg()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    meta = (
        f"`.venv/bin/python bench/data_bench.py{' --quick' if args.quick else ''}` on "
        f"{datetime.now().astimezone():%Y-%m-%d %H:%M %Z}, {time.time() - started:.0f} s; "
        f"before = `{args.before}`, "
        f"after = the working tree; {os.cpu_count()} CPUs, load average before "
        f"{load[0]:.2f}, after {after_load[0]:.2f}."
    )
    text = report(cal, box, brief, grown, meta)
    (BENCH / "results").mkdir(exist_ok=True)
    (BENCH / "results" / "data.md").write_text(text + "\n")
    _into_results(text)
    print(text)
    return 0


def _into_results(text: str) -> None:
    path = BENCH / "RESULTS.md"
    current = path.read_text()
    block = f"{MARK_START}\n{text}\n{MARK_END}"
    if MARK_START in current:
        head, rest = current.split(MARK_START, 1)
        current = head + block + rest.split(MARK_END, 1)[1]
    else:
        anchor = "## The same task through morrow and its peers"
        current = current.replace(anchor, f"{block}\n\n{anchor}", 1)
    path.write_text(current)


if __name__ == "__main__":
    sys.exit(main())
