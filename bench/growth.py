"""Growth: how each cost grows with the work, with a table and a log-log plot for each.

- session length (100 to 10,000 stored messages): resuming a session and fitting its next
  request (``memory_bench``: steady = a session compacted as it grew, cold = never compacted);
- calendar size (100 to 5,000 events): open + parse + list a week (a new process), a warm
  listing, and a write (``create_event``: strict parse, edit, verify, atomic replace, re-read);
- mailbox size (1,000 to 20,000 messages): building the search index, and three searches;
- eval suite size (10 to 1,000 trajectories): replaying and scoring a suite.

For each cost the exponent ``k`` of ``time ~ size^k`` is fitted (least squares on log-log); a
cost with ``k`` clearly above 1 grows faster than linearly and is flagged. Plots are written to
``bench/results/growth-<name>.png`` when matplotlib is installed (bench/.venv).
"""

from __future__ import annotations

import math
import os
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
RESULTS = BENCH / "results"
SUPERLINEAR = 1.15  # a fitted exponent above this is reported as faster than linear


def _median_ms(func: Any, runs: int) -> float:
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        func()
        samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples)


# -- session length ------------------------------------------------------------------------


def session(quick: bool) -> dict[str, Any]:
    """Resume + fit the next request, by stored messages (claude-sonnet-5's 200k window)."""
    import memory_bench

    sizes = [100, 1_000, 10_000] if quick else [100, 300, 1_000, 3_000, 10_000]
    runs = 3 if quick else 9
    rows = []
    for size in sizes:
        measured = {r["state"]: r for r in memory_bench.measure(size, "claude-sonnet-5", runs)}
        rows.append(
            {
                "size": size,
                "resume, steady (ms)": measured["steady"]["median_ms"],
                "resume, cold (ms)": measured["cold"]["median_ms"],
            }
        )
    return {"name": "session", "unit": "messages", "rows": rows}


# -- calendar size -------------------------------------------------------------------------


def calendar(quick: bool) -> dict[str, Any]:
    """Cold open + list, warm list, one write and the next write, by events in the file."""
    import calendar_bench

    from morrow.tools.calendar.backend import NewEvent
    from morrow.tools.calendar.ics import IcsCalendar

    sizes = [100, 1_000, 5_000] if quick else [100, 500, 1_000, 2_500, 5_000]
    runs = 2 if quick else 3
    week = calendar_bench.WEEK_START
    rows = []
    for size in sizes:
        data, _ = calendar_bench.generate(size)
        folder = Path(tempfile.mkdtemp(prefix="morrow-growth-ics-"))
        path = folder / "calendar.ics"
        path.write_bytes(data)

        def cold(path: Path = path) -> None:  # a new index (in memory): as in a new process
            IcsCalendar(path, calendar_bench.ZONE).list_events(week, week + timedelta(days=7))

        warm_calendar = IcsCalendar(path, calendar_bench.ZONE)
        warm_calendar.list_events(week, week + timedelta(days=7))
        cold_ms = _median_ms(cold, runs)
        warm_ms = _median_ms(
            lambda c=warm_calendar: c.list_events(week, week + timedelta(days=7)), runs * 3
        )
        writes = []
        for _ in range(2):
            new = NewEvent(
                uid=uuid.uuid4().hex,
                title="Growth",
                start=datetime(2025, 3, 11, 9, tzinfo=UTC),
                end=datetime(2025, 3, 11, 10, tzinfo=UTC),
            )
            started = time.perf_counter()
            warm_calendar.create_event(new, notify=False)
            writes.append((time.perf_counter() - started) * 1000)
        shutil.rmtree(folder, ignore_errors=True)
        rows.append(
            {
                "size": size,
                "cold: open + list a week (ms)": cold_ms,
                "warm: list a week (ms)": warm_ms,
                "first write (ms)": writes[0],
                "next write (ms)": writes[1],
            }
        )
    return {"name": "calendar", "unit": "events", "rows": rows}


# -- mailbox size --------------------------------------------------------------------------


def mailbox(quick: bool) -> dict[str, Any]:
    """Index build and searches, by messages in the Maildir (hard links into one generated box)."""
    import email_bench

    from morrow.tools.email.maildir import MaildirMailbox

    sizes = [1_000, 2_000, 5_000] if quick else [1_000, 2_000, 5_000, 10_000, 20_000]
    work = Path(tempfile.mkdtemp(prefix="morrow-growth-mail-"))
    master = work / "master"
    email_bench.build_maildir(master, sizes[-1])
    rows = []
    for size in sizes:
        box_dir = work / f"box-{size}"
        _link_first(master, box_dir, size)
        email_bench._age_directories(box_dir)
        box = MaildirMailbox(box_dir, index_path=work / f"index-{size}.sqlite")
        try:
            started = time.perf_counter()
            box.search(limit=1)
            build_ms = (time.perf_counter() - started) * 1000
            row = {"size": size, "index build (ms)": build_ms}
            for label, query in (
                ("search: latest 20 (ms)", {}),
                ("search: common word (ms)", {"query": "budget"}),
                ("search: sender (ms)", {"sender": "tanaka"}),
            ):
                row[label] = _median_ms(lambda q=query, b=box: b.search(**q), 7)
        finally:
            box.close()
        rows.append(row)
    shutil.rmtree(work, ignore_errors=True)
    return {"name": "mailbox", "unit": "messages", "rows": rows}


def _link_first(master: Path, target: Path, count: int) -> None:
    """A Maildir holding the first ``count`` generated messages (hard links, same times)."""
    for base in (master, master / ".Sent", master / ".Archive"):
        relative = base.relative_to(master)
        for sub in ("cur", "new", "tmp"):
            (target / relative / sub).mkdir(parents=True, exist_ok=True)
        for sub in ("cur", "new"):
            for file in (base / sub).iterdir():
                number = int(file.name.split(".M", 1)[1].split("P", 1)[0])
                if number < count:
                    os.link(file, target / relative / sub / file.name)


# -- eval suite size -----------------------------------------------------------------------


def evals(quick: bool) -> dict[str, Any]:
    """Replaying and scoring a suite, by cases (the core and agentdojo goldens repeated)."""
    import evals_bench

    evals_bench._quiet()
    sizes = [10, 100] if quick else [10, 30, 100, 300, 1_000]
    rows = [
        {"size": size, "replay + score the suite (ms)": seconds * 1000}
        for size, seconds, _ in evals_bench.bench_growth(sizes)
    ]
    return {"name": "evals", "unit": "trajectories", "rows": rows}


# -- fitting, plotting, reporting ----------------------------------------------------------


def exponent(sizes: list[float], values: list[float]) -> float:
    """The least-squares slope of log(value) against log(size)."""
    xs = [math.log(s) for s in sizes]
    ys = [math.log(max(v, 1e-6)) for v in values]
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sum(
        (x - mx) ** 2 for x in xs
    )


def plot(result: dict[str, Any]) -> Path | None:
    """A log-log PNG of every cost against size, with a linear reference; None without
    matplotlib."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    rows = result["rows"]
    sizes = [r["size"] for r in rows]
    figure, axes = plt.subplots(figsize=(6.4, 4.2))
    for key in [k for k in rows[0] if k != "size"]:
        values = [r[key] for r in rows]
        axes.plot(sizes, values, marker="o", label=key)
        reference = [values[0] * s / sizes[0] for s in sizes]
        axes.plot(sizes, reference, linestyle=":", color="grey", linewidth=0.8)
    axes.set_xscale("log")
    axes.set_yscale("log")
    axes.set_xlabel(result["unit"])
    axes.set_ylabel("ms (median)")
    axes.set_title(f"{result['name']}: cost by {result['unit']} (dotted: linear from the first)")
    axes.legend(fontsize="small")
    axes.grid(True, which="both", linewidth=0.3)
    figure.tight_layout()
    out = RESULTS / f"growth-{result['name']}.png"
    out.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(out, dpi=100)
    plt.close(figure)
    return out


def table(result: dict[str, Any]) -> str:
    """The Markdown table of one growth result, with the fitted exponent of each cost."""
    rows = result["rows"]
    keys = [k for k in rows[0] if k != "size"]
    lines = [
        f"| {result['unit']} | " + " | ".join(keys) + " |",
        "|---:|" + "---:|" * len(keys),
    ]
    for row in rows:
        lines.append(f"| {row['size']:,} | " + " | ".join(f"{row[k]:.1f}" for k in keys) + " |")
    sizes = [r["size"] for r in rows]
    fitted = [f"{k}: k = {exponent(sizes, [r[k] for r in rows]):.2f}" for k in keys]
    lines.append("")
    lines.append("Fitted exponent (time ~ size^k): " + "; ".join(fitted) + ".")
    return "\n".join(lines)


def superlinear(result: dict[str, Any]) -> list[str]:
    """The costs of a result that grow faster than linearly."""
    rows = result["rows"]
    sizes = [r["size"] for r in rows]
    return [
        k for k in rows[0] if k != "size" and exponent(sizes, [r[k] for r in rows]) > SUPERLINEAR
    ]


def measure(quick: bool = False) -> list[dict[str, Any]]:
    """Every growth result, each with its plot written."""
    results = []
    for func in (session, calendar, mailbox, evals):
        print(f"growth: {func.__name__} ...", flush=True)
        result = func(quick)
        path = plot(result)
        result["plot"] = str(path.relative_to(BENCH)) if path else None
        results.append(result)
    return results


if __name__ == "__main__":
    sys.path.insert(0, str(BENCH))
    for found in measure(quick="--quick" in sys.argv):
        print(table(found))
        print()
