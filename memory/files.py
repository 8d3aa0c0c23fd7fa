"""Files written whole or not at all, and locks between processes: one way each, for everyone.

Every file morrow replaces (the .ics calendar, the OAuth token, the config ``morrow init``
writes, briefings and their daily marker, trajectories) goes through :func:`atomic_write`:
the new bytes go to a temporary file in the same folder (so the rename cannot cross a file
system), are flushed to disk (fsync), renamed over the old file (atomic on POSIX: a reader
sees the old file or the new one, never half of one) and the folder is flushed too, so the
rename itself survives a power cut.

Processes that must take turns (two writers of one .ics file, two processes opening the store
or the mail index, two briefings) hold :func:`file_lock`, an exclusive ``flock`` on a lock
file beside what it protects; ``wait=False`` is the busy form: it raises
:class:`LockBusyError` at once instead of waiting. The kernel drops an ``flock`` when its
process dies, so a crash never leaves a stale lock.

Maildir delivery keeps its own write (``tools/email/maildir.py``): the protocol puts the
temporary file in the folder's ``tmp/`` and renames it into ``cur/`` under a name that must
never replace another message, which is not this function's contract.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import secrets
from collections.abc import Iterator
from pathlib import Path


class LockBusyError(Exception):
    """Another process holds the lock (only raised by ``file_lock(..., wait=False)``)."""


def atomic_write(
    path: Path, data: str | bytes, *, mode: int = 0o666, keep_mode: bool = False
) -> None:
    """Replace ``path`` with ``data`` atomically and durably; create its folder if needed.

    Args:
        path: the file to write.
        data: its new content (text is written as UTF-8).
        mode: permissions of a new file, less the umask (``0o600``: private from the start,
            never readable by others, not even briefly).
        keep_mode: when ``path`` exists, give the new file the permissions of the old one.

    A symbolic link is followed: the file it points to is replaced and the link stays (a
    calendar or a config kept in a synced folder and linked from the home stays linked).

    Raises:
        OSError: the folder or the file cannot be written; ``path`` is left as it was.
    """
    if path.is_symlink():
        path = Path(os.path.realpath(path))
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = data.encode("utf-8") if isinstance(data, str) else data
    temp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(payload)
            handle.flush()
            os.fsync(handle.fileno())
        if keep_mode:
            with contextlib.suppress(FileNotFoundError):
                os.chmod(temp, path.stat().st_mode & 0o7777)
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise
    _fsync_folder(path.parent)


def remove_leftovers(path: Path, *, older_than: float = 0.0) -> list[Path]:
    """Delete the temporary files :func:`atomic_write` left beside ``path`` when killed.

    Only names of the form ``.<name>.<8 hex digits>.tmp`` are touched, and only those older
    than ``older_than`` seconds: call it holding the lock the writers of ``path`` hold, and
    every such file is a leftover. Returns what was deleted (a file that cannot be deleted
    is left alone).
    """
    import re
    import time

    pattern = re.compile(re.escape(f".{path.name}.") + r"[0-9a-f]{8}\.tmp")
    removed = []
    try:
        entries = list(os.scandir(path.parent))
    except OSError:
        return []
    for entry in entries:
        if not pattern.fullmatch(entry.name):
            continue
        try:
            if time.time() - entry.stat(follow_symlinks=False).st_mtime >= older_than:
                os.unlink(entry.path)
                removed.append(Path(entry.path))
        except OSError:
            continue
    return removed


def _fsync_folder(folder: Path) -> None:
    directory = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


@contextlib.contextmanager
def file_lock(path: Path, *, wait: bool = True) -> Iterator[None]:
    """Hold an exclusive lock on ``path`` (created if missing) for the ``with`` block.

    Args:
        path: the lock file, beside what it protects (e.g. ``.calendar.ics.lock``).
        wait: block until the lock is free; False raises :class:`LockBusyError` at once.

    Raises:
        LockBusyError: ``wait`` is False and another process holds the lock.
        OSError: the lock file cannot be created.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        flags = fcntl.LOCK_EX if wait else fcntl.LOCK_EX | fcntl.LOCK_NB
        try:
            fcntl.flock(handle, flags)
        except BlockingIOError:
            raise LockBusyError(f"{path} is held by another process") from None
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
