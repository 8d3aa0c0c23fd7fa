"""Evals benchmark: how fast recorded trajectories replay, and how a suite's run time grows.

1. 100 replays: the golden trajectories of the ``core`` and ``agentdojo`` suites, cycled to
   100, each replayed in-process through ``morrow.evals.replay.replay`` (a fresh temporary home, the
   world written, every request checked, the final world compared). Aim: at most 3 s.
2. Growth: suites of 10, 100 and 1,000 cases (the same goldens repeated) run through
   ``run_suite`` in replay mode, scored; the time per case should stay flat.

Run: ``.venv/bin/python bench/evals_bench.py [--quick]``; writes bench/results/evals.md.
"""

from __future__ import annotations

import asyncio
import logging
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

import structlog  # noqa: E402

from morrow.evals.cases import Suite  # noqa: E402
from morrow.evals.catalog import load_suite  # noqa: E402
from morrow.evals.replay import replay  # noqa: E402
from morrow.evals.runner import RunOptions, run_suite  # noqa: E402
from morrow.evals.trajectory import Trajectory, load_trajectory  # noqa: E402

AIM_SECONDS = 3.0
COMMAND = ".venv/bin/python bench/evals_bench.py"


def _quiet() -> None:
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))


_SUITES: list[Suite] = []


def _goldens() -> tuple[list[Trajectory], list[Suite]]:
    if not _SUITES:
        _SUITES.extend(_recorded_copy(name) for name in ("core", "agentdojo"))
    suites = _SUITES
    trajectories = [load_trajectory(suite.golden(case)) for suite in suites for case in suite.cases]
    return trajectories, suites


def _recorded_copy(name: str) -> Suite:
    """The suite copied to a temporary folder with its goldens recorded again from the scripts.

    What is measured is the speed of replay with the code as it is; a golden file left behind
    by a change elsewhere (a schema, a prompt) would only make every case diverge early.
    """
    from morrow.evals.runner import RunOptions, run_case

    shipped = load_suite(name)
    copy = Path(tempfile.mkdtemp(prefix=f"morrow-bench-{name}-")) / name
    shutil.copytree(shipped.path, copy)
    suite = load_suite(str(copy))
    for case in suite.cases:
        attempt = asyncio.run(run_case(suite, case, RunOptions(mode="script")))
        if attempt.trajectory is None:
            raise SystemExit(f"{name}/{case.id}: cannot record: {attempt.error}")
        path = suite.golden(case)
        world = case.world.relative_to(path.parent)
        attempt.trajectory.model_copy(update={"world": world}).save(path)
    return suite


async def _replay_all(trajectories: list[Trajectory]) -> list[float]:
    times = []
    for trajectory in trajectories:
        started = time.perf_counter()
        await replay(trajectory)
        times.append(time.perf_counter() - started)
    return times


def bench_replays(count: int = 100) -> tuple[float, list[float], float]:
    """Total seconds, per-replay seconds, and the seconds spent inside the tools."""
    from morrow.tools.base import Tool

    trajectories, _ = _goldens()
    batch = [trajectories[i % len(trajectories)] for i in range(count)]
    asyncio.run(_replay_all(batch[:5]))  # warm imports and caches, as a long-lived run would be
    in_tools = [0.0]
    original = Tool.run

    async def timed(self: Tool, workspace: object, args: object) -> str:
        started = time.perf_counter()
        try:
            return await original(self, workspace, args)  # type: ignore[arg-type]
        finally:
            in_tools[0] += time.perf_counter() - started

    Tool.run = timed  # type: ignore[method-assign]
    try:
        started = time.perf_counter()
        times = asyncio.run(_replay_all(batch))
        total = time.perf_counter() - started
    finally:
        Tool.run = original  # type: ignore[method-assign]
    return total, times, in_tools[0]


def bench_growth(sizes: list[int]) -> list[tuple[int, float, int]]:
    _, suites = _goldens()
    pairs = [(suite, case) for suite in suites for case in suite.cases]
    rows = []
    for size in sizes:
        chosen = [pairs[i % len(pairs)] for i in range(size)]
        started = time.perf_counter()
        passed = 0
        for suite, case in chosen:
            # one case at a time, each replaying its own suite's golden trajectory
            one = Suite(name=suite.name, path=suite.path, description="", cases=[case])
            result = asyncio.run(run_suite(one, RunOptions(mode="replay")))
            passed += result.passed
        rows.append((size, time.perf_counter() - started, passed))
    return rows


def run(quick: bool = False) -> str:
    """The benchmark section (Markdown)."""
    _quiet()
    total, times, in_tools = bench_replays(100)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    sizes = [10, 100] if quick else [10, 100, 1000]
    growth = bench_growth(sizes)
    met = "met" if total <= AIM_SECONDS else "NOT met"
    lines = [
        "## Evals: replay speed and suite growth",
        "",
        f"Command: `{COMMAND}{' --quick' if quick else ''}` "
        f"({platform.python_implementation()} {platform.python_version()}, "
        f"{platform.machine()}).",
        "",
        f"**100 replayed trajectories: {total:.2f} s** (aim: at most {AIM_SECONDS:.0f} s, {met}). "
        f"Per replay: median {statistics.median(times) * 1000:.0f} ms, "
        f"p90 {sorted(times)[int(len(times) * 0.9)] * 1000:.0f} ms, "
        f"max {max(times) * 1000:.0f} ms. Each replay builds a fresh home, writes the world, "
        "runs every turn through `run_turn` with every request checked against the recording, "
        "and compares the final world.",
        "",
        f"Of those {total:.2f} s, {in_tools:.2f} s ({in_tools / total:.0%}) are spent inside "
        "the tools themselves (mostly the .ics parsed, rewritten and verified by each "
        "calendar write; each world's Maildir is indexed once per process and the index "
        "copied into every home, see evals/world.py); the eval machinery (world copied, "
        "requests checked, world digested and compared, home removed) takes the other "
        f"{total - in_tools:.2f} s. The goldens are recorded afresh from the suites' scripts "
        "into a temporary copy first, so the figure measures replay with the code as it is. "
        f"Machine: {os.cpu_count()} CPUs, load average {load:.1f} while measuring.",
        "",
        "Suite growth (replay mode, scored, the core and agentdojo goldens repeated):",
        "",
        "| cases | total s | ms per case | passed |",
        "|---:|---:|---:|---:|",
    ]
    for size, seconds, passed in growth:
        lines.append(f"| {size:,} | {seconds:.2f} | {seconds / size * 1000:.0f} | {passed:,} |")
    first, last = growth[0], growth[-1]
    ratio = (last[1] / last[0]) / (first[1] / first[0])
    lines += [
        "",
        f"Time per case at {last[0]:,} cases is {ratio:.2f}x that at {first[0]} cases: "
        "run time grows linearly with the suite (each case is independent; nothing is "
        "accumulated across cases).",
    ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    section = run(quick="--quick" in sys.argv[1:])
    out = ROOT / "bench" / "results" / "evals.md"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(section, encoding="utf-8")
    sys.stdout.write(section)
