"""``morrow mcp serve``: wall time from exec to the ``initialize`` answer on stdout.

A client launches the server and waits for this answer before anything else. Each run starts
a fresh process on a demo home, writes one ``initialize`` request (protocol 2025-11-25, as
today's desktop clients send) and stops the clock when the answer line arrives. Beside it:
``python -c pass`` (the floor) and ``python -c "import mcp"`` (the SDK alone). Round-robin, two
warm-ups first; the bytecode cache is allowed, as for an installed tool.

    .venv/bin/python bench/mcp_startup.py [RUNS]
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYTHON = str(ROOT / ".venv" / "bin" / "python")
MORROW = str(ROOT / ".venv" / "bin" / "morrow")
REQUEST = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {
        "protocolVersion": "2025-11-25",
        "capabilities": {"elicitation": {}},
        "clientInfo": {"name": "bench", "version": "1"},
    },
}


def time_initialize(home: Path, env: dict[str, str]) -> float:
    started = time.perf_counter()
    process = subprocess.Popen(
        [MORROW, "mcp", "serve"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env=env,
        cwd=home,
        text=True,
    )
    assert process.stdin is not None and process.stdout is not None
    process.stdin.write(json.dumps(REQUEST) + "\n")
    process.stdin.flush()
    line = process.stdout.readline()
    elapsed = time.perf_counter() - started
    assert json.loads(line)["result"]["serverInfo"]["name"] == "morrow", line
    process.stdin.close()
    process.wait(timeout=30)
    return elapsed


def time_command(argv: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    subprocess.run(argv, check=True, env=env)
    return time.perf_counter() - started


def main(runs: int) -> None:
    home = Path(tempfile.mkdtemp(prefix="morrow-bench-mcp-"))
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["MORROW_HOME"] = str(home)
    subprocess.run(
        [PYTHON, "-m", "morrow.tools.demo", str(home)],
        check=True,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    cases = {
        "python -c pass": lambda: time_command([PYTHON, "-c", "pass"], env),
        "python -c 'import mcp'": lambda: time_command([PYTHON, "-c", "import mcp"], env),
        "morrow mcp serve (to initialize)": lambda: time_initialize(home, env),
    }
    times: dict[str, list[float]] = {name: [] for name in cases}
    for index in range(runs + 2):
        for name, case in cases.items():
            elapsed = case()
            if index >= 2:
                times[name].append(elapsed * 1000)
    shutil.rmtree(home, ignore_errors=True)
    print(f"{'':36} {'median':>8} {'min':>8} {'max':>8}  (ms, {runs} runs)")
    for name, values in times.items():
        print(f"{name:36} {statistics.median(values):8.0f} {min(values):8.0f} {max(values):8.0f}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 10)
