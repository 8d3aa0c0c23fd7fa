"""The store's SQLite connection: opening, migrating, sharing between threads, transactions.

Settings, and why:

- WAL journal: readers never block the writer, so the REPL can load a session while the cron
  briefing writes its own.
- ``synchronous=FULL``: a committed turn survives a power cut, not only a crash.
- a busy timeout (30 s) and ``BEGIN IMMEDIATE`` for every write: a writer takes the write lock
  when its transaction starts, so two writers queue instead of failing with SQLITE_BUSY halfway
  through (which is what a deferred transaction upgraded to a write does).
- ``secure_delete``: purged conversations are overwritten on disk, not just unlinked from the
  b-tree; the file is created with mode 0600.

:class:`Database` is the plumbing; :class:`~morrow.memory.store.Store` adds what is stored.
"""

from __future__ import annotations

import errno
import os
import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Self

from morrow.memory.errors import MemoryStoreError, StoreUnwritable
from morrow.memory.files import file_lock
from morrow.memory.legacy import import_legacy
from morrow.memory.migrations import SchemaTooNewError, migrate

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    """The current time, timezone-aware, in UTC."""
    return datetime.now(UTC)


class Database:
    """The process's one connection to the store; open it with :meth:`open`, close it once.

    One connection is shared by every thread of the process: tools run in worker threads
    (``asyncio.to_thread``) while the event loop's thread saves turns and journals effects. It
    is opened with ``check_same_thread=False`` and every use holds one re-entrant lock, for a
    statement or for a whole transaction (:meth:`write`), because a connection has a single
    transaction: without the lock, another thread's statement would land inside it. Why not a
    pool: SQLite lets one writer in at a time anyway, the statements are short (milliseconds),
    and one connection sees its own writes at once and is migrated once. Other processes (a
    cron briefing beside the REPL) have their own connection; WAL and ``BEGIN IMMEDIATE``
    order them.
    """

    def __init__(self, db: sqlite3.Connection, path: Path, clock: Clock) -> None:
        self._db = db
        self._lock = threading.RLock()
        self.path = path
        self.clock = clock

    @classmethod
    def open(
        cls,
        path: Path | str,
        *,
        timeout: float = 30.0,
        clock: Clock = utc_now,
        legacy_state: Path | None = None,
    ) -> Self:
        """Open (creating and migrating when needed) the store at ``path``.

        Args:
            path: the database file (``<home>/morrow.sqlite``).
            timeout: how long to wait for another process's write lock, in seconds.
            clock: "now" for the times the store writes.
            legacy_state: ``<home>/state``, where earlier versions kept the usage ledger,
                provider health and undo state as files; they are moved into the store
                (``memory/legacy.py``).

        Raises:
            MemoryStoreError: the file is not a usable store, or stayed locked past ``timeout``.
        """
        path = Path(path)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            if not path.exists():
                os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
            db = sqlite3.connect(
                path, timeout=timeout, isolation_level=None, check_same_thread=False
            )
        except (OSError, sqlite3.Error) as exc:
            raise _open_error(path, exc) from None
        try:
            # switching a fresh file to WAL needs an exclusive lock that SQLite's busy handler
            # does not always wait for; processes opening at once take turns here instead
            with file_lock(path.with_name(path.name + ".lock")):
                _configure(db)
                migrate(db)
                if legacy_state is not None:
                    import_legacy(db, legacy_state)
        except (sqlite3.Error, SchemaTooNewError, OSError) as exc:
            db.close()
            if _unwritable(exc):
                raise _open_error(path, exc) from None
            raise MemoryStoreError(f"{path}: {_explain(exc)}") from None
        return cls(db, path, clock)

    @classmethod
    def in_memory(cls, *, clock: Clock = utc_now) -> Self:
        """A private store that lives in memory only (a backend built without the home's)."""
        db = sqlite3.connect(":memory:", isolation_level=None, check_same_thread=False)
        db.execute("PRAGMA foreign_keys = ON")
        migrate(db)
        return cls(db, Path(":memory:"), clock)

    def close(self) -> None:
        """Close the connection (idempotent)."""
        with self._lock:
            self._db.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- transactions, for this floor's modules ---------------------------------------------

    @contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """An immediate (write-locked) transaction: committed on success, rolled back on error.

        The calling thread has the connection to itself until the transaction ends. SQLite
        errors, also those of the caller's statements, become :class:`MemoryStoreError`.
        """
        with self._lock:
            try:
                self._db.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as exc:
                raise MemoryStoreError(f"{self.path}: {_explain(exc)}") from None
            try:
                yield self._db
            except sqlite3.Error as exc:  # in a statement of the caller's: said the same way
                self._db.execute("ROLLBACK")
                raise MemoryStoreError(f"{self.path}: {_explain(exc)}") from None
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            try:
                self._db.execute("COMMIT")
            except sqlite3.Error as exc:
                self._db.execute("ROLLBACK")
                raise MemoryStoreError(f"{self.path}: {_explain(exc)}") from None

    def rows(self, sql: str, params: tuple[Any, ...] = ()) -> list[sqlite3.Row]:
        """Run a read query; sqlite errors become :class:`MemoryStoreError`."""
        with self._lock:
            try:
                cursor = self._db.execute(sql, params)
                cursor.row_factory = sqlite3.Row
                return list(cursor)
            except sqlite3.Error as exc:
                raise MemoryStoreError(f"{self.path}: {_explain(exc)}") from None

    def now(self) -> str:
        """The clock's time as stored (ISO 8601, UTC)."""
        return self.clock().astimezone(UTC).isoformat()

    def _tuples(self, sql: str, params: tuple[Any, ...]) -> list[tuple[Any, ...]]:
        """Like :meth:`rows`, as plain tuples (cheaper for thousands of rows)."""
        with self._lock:
            try:
                return list(self._db.execute(sql, params))
            except sqlite3.Error as exc:
                raise MemoryStoreError(f"{self.path}: {_explain(exc)}") from None

    def compact(self) -> None:
        """Make deleted rows unreadable on disk: VACUUM, then truncate the WAL.

        ``secure_delete`` has zeroed the freed pages already; VACUUM rewrites the file without
        them and the checkpoint empties the WAL, which still held the deleted text.

        Raises:
            MemoryStoreError: the file could not be compacted (the rows are deleted already).
        """
        with self._lock:
            try:
                self._db.execute("VACUUM")
                self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            except sqlite3.Error as exc:
                raise MemoryStoreError(
                    f"{self.path}: deleted, but could not compact: {exc}"
                ) from None

    def integrity(self) -> str:
        """``PRAGMA integrity_check``: ``"ok"`` or the problems found."""
        return "\n".join(str(row[0]) for row in self.rows("PRAGMA integrity_check"))


def _configure(db: sqlite3.Connection) -> None:
    mode = db.execute("PRAGMA journal_mode = WAL").fetchone()[0]
    if str(mode).lower() != "wal":
        raise sqlite3.OperationalError(f"cannot switch to WAL (journal mode is {mode})")
    db.execute("PRAGMA synchronous = FULL")
    db.execute("PRAGMA foreign_keys = ON")
    db.execute("PRAGMA secure_delete = ON")


def _unwritable(exc: BaseException) -> bool:
    """Whether ``exc`` says the store's folder cannot be written (not a fault of the store)."""
    if isinstance(exc, OSError):
        return exc.errno in (errno.EROFS, errno.EACCES, errno.EPERM)
    text = str(exc)
    return "readonly database" in text or "unable to open database file" in text


def _open_error(path: Path, exc: BaseException) -> MemoryStoreError:
    reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
    if _unwritable(exc):
        return StoreUnwritable(
            f"{path}: cannot open the store ({reason}): morrow keeps its sessions and effect "
            f"journal in the home, which must be writable"
        )
    return MemoryStoreError(f"{path}: cannot open the store: {reason}")


def _explain(exc: BaseException) -> str:
    text = str(exc)
    if "locked" in text or "busy" in text:
        return f"the store stayed locked by another morrow process ({text})"
    if "not a database" in text or "malformed" in text:
        return f"not a morrow store, or damaged ({text})"
    return text
