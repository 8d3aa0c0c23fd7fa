"""morrow's client-side overhead per turn against a raw openai SDK loop, and its start-up time.

    .venv/bin/python bench/run.py            # full run (300 iterations), writes bench/RESULTS.md
    .venv/bin/python bench/run.py --quick    # 50 iterations

The fake model server runs in a child process (so its CPU and memory are not counted against
the client); the four loops run interleaved in this process; each loop then runs alone in a
child process for its peak RSS. See bench/README.md.
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
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT))

import variants  # noqa: E402  (bench/ is on sys.path: this file runs as a script)

SCRIPT_TEXT = "It is sunny in Paris."


def main(argv: list[str] | None = None) -> int:
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
    parser.add_argument("--quick", action="store_true", help="50 iterations instead of 300")
    parser.add_argument("--iterations", type=int, help="runs per variant")
    parser.add_argument("--warmup", type=int, help="warm-up runs per variant")
    parser.add_argument(
        "--logs",
        choices=("file", "off"),
        default="file",
        help="morrow's logging: as `morrow ask` sets it up (file, the default) or off",
    )
    parser.add_argument("--only", choices=variants.VARIANTS, help="run one variant alone")
    parser.add_argument("--url", help="with --only/--profile: a running fake server")
    parser.add_argument("--json", action="store_true", help="with --only: print JSON (default)")
    parser.add_argument("--profile", choices=variants.VARIANTS, help="cProfile one variant")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    args.iterations = args.iterations or (50 if args.quick else 300)
    args.warmup = args.warmup if args.warmup is not None else (10 if args.quick else 30)
    return args


# -- the fake server, in a child process -------------------------------------------------------


def _serve() -> int:
    from support import fake_api
    from support.fake_api import Call, Say, serve

    # The handler writes headers and body in two sends; with Nagle on, each response then waits
    # for the client's delayed ACK (~40 ms on Linux), which would swamp everything measured here.
    fake_api._Handler.disable_nagle_algorithm = True
    script = [[Call("get_weather", {"city": "Paris"})], [Say(SCRIPT_TEXT)]]
    with serve(script, repeat=True) as server:
        print(server.url, flush=True)
        sys.stdin.read()  # until the parent closes our stdin
    return 0


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


# -- measuring ---------------------------------------------------------------------------------


async def _measure(names: list[str], url: str, iterations: int, warmup: int) -> dict[str, Any]:
    """Run the variants round-robin (the order rotating each iteration); samples per variant."""
    loops = [variants.build(name, url) for name in names]
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
                if answer != SCRIPT_TEXT:
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


def _overhead(stats: dict[str, Any], floor: str, morrow: str) -> dict[str, Any]:
    a, b = stats[floor], stats[morrow]
    paired = [m - r for r, m in zip(a["samples_ms"], b["samples_ms"], strict=True)]
    return {
        "median_diff_ms": b["median_ms"] - a["median_ms"],
        "paired_median_diff_ms": statistics.median(paired),
        "ratio": b["median_ms"] / a["median_ms"],
        "cpu_diff_ms": b["cpu_ms_per_run"] - a["cpu_ms_per_run"],
    }


def _full(args: argparse.Namespace) -> int:
    import breakdown
    import report
    import startup

    variants.check_schema()
    variants.configure_logs(args.logs)
    names = list(variants.VARIANTS)
    started, load_before = time.time(), os.getloadavg()[0]
    with Server() as server:
        print(f"loops: {len(names)} variants x {args.iterations} runs (+{args.warmup} warm-up)")
        stats = asyncio.run(_measure(names, server.url, args.iterations, args.warmup))
        for name in names:
            print(f"  {name:14} median {stats[name]['median_ms']:.3f} ms")
            print(f"  {name:14} alone in a child process (peak RSS) ...")
            stats[name]["alone"] = _alone_in_child(name, server.url, args)
        print("breakdown: morrow's own steps, timed one by one ...")
        costs = breakdown.measure(server.url, args.logs)
    print("start-up: 20 runs of each command (+2 warm-up) ...")
    boot = startup.measure(runs=20)
    results = {
        "started": started,
        "seconds": time.time() - started,
        "load_average": [load_before, os.getloadavg()[0]],
        "command": " ".join(["python", "bench/run.py", *(sys.argv[1:] or [])]),
        "iterations": args.iterations,
        "warmup": args.warmup,
        "logs": args.logs,
        "loops": stats,
        "overhead": {
            "non-streamed": _overhead(stats, "raw", "morrow"),
            "streamed": _overhead(stats, "raw-stream", "morrow-stream"),
        },
        "startup": boot,
        "breakdown": costs,
        "machine": report.machine(),
        "packages": report.packages(),
    }
    (BENCH / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    (BENCH / "RESULTS.md").write_text(report.markdown(results))
    print(report.summary(results))
    print(f"wrote {BENCH / 'RESULTS.md'} and {BENCH / 'results.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
