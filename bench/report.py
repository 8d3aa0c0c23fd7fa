"""bench/RESULTS.md from the raw numbers (bench/results.json), plus machine and package facts."""

from __future__ import annotations

import os
import platform
import time
from importlib import metadata
from pathlib import Path
from typing import Any

AIM_OVERHEAD_MS = 1.0
AIM_HELP_MS = 120.0
PACKAGES = ("openai", "httpx2", "httpcore2", "pydantic", "anthropic", "structlog", "morrow")


def machine() -> dict[str, Any]:
    cpu = "unknown"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    system = platform.platform()
    os_release = Path("/etc/os-release")
    if os_release.exists():
        for line in os_release.read_text().splitlines():
            if line.startswith("PRETTY_NAME="):
                system = f"{line.split('=', 1)[1].strip(chr(34))} ({platform.release()})"
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "os": system,
    }


def packages() -> dict[str, str]:
    found = {}
    for name in PACKAGES:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = "not installed"
    return found


def _met(ok: bool) -> str:
    return "**met**" if ok else "**not met**"


def summary(results: dict[str, Any]) -> str:
    lines = []
    for mode, over in results["overhead"].items():
        lines.append(
            f"overhead {mode:12}: {over['median_diff_ms']:+.3f} ms/turn "
            f"(x{over['ratio']:.2f}, CPU {over['cpu_diff_ms']:+.3f} ms)"
        )
    help_ms = results["startup"]["commands"]["morrow --help"]["median_ms"]
    lines.append(f"morrow --help: {help_ms:.1f} ms median")
    return "\n".join(lines)


def markdown(results: dict[str, Any]) -> str:
    parts = [
        _head(results),
        _loops(results),
        _breakdown(results),
        _startup(results),
        _notes(results),
    ]
    return "\n\n".join(parts) + "\n"


def _head(results: dict[str, Any]) -> str:
    m, p = results["machine"], results["packages"]
    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(results["started"]))
    versions = ", ".join(f"{name} {version}" for name, version in p.items())
    over = results["overhead"]
    worst = max(o["median_diff_ms"] for o in over.values())
    help_ms = results["startup"]["commands"]["morrow --help"]["median_ms"]
    return f"""# Benchmark results

Written by `bench/run.py`; the raw numbers are in `results.json`. See README.md for method.

- Date: {when}; command: `.venv/bin/{results["command"]}` ({results["seconds"]:.0f} s)
- Machine: {m["cpu"]}, {m["cores"]} cores; {m["os"]}; {m["python"]}
- Packages: {versions}
- Loops: {results["iterations"]} runs per variant after {results["warmup"]} warm-up runs, \
interleaved round-robin; morrow's logging: `{results["logs"]}`

## Aims

| Aim | Result | |
|---|---|---|
| Overhead at most {AIM_OVERHEAD_MS:g} ms per turn over the raw SDK loop | \
{worst:+.2f} ms (worse of streamed / non-streamed, median difference) | \
{_met(worst <= AIM_OVERHEAD_MS)} |
| `morrow --help` at most {AIM_HELP_MS:g} ms | {help_ms:.1f} ms (median of \
{results["startup"]["commands"]["morrow --help"]["runs"]}) | {_met(help_ms <= AIM_HELP_MS)} |"""


def _loops(results: dict[str, Any]) -> str:
    rows = [
        "| Variant | Median ms | p95 ms | CPU ms/run | Alone: median ms | Alone: peak RSS MiB |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name, s in results["loops"].items():
        alone = s.get("alone", {})
        rows.append(
            f"| {name} | {s['median_ms']:.3f} | {s['p95_ms']:.3f} | {s['cpu_ms_per_run']:.3f} | "
            f"{alone.get('median_ms', float('nan')):.3f} | "
            f"{alone.get('peak_rss_mib', float('nan')):.1f} |"
        )
    over = [
        "| Mode | Overhead (median diff) | Paired median diff | Ratio | CPU diff per run |",
        "|---|---:|---:|---:|---:|",
    ]
    for mode, o in results["overhead"].items():
        over.append(
            f"| {mode} | {o['median_diff_ms']:+.3f} ms | {o['paired_median_diff_ms']:+.3f} ms | "
            f"x{o['ratio']:.2f} | {o['cpu_diff_ms']:+.3f} ms |"
        )
    return (
        "## Loop overhead per turn\n\n"
        "One run = one user turn with one tool call: 2 HTTP requests to a local zero-latency "
        "fake server (in its own process). `raw` is a hand-written loop on `openai.AsyncOpenAI`; "
        "`morrow` is `run_turn` with `OpenAIProvider`. Wall and CPU are per run, measured with "
        "all four interleaved in one process; *Alone* is each variant in a child process by "
        "itself (peak RSS is that process's VmHWM, so it is attributable).\n\n"
        + "\n".join(rows)
        + "\n\n"
        + "\n".join(over)
    )


def _breakdown(results: dict[str, Any]) -> str:
    costs = results["breakdown"]["us_per_turn"]
    ordered = sorted(costs.items(), key=lambda kv: kv[1], reverse=True)
    rows = ["| Piece of work (per turn) | µs |", "|---|---:|"]
    rows += [f"| {name} | {us:.0f} |" for name, us in ordered]
    top = "; ".join(f"{name} ({us:.0f} µs)" for name, us in ordered[:3])
    plain = sum(us for name, us in costs.items() if not name.startswith("streamed"))
    streamed = sum(
        us
        for name, us in costs.items()
        if "non-streamed" not in name and "model_dump of each chunk" not in name
    )
    over = results["overhead"]
    accounted = (
        f"These pieces add up to {plain:.0f} µs of the "
        f"{over['non-streamed']['median_diff_ms'] * 1000:.0f} µs measured non-streamed, and "
        f"{streamed:.0f} µs of the {over['streamed']['median_diff_ms'] * 1000:.0f} µs streamed."
    )
    return (
        "## Where morrow's extra time goes\n\n"
        "Found with cProfile (`bench/run.py --profile morrow`, diffed against `--profile raw`), "
        "then each piece timed alone on captured real inputs (best of 5 batches; "
        "`bench/breakdown.py`). The SDK's own work (request transform, httpx2, response "
        "construction) is the same in both loops and is not listed. The streamed rows replace "
        "the non-streamed `from_wire` row in a streamed turn.\n\n"
        + "\n".join(rows)
        + f"\n\nTop 3: {top}. {accounted} In the cProfile diff the remainder is spread thin: "
        "extra event-loop iterations (`asyncio.gather` makes a task for the read-only calls; "
        "the worker thread wakes the loop), pydantic validation of each message and part, and "
        "the async generators the stream passes through."
    )


def _startup(results: dict[str, Any]) -> str:
    boot = results["startup"]
    rows = ["| Command | Median ms | p95 ms | Min ms |", "|---|---:|---:|---:|"]
    for label, s in boot["commands"].items():
        rows.append(f"| `{label}` | {s['median_ms']:.1f} | {s['p95_ms']:.1f} | {s['min_ms']:.1f} |")
    imports = {key: _imports(boot[key]) for key in ("import_time_top", "import_time_help")}
    return (
        "## Start-up\n\n"
        "Wall time of a whole process (20 runs after 2 warm-ups, `MORROW_HOME` a temp dir). "
        "`python -c pass` is the floor no Python CLI can beat.\n\n"
        + "\n".join(rows)
        + "\n\nThe slowest imports (top level, and one level down; one run each, "
        "`PYTHONPROFILEIMPORTTIME=1`). `site` runs before any script and includes the editable "
        "install's import finder. Under `python -c 'import agent.cli'`:\n\n"
        + imports["import_time_top"]
        + "\n\nUnder `morrow --help` (what it loads beyond `agent.cli` is its extra cost):\n\n"
        + imports["import_time_help"]
    )


def _imports(rows: list[dict[str, Any]]) -> str:
    lines = ["| Module | Imported | Cumulative ms | Self ms |", "|---|---|---:|---:|"]
    for row in rows:
        where = "by a top-level import" if row["depth"] else "top level"
        lines.append(
            f"| `{row['module']}` | {where} | {row['cum_us'] / 1000:.1f} | "
            f"{row['self_us'] / 1000:.1f} |"
        )
    return "\n".join(lines)


def _notes(results: dict[str, Any]) -> str:
    load = " -> ".join(f"{x:.1f}" for x in results["load_average"])
    return f"""## Notes

- The machine is small and shared (load average {load}): read medians and the side-by-side
  differences, not single runs. On an idle machine wall time is close to CPU time, the client
  being CPU-bound against a local server; when wall is well above CPU, other work was running.
- The fake server (tests/support/fake_api.py) writes headers and body in two sends; with Nagle's
  algorithm on, every response waited ~40 ms for the client's delayed ACK (88 ms per run for
  both loops). bench/run.py sets `disable_nagle_algorithm = True` on its handler in the server's
  process; the same one-line change in fake_api.py would speed up the CLI end-to-end tests.
- `logs = file` sets logging up as `morrow ask` does (warnings on stderr, info events as JSON
  lines to a file); `--logs off` measures the loop without the file."""
