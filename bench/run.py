"""Every benchmark of morrow in one command; writes bench/RESULTS.md and bench/results.json.

    make bench                                   # creates bench/.venv (peers, matplotlib), runs all
    bench/.venv/bin/python bench/run.py          # the same, once bench/.venv exists
    bench/.venv/bin/python bench/run.py --quick  # fewer runs and smaller sizes (a few minutes)

Sections (``--only-sections`` picks some): ``loops`` (the same task through the raw openai SDK
loop, morrow and its peers, interleaved in one process, then each alone in a child process for
its peak RSS; plus morrow's own pieces timed one by one), ``startup`` (whole processes),
``tokens`` (what every request carries), ``growth`` (each cost against the size of the work,
with plots), ``areas`` (the calendar, email, memory and evals benchmarks' own sections).

The fake model server (tests/support/fake_api.py) runs in a child process, so its CPU and memory
are not counted against the clients. See bench/README.md.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(ROOT / "tests"))  # the fake provider server (tests/support)

import loops  # noqa: E402  (bench/ is on sys.path: this file runs as a script)
import variants  # noqa: E402

SECTIONS = ("loops", "startup", "tokens", "growth", "areas")
AREAS = ("calendar", "email", "memory", "evals")


def main(argv: list[str] | None = None) -> int:
    """Run what the arguments ask for; returns the exit code."""
    args = _parse(argv)
    if args.serve:
        return _serve()
    if args.only:
        print(json.dumps(_alone(args)))
        return 0
    if args.profile:
        import profile_turn

        with Server() as server:
            profile_turn.run(args.profile, args.url or server.url, args.iterations, args.logs)
        return 0
    return _full(args)


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer runs, smaller sizes")
    parser.add_argument("--iterations", type=int, help="loop runs per variant (default 300)")
    parser.add_argument("--warmup", type=int, help="warm-up runs per variant")
    parser.add_argument(
        "--logs",
        choices=("file", "off"),
        default="file",
        help="morrow's logging: as `morrow ask` sets it up (file, the default) or off",
    )
    parser.add_argument(
        "--only-sections", nargs="+", choices=SECTIONS, default=list(SECTIONS), metavar="SECTION"
    )
    parser.add_argument("--only", help="run one loop variant alone; prints JSON")
    parser.add_argument("--url", help="with --only/--profile: a running fake server")
    parser.add_argument("--json", action="store_true", help="with --only: print JSON (default)")
    parser.add_argument("--profile", help="cProfile one loop variant")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    args.iterations = args.iterations or (50 if args.quick else 300)
    args.warmup = args.warmup if args.warmup is not None else (10 if args.quick else 30)
    return args


# -- the fake server, in a child process -------------------------------------------------------


def _serve() -> int:
    from support.fake_api import Call, FakeAPI, Say, serve

    class Scripted(FakeAPI):
        """Answers by the request, not by position: a tool result gets the answer, anything
        else a call of the first tool offered. A variant that failed half-way (or a peer that
        asked one request more) cannot shift the script for the others. Keeps no requests."""

        def next_step(self, body: dict[str, Any], path: str) -> tuple[Any, int]:
            messages = body.get("messages") or []
            last = messages[-1] if messages else {}
            content = last.get("content") if isinstance(last, dict) else None
            answered = last.get("role") == "tool" or (
                isinstance(content, list)
                and any(isinstance(b, dict) and b.get("type") == "tool_result" for b in content)
            )
            if answered:
                return [Say(variants.ANSWER)], 1
            offered = [_tool_name(t) for t in body.get("tools") or []]
            name = next((n for n in variants.SCRIPTED_CALLS if n in offered), None)
            if name is None:
                return [Say(variants.ANSWER)], 1
            return [Call(name, variants.SCRIPTED_CALLS[name])], 0

    with serve([]) as server:
        server.api = server._server.api = Scripted()
        print(server.url, flush=True)
        sys.stdin.read()  # until the parent closes our stdin
    return 0


def _tool_name(tool: dict[str, Any]) -> str:
    function = tool.get("function")
    return str(function.get("name") if isinstance(function, dict) else tool.get("name"))


class Server:
    """The fake server's child process; ``url`` once started."""

    def __enter__(self) -> Server:
        self.proc = subprocess.Popen(
            [sys.executable, __file__, "--serve"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None
        self.url = self.proc.stdout.readline().strip()
        if not self.url.startswith("http://"):
            raise SystemExit("the fake server did not start")
        return self

    def __exit__(self, *exc: object) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


# -- measuring the loops -----------------------------------------------------------------------


async def _measure(names: list[str], url: str, iterations: int, warmup: int) -> dict[str, Any]:
    """Run the variants round-robin (the order rotating each iteration); samples per variant."""
    loops = [loops.build(name, url) for name in names]
    wall: dict[str, list[float]] = {name: [] for name in names}
    cpu: dict[str, list[float]] = {name: [] for name in names}
    try:
        for n in range(warmup + iterations):
            if n == warmup:
                gc.collect()
            shift = n % len(loops)
            for loop in loops[shift:] + loops[:shift]:
                started, cpu_started = time.perf_counter(), time.process_time()
                answer = await loop.run()
                seconds, cpu_seconds = (
                    time.perf_counter() - started,
                    time.process_time() - cpu_started,
                )
                if answer != variants.ANSWER:
                    raise SystemExit(f"{loop.name}: unexpected answer {answer!r}")
                if n >= warmup:
                    wall[loop.name].append(seconds * 1000)
                    cpu[loop.name].append(cpu_seconds * 1000)
    finally:
        for loop in loops:
            await loop.close()
    return {name: _stats(wall[name], cpu[name]) for name in names}


def _stats(wall: list[float], cpu: list[float]) -> dict[str, Any]:
    ordered = sorted(wall)
    return {
        "n": len(wall),
        "median_ms": statistics.median(wall),
        "p95_ms": ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))],
        "mean_ms": statistics.fmean(wall),
        "min_ms": ordered[0],
        "cpu_ms_per_run": sum(cpu) / len(cpu),
        "samples_ms": [round(x, 4) for x in wall],
    }


def _alone(args: argparse.Namespace) -> dict[str, Any]:
    """One variant alone in this process: its timings and the process's peak RSS."""
    if args.only.startswith("morrow"):
        variants.configure_logs(args.logs)
    if args.url:
        stats = asyncio.run(_measure([args.only], args.url, args.iterations, args.warmup))
    else:
        with Server() as server:
            stats = asyncio.run(_measure([args.only], server.url, args.iterations, args.warmup))
    result = stats[args.only]
    result.pop("samples_ms")
    result["peak_rss_mib"] = _peak_rss_mib()
    return result


def _peak_rss_mib() -> float:
    """This process's peak RSS. VmHWM when /proc has it: Linux carries ru_maxrss across exec, so
    a child spawned (vfork + exec) by a bigger parent would report the parent's size instead."""
    status = Path("/proc/self/status")
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _alone_in_child(name: str, url: str, args: argparse.Namespace) -> dict[str, Any]:
    argv = [sys.executable, __file__, "--only", name, "--json", "--url", url]
    argv += ["--iterations", str(args.iterations), "--warmup", str(args.warmup)]
    argv += ["--logs", args.logs]
    done = subprocess.run(argv, check=True, capture_output=True, text=True)
    return dict(json.loads(done.stdout))


def _overhead(stats: dict[str, Any]) -> dict[str, Any]:
    """Each variant against its floor (the raw loop, streamed or not), from the same run."""
    out = {}
    for name, b in stats.items():
        floor = loops.floor_of(name)
        if name == floor:
            continue
        a = stats[floor]
        paired = [m - r for r, m in zip(a["samples_ms"], b["samples_ms"], strict=True)]
        out[name] = {
            "floor": floor,
            "median_diff_ms": b["median_ms"] - a["median_ms"],
            "paired_median_diff_ms": statistics.median(paired),
            "ratio": b["median_ms"] / a["median_ms"],
            "cpu_diff_ms": b["cpu_ms_per_run"] - a["cpu_ms_per_run"],
        }
    return out


def _loops(args: argparse.Namespace) -> dict[str, Any]:
    import breakdown
    import peers

    variants.check_schema()
    variants.configure_logs(args.logs)
    names = loops.all_variants()
    with Server() as server:
        print(f"loops: {len(names)} variants x {args.iterations} runs (+{args.warmup} warm-up)")
        stats = asyncio.run(_measure(names, server.url, args.iterations, args.warmup))
        for name in names:
            print(f"  {name:22} median {stats[name]['median_ms']:.3f} ms; alone (peak RSS) ...")
            stats[name]["alone"] = _alone_in_child(name, server.url, args)
        print("breakdown: morrow's own steps, timed one by one ...")
        costs = breakdown.measure(server.url, args.logs)
    return {
        "iterations": args.iterations,
        "warmup": args.warmup,
        "logs": args.logs,
        "variants": stats,
        "overhead": _overhead(stats),
        "breakdown": costs,
        "peers_missing": [p for p in peers.PEERS if p not in peers.installed()],
    }


# -- everything --------------------------------------------------------------------------------


def _areas(quick: bool) -> dict[str, str]:
    """The per-area benchmarks' own Markdown sections (each also written to bench/results/)."""
    import importlib

    sections = {}
    for area in AREAS:
        print(f"area: {area} ...", flush=True)
        module = importlib.import_module(f"{area}_bench")
        section = str(module.run(quick=quick))
        (BENCH / "results").mkdir(exist_ok=True)
        (BENCH / "results" / f"{area}.md").write_text(section, encoding="utf-8")
        sections[area] = section
    return sections


def _quiet_logs() -> None:
    """The area and growth benchmarks run morrow's code in-process: only warnings on stderr."""
    import logging

    import structlog

    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))


def _full(args: argparse.Namespace) -> int:
    import report

    started, load_before = time.time(), os.getloadavg()
    results: dict[str, Any] = {
        "started": started,
        "command": " ".join(["bench/.venv/bin/python bench/run.py", *(sys.argv[1:] or [])]),
        "quick": args.quick,
        "sections": args.only_sections,
        "machine": report.machine(),
        "packages": report.packages(),
    }
    if "loops" in args.only_sections:
        results["loops"] = _loops(args)
    if "startup" in args.only_sections:
        import startup

        with Server() as server:
            results["startup"] = startup.measure(runs=10 if args.quick else 20, url=server.url)
    if "tokens" in args.only_sections:
        import tokens

        print("tokens ...", flush=True)
        results["tokens"] = tokens.measure()
    _quiet_logs()
    if "growth" in args.only_sections:
        import growth

        results["growth"] = growth.measure(quick=args.quick)
    if "areas" in args.only_sections:
        results["areas"] = _areas(args.quick)
    results["seconds"] = time.time() - started
    results["load_average"] = {"before": list(load_before), "after": list(os.getloadavg())}
    (BENCH / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    (BENCH / "RESULTS.md").write_text(report.markdown(results))
    print(report.summary(results))
    print(f"wrote {BENCH / 'RESULTS.md'} and {BENCH / 'results.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
