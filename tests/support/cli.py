"""Running ``morrow`` in tests: as a separate process (as cron or a shell runs it) or in-process.

:func:`morrow` starts a real process (``python -m morrow.agent.cli``) with a clean environment:
no API key of the developer's, ``MORROW_HOME`` set. Use it where the process is the point
(exit codes seen by a shell, signals, what a fresh interpreter imports, stdin/stdout pipes).

:func:`run` calls the same ``main()`` in this process and captures what it prints: about a
hundred times cheaper than starting an interpreter, and what most CLI tests need.
"""

from __future__ import annotations

import contextlib
import io
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from morrow.agent.cli import main


def clean_environment(home: Path | None, extra: dict[str, str] | None = None) -> dict[str, str]:
    """This process's environment without API keys, with ``MORROW_HOME`` at ``home``."""
    env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}
    if home is not None:
        env["MORROW_HOME"] = str(home)
    env.update(extra or {})
    return env


def morrow(
    home: Path | None,
    *args: str,
    env: dict[str, str] | None = None,
    stdin: str | None = None,
    timeout: float = 120,
) -> subprocess.CompletedProcess[str]:
    """``morrow ARGS`` as a separate process over ``home``; never raises on a failing exit."""
    return subprocess.run(
        [sys.executable, "-m", "morrow.agent.cli", *args],
        capture_output=True,
        text=True,
        env=clean_environment(home, env),
        timeout=timeout,
        check=False,
        # no input: /dev/null, not this process's stdin (ask reads a piped stdin)
        **({"input": stdin} if stdin is not None else {"stdin": subprocess.DEVNULL}),
    )


@dataclass(frozen=True)
class Ran:
    """What an in-process run printed and returned (the fields of a CompletedProcess)."""

    returncode: int
    stdout: str
    stderr: str


def run(home: Path | None, *args: str) -> Ran:
    """``morrow ARGS`` in this process (``main()``), over ``home``, its output captured."""
    out, err = io.StringIO(), io.StringIO()
    argv = ["--home", str(home), *args] if home is not None else list(args)
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(argv)
        except SystemExit as exit:  # argparse's usage errors
            code = exit.code if isinstance(exit.code, int) else 2
    return Ran(code, out.getvalue(), err.getvalue())
