"""Start-up: wall time of whole ``morrow`` processes, from exec to exit, and what they import.

Commands (run round-robin, 2 warm-ups first):

- ``python -c pass``: the floor no Python command can beat;
- ``morrow --help``;
- ``morrow brief --force`` with no model configured, on the demo workspace (tools.demo);
- ``morrow ask --new "..."`` against the fake server (one tool call, then the answer): the whole
  cost of a one-shot question, model round trips included (they take well under 1 ms here);
- ``morrow mcp serve``, from exec to its answer to ``initialize`` on stdout (what an MCP client
  waits for), and ``python -c "import mcp"`` beside it: the SDK's own import.

``morrow`` is the project's own install (``.venv/bin/morrow``), as a user runs it. Python's
bytecode cache is allowed for these runs (this environment sets PYTHONDONTWRITEBYTECODE, which
no installed tool runs with): without it every process compiles morrow's modules again.
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
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BIN = ROOT / ".venv" / "bin"
AIM_HELP_MS = 120.0
AIM_BRIEF_MS = 400.0
SDKS = ("anthropic", "openai", "googleapiclient", "httpx2")


def _python() -> str:
    return str(BIN / "python") if (BIN / "python").exists() else sys.executable


def _morrow() -> str:
    return str(BIN / "morrow") if (BIN / "morrow").exists() else "morrow"


def demo_home(url: str | None) -> Path:
    """A home with the demo workspace; with ``url``, a provider at the fake server as well."""
    home = Path(tempfile.mkdtemp(prefix="morrow-bench-home-"))
    subprocess.run(
        [_python(), "-m", "morrow.tools.demo", str(home)],
        check=True,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        env={**os.environ, "MORROW_HOME": str(home)},
    )
    if url:
        with (home / "config.toml").open("a", encoding="utf-8") as config:
            config.write(
                "\n[[providers]]\n"
                'name = "local"\nkind = "openai"\nmodel = "bench-model"\n'
                f'base_url = {json.dumps(url + "/v1")}\napi_key_env = "MORROW_BENCH_KEY"\n'
            )
    return home


def _env(home: Path) -> dict[str, str]:
    env = {**os.environ, "MORROW_HOME": str(home), "MORROW_BENCH_KEY": "x"}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def commands(url: str | None) -> dict[str, tuple[list[str], Path]]:
    """Label -> (argv, home) of each command timed."""
    brief_home = demo_home(None)
    ask_home = demo_home(url) if url else None
    found = {
        "python -c pass": ([_python(), "-c", "pass"], brief_home),
        "morrow --help": ([_morrow(), "--help"], brief_home),
        "morrow brief (no model, demo workspace)": ([_morrow(), "brief", "--force"], brief_home),
    }
    if ask_home is not None:
        argv = [_morrow(), "ask", "--new", "What is on my calendar tomorrow?"]
        found["morrow ask (fake server, one tool call)"] = (argv, ask_home)
    found['python -c "import mcp" (the SDK alone)'] = ([_python(), "-c", "import mcp"], brief_home)
    found[MCP_LABEL] = ([_morrow(), "mcp", "serve"], brief_home)
    return found


MCP_LABEL = "morrow mcp serve (to initialize answered)"
INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {
        "protocolVersion": "2025-11-25",
        "capabilities": {"elicitation": {}},
        "clientInfo": {"name": "bench", "version": "1"},
    },
}


def time_initialize(home: Path) -> float:
    """Milliseconds from exec of ``morrow mcp serve`` to the ``initialize`` answer."""
    started = time.perf_counter()
    process = subprocess.Popen(
        [_morrow(), "mcp", "serve"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env=_env(home),
        cwd=home,
        text=True,
    )
    assert process.stdin is not None and process.stdout is not None
    process.stdin.write(json.dumps(INITIALIZE) + "\n")
    process.stdin.flush()
    line = process.stdout.readline()
    elapsed = (time.perf_counter() - started) * 1000
    assert json.loads(line)["result"]["serverInfo"]["name"] == "morrow", line
    process.stdin.close()  # EOF: the server ends
    process.wait(timeout=60)
    return elapsed


def time_commands(argvs: dict[str, tuple[list[str], Path]], runs: int) -> dict[str, Any]:
    """Median, p95 and min wall time (ms) of each command, run round-robin after 2 warm-ups."""
    samples: dict[str, list[float]] = {label: [] for label in argvs}
    for n in range(2 + runs):
        for label, (argv, home) in argvs.items():
            if label == MCP_LABEL:
                elapsed = time_initialize(home)
                samples[label] += [elapsed] if n >= 2 else []
                continue
            started = time.perf_counter()
            subprocess.run(
                argv,
                env=_env(home),
                check=True,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,  # `ask` prints its session id and warnings there
                cwd=home,
            )
            if n >= 2:
                samples[label].append((time.perf_counter() - started) * 1000)
    return {label: _summary(sorted(values)) for label, values in samples.items()}


def _summary(ordered: list[float]) -> dict[str, Any]:
    return {
        "median_ms": statistics.median(ordered),
        "p95_ms": ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))],
        "min_ms": ordered[0],
        "runs": len(ordered),
    }


def imports(argv: list[str], home: Path, top: int = 8) -> dict[str, Any]:
    """What a command imports (``-X importtime``): the slowest top-level imports, the total, and
    whether any provider SDK was among them."""
    python = [_python(), "-X", "importtime", "-c", "import sys; from morrow.agent.cli import main; "
              "sys.exit(main(sys.argv[1:]))", *argv[1:]]  # fmt: skip
    request = json.dumps(INITIALIZE) + "\n" if argv[1:3] == ["mcp", "serve"] else None
    done = subprocess.run(
        python, env=_env(home), capture_output=True, text=True, cwd=home, check=True, input=request
    )
    rows, loaded = [], set()
    for line in done.stderr.splitlines():
        if not line.startswith("import time:") or "cumulative" in line:
            continue
        _own, cumulative, name = line[len("import time:") :].split("|")
        loaded.add(name.strip().split(".")[0])
        if (len(name) - len(name.lstrip(" ")) - 1) // 2 == 0:
            rows.append({"module": name.strip(), "cum_us": int(cumulative)})
    rows.sort(key=lambda r: r["cum_us"], reverse=True)
    return {
        "top": rows[:top],
        "total_ms": sum(r["cum_us"] for r in rows) / 1000,
        "sdks": sorted(loaded & set(SDKS)),
    }


def measure(runs: int, url: str | None = None) -> dict[str, Any]:
    """Every start-up figure."""
    print(f"start-up: {runs} runs of each command (+2 warm-up) ...", flush=True)
    argvs = commands(url)
    try:
        return {
            "commands": time_commands(argvs, runs),
            "imports": {
                label: imports(argv, home)
                for label, (argv, home) in argvs.items()
                if label.startswith("morrow")
            },
        }
    finally:
        for home in {home for _, home in argvs.values()}:
            shutil.rmtree(home, ignore_errors=True)
