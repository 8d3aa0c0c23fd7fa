"""A real CalDAV server for tests: Radicale in its own process, stopped by its PID.

The test binds a socket on 127.0.0.1 (port 0: the kernel picks a free one), listens, and hands
it to the server process (:mod:`support.radicale_server`): no port is guessed, and a client may
connect at once (the kernel queues it until the server accepts), so nothing waits or polls.
"""

from __future__ import annotations

import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from support.mail_servers import stop_process

SERVER = Path(__file__).with_name("radicale_server.py")


@contextmanager
def run_radicale(folder: Path) -> Iterator[str]:
    """Radicale with no authentication and its collections under ``folder``; yields its URL."""
    config = folder / "radicale.conf"
    config.write_text(
        "[auth]\ntype = none\ndelay = 0\n"  # no penalty delay after the 401 challenge
        f"[storage]\nfilesystem_folder = {folder / 'collections'}\n"
        "[logging]\nlevel = warning\n"
    )
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(64)
        process = subprocess.Popen(
            [sys.executable, str(SERVER), str(listener.fileno()), str(config)],
            pass_fds=(listener.fileno(),),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            yield f"http://127.0.0.1:{listener.getsockname()[1]}/"
        finally:
            stop_process(process)
