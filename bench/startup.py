"""Start-up: wall time of ``morrow --help`` against ``import agent.cli`` and a bare interpreter."""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BIN = ROOT / ".venv" / "bin"


def commands() -> dict[str, list[str]]:
    python = str(BIN / "python") if (BIN / "python").exists() else sys.executable
    return {
        "python -c pass": [python, "-c", "pass"],
        "python -c 'import agent.cli'": [python, "-c", "import agent.cli"],
        "morrow --help": [str(BIN / "morrow"), "--help"],
    }


def _env() -> dict[str, str]:
    # A throwaway home, so --help can touch nothing of the user's.
    return {**os.environ, "MORROW_HOME": tempfile.mkdtemp(prefix="morrow-bench-home-")}


def time_commands(argvs: dict[str, list[str]], runs: int, warmups: int = 2) -> dict[str, Any]:
    """Median, p95 and min wall time (ms) of each command, run round-robin after ``warmups``."""
    env = _env()
    samples: dict[str, list[float]] = {label: [] for label in argvs}
    for n in range(warmups + runs):
        for label, argv in argvs.items():
            started = time.perf_counter()
            subprocess.run(argv, env=env, check=True, stdout=subprocess.DEVNULL, cwd=ROOT)
            if n >= warmups:
                samples[label].append((time.perf_counter() - started) * 1000)
    return {label: _summary(sorted(values)) for label, values in samples.items()}


def _summary(ordered: list[float]) -> dict[str, Any]:
    return {
        "median_ms": statistics.median(ordered),
        "p95_ms": ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))],
        "min_ms": ordered[0],
        "runs": len(ordered),
    }


def import_times(argv: list[str], top: int = 10) -> list[dict[str, Any]]:
    """Top-level imports (and their direct imports) of a command, slowest first."""
    done = subprocess.run(
        argv,
        env={**_env(), "PYTHONPROFILEIMPORTTIME": "1"},
        check=True,
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    rows = []
    for line in done.stderr.splitlines():
        if not line.startswith("import time:") or "cumulative" in line:
            continue
        fields = line[len("import time:") :].split("|")
        own, cumulative, name = int(fields[0]), int(fields[1]), fields[2]
        depth = (len(name) - len(name.lstrip(" ")) - 1) // 2
        if depth > 1:
            continue
        rows.append({"module": name.strip(), "depth": depth, "self_us": own, "cum_us": cumulative})
    rows.sort(key=lambda r: r["cum_us"], reverse=True)
    return rows[:top]


def measure(runs: int) -> dict[str, Any]:
    """Every start-up figure, keyed by command."""
    return {
        "commands": time_commands(commands(), runs),
        "import_time_top": import_times(commands()["python -c 'import agent.cli'"]),
        "import_time_help": import_times(commands()["morrow --help"]),
    }
