"""Processes for tests of what a killed run leaves behind."""

from __future__ import annotations

import os


def dead_pid() -> int:
    """The id of a process that has ended (a fork that exited at once, and was reaped)."""
    pid = os.fork()
    if pid == 0:
        os._exit(0)
    os.waitpid(pid, 0)
    return pid
