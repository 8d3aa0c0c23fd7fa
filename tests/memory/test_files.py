"""The one atomic write and the one lock: whole files or none, private when asked, busy at once."""

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from morrow.memory.files import LockBusyError, atomic_write, file_lock


def test_a_write_replaces_the_file_whole_and_leaves_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "new" / "folder" / "notes.txt"  # the folder is created
    atomic_write(target, "first")
    atomic_write(target, "second, longer than the first")
    assert target.read_text() == "second, longer than the first"
    assert sorted(p.name for p in target.parent.iterdir()) == ["notes.txt"]
    atomic_write(target, b"\x00bytes too")
    assert target.read_bytes() == b"\x00bytes too"


def test_a_link_is_followed_and_stays_a_link(tmp_path: Path) -> None:
    synced = tmp_path / "synced" / "calendar.ics"
    synced.parent.mkdir()
    synced.write_text("old")
    link = tmp_path / "home" / "calendar.ics"
    link.symlink_to(synced)
    atomic_write(link, "new")
    assert link.is_symlink() and synced.read_text() == "new"


def test_modes_private_from_the_start_or_kept(tmp_path: Path) -> None:
    token = tmp_path / "token.json"
    atomic_write(token, "{}", mode=0o600)
    assert stat.S_IMODE(token.stat().st_mode) == 0o600
    calendar = tmp_path / "calendar.ics"
    calendar.write_text("old")
    calendar.chmod(0o640)
    atomic_write(calendar, "new", mode=0o600, keep_mode=True)
    assert stat.S_IMODE(calendar.stat().st_mode) == 0o640


def test_a_failed_write_keeps_the_old_file_and_cleans_up(tmp_path: Path, monkeypatch) -> None:
    target = tmp_path / "briefings" / "briefing.md"
    target.parent.mkdir()
    target.write_text("yesterday's")

    def full_disk(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", full_disk)
    with pytest.raises(OSError, match="No space left"):
        atomic_write(target, "today's")
    assert target.read_text() == "yesterday's"
    assert [p.name for p in target.parent.iterdir()] == ["briefing.md"]


def test_the_busy_form_refuses_at_once_while_another_holder_has_it(tmp_path: Path) -> None:
    lock = tmp_path / "state" / "brief.lock"
    with file_lock(lock):
        with pytest.raises(LockBusyError, match=r"brief\.lock"), file_lock(lock, wait=False):
            pass  # pragma: no cover - never entered
    with file_lock(lock, wait=False):  # released: free again
        pass


HOLDER = """
import sys
from pathlib import Path
from morrow.memory.files import file_lock
with file_lock(Path(sys.argv[1])):
    print("held", flush=True)
    sys.stdin.readline()
"""


def test_the_lock_holds_across_processes_and_the_waiting_form_waits(tmp_path: Path) -> None:
    lock = tmp_path / "x.lock"
    with subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(lock)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).parents[2],
    ) as holder:
        assert holder.stdout is not None and holder.stdout.readline() == "held\n"
        with pytest.raises(LockBusyError), file_lock(lock, wait=False):
            pass  # pragma: no cover - never entered
        assert holder.stdin is not None
        holder.stdin.write("\n")
        holder.stdin.flush()
        with file_lock(lock):  # blocks until the holder has let go, then has it
            assert holder.wait(timeout=60) == 0
