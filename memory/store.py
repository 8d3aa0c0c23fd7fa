"""The conversation store: one SQLite file under the home (``<home>/morrow.sqlite``).

Settings, and why:

- WAL journal: readers never block the writer, so the REPL can load a session while the cron
  briefing writes its own.
- ``synchronous=FULL``: a committed turn survives a power cut, not only a crash.
- a busy timeout (30 s) and ``BEGIN IMMEDIATE`` for every write: a writer takes the write lock
  when its transaction starts, so two writers queue instead of failing with SQLITE_BUSY halfway
  through (which is what a deferred transaction upgraded to a write does).
- ``secure_delete``: purged conversations are overwritten on disk, not just unlinked from the
  b-tree; the file is created with mode 0600.

A turn's messages are written in one transaction when the turn ends (:meth:`Store.save_turn`),
so a crash loses at most the turn in flight and never leaves a tool call without its result.
Messages are the JSON documents ``agent`` writes; this floor never interprets them.
"""

from __future__ import annotations

import os
import re
import secrets
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from morrow.memory.errors import MemoryStoreError, SessionExistsError
from morrow.memory.migrations import SchemaTooNewError, migrate
from morrow.memory.records import (
    Purged,
    Resumed,
    SessionInfo,
    StoredMessage,
    StoredSummary,
    TurnRecord,
    UsageRecord,
    UserText,
)

FILE_NAME = "morrow.sqlite"
SESSION_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
Clock = Callable[[], datetime]


def utc_now() -> datetime:
    """The current time, timezone-aware, in UTC."""
    return datetime.now(UTC)


def check_session_id(value: str) -> str:
    """Return ``value`` if it is a valid session id, else raise ValueError saying why."""
    if not SESSION_ID.fullmatch(value):
        raise ValueError(
            f"invalid session id {value!r}: use 1 to 64 letters, digits, '.', '_' or '-', "
            "starting with a letter or digit"
        )
    return value


class Store:
    """A connection to the store; open it with :meth:`open`, close it (or use ``with``)."""

    def __init__(self, db: sqlite3.Connection, path: Path, clock: Clock) -> None:
        self._db = db
        self.path = path
        self.clock = clock

    @classmethod
    def open(cls, path: Path | str, *, timeout: float = 30.0, clock: Clock = utc_now) -> Store:
        """Open (creating and migrating when needed) the store at ``path``.

        Raises:
            MemoryStoreError: the file is not a usable store, or stayed locked past ``timeout``.
        """
        path = Path(path)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            if not path.exists():
                os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
            db = sqlite3.connect(path, timeout=timeout, isolation_level=None)
        except (OSError, sqlite3.Error) as exc:
            raise MemoryStoreError(f"{path}: cannot open the store: {exc}") from None
        try:
            # switching a fresh file to WAL needs an exclusive lock that SQLite's busy handler
            # does not always wait for; processes opening at once take turns here instead
            with _opening_lock(path):
                _configure(db)
                migrate(db)
        except (sqlite3.Error, SchemaTooNewError, OSError) as exc:
            db.close()
            raise MemoryStoreError(f"{path}: {_explain(exc)}") from None
        return cls(db, path, clock)

    def close(self) -> None:
        """Close the connection (idempotent)."""
        self._db.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- transactions, for this floor's modules ---------------------------------------------

    @contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """An immediate (write-locked) transaction: committed on success, rolled back on error."""
        try:
            self._db.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            raise MemoryStoreError(f"{self.path}: {_explain(exc)}") from None
        try:
            yield self._db
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
        try:
            cursor = self._db.execute(sql, params)
            cursor.row_factory = sqlite3.Row
            return list(cursor)
        except sqlite3.Error as exc:
            raise MemoryStoreError(f"{self.path}: {_explain(exc)}") from None

    def now(self) -> str:
        """The clock's time as stored (ISO 8601, UTC)."""
        return self.clock().astimezone(UTC).isoformat()

    # -- sessions ------------------------------------------------------------------------------

    def new_session_id(self) -> str:
        """A fresh, sortable id such as ``20260304-101500-3fa2``."""
        return f"{self.clock().astimezone(UTC):%Y%m%d-%H%M%S}-{secrets.token_hex(2)}"

    def create_session(self, session_id: str | None = None) -> SessionInfo:
        """Start a session (with a fresh id unless one is given).

        Raises:
            SessionExistsError: ``session_id`` is taken.
        """
        session_id = check_session_id(session_id) if session_id else self.new_session_id()
        with self.write() as db:
            now = self.now()
            inserted = db.execute(
                "INSERT OR IGNORE INTO sessions (id, created, updated) VALUES (?, ?, ?)",
                (session_id, now, now),
            ).rowcount
        if not inserted:
            raise SessionExistsError(f"a session with id {session_id!r} already exists")
        return self._require(session_id)

    def open_session(self, session_id: str) -> tuple[SessionInfo, bool]:
        """The session ``session_id``, created when missing; also says whether it was created."""
        check_session_id(session_id)
        with self.write() as db:
            now = self.now()
            created = db.execute(
                "INSERT OR IGNORE INTO sessions (id, created, updated) VALUES (?, ?, ?)",
                (session_id, now, now),
            ).rowcount
        return self._require(session_id), bool(created)

    def session(self, session_id: str) -> SessionInfo | None:
        """The session ``session_id``, or None."""
        found = self.sessions(where="WHERE s.id = ?", params=(session_id,))
        return found[0] if found else None

    def sessions(self, *, where: str = "", params: tuple[Any, ...] = ()) -> list[SessionInfo]:
        """Every session (or those ``where`` selects), most recently updated first."""
        rows = self.rows(
            "SELECT s.*, (SELECT count(*) FROM turns t WHERE t.session_id = s.id) AS turns, "
            "(SELECT count(*) FROM messages m WHERE m.session_id = s.id) AS messages "
            f"FROM sessions s {where} ORDER BY s.updated DESC, s.id",
            params,
        )
        return [SessionInfo.from_row(row) for row in rows]

    def _require(self, session_id: str) -> SessionInfo:
        info = self.session(session_id)
        if info is None:  # purged between our write and this read
            raise MemoryStoreError(f"session {session_id!r} disappeared while being opened")
        return info

    # -- turns -----------------------------------------------------------------------------------

    def resume(self, session_id: str) -> Resumed:
        """The latest summary of a session and the outline of every message after it."""
        summaries = self.rows(
            "SELECT up_to_seq, text, model, created FROM summaries WHERE session_id = ? "
            "ORDER BY up_to_seq DESC, id DESC LIMIT 1",
            (session_id,),
        )
        summary = StoredSummary.from_row(summaries[0]) if summaries else None
        after = summary.up_to_seq if summary else 0
        try:
            cursor = self._db.execute(
                "SELECT seq, turn_id, role, chars, tool_results FROM messages "
                "WHERE session_id = ? AND seq > ? ORDER BY seq",
                (session_id, after),
            )
            messages = [StoredMessage(*row) for row in cursor]
        except sqlite3.Error as exc:
            raise MemoryStoreError(f"{self.path}: {_explain(exc)}") from None
        return Resumed(summary=summary, messages=messages)

    def documents(self, session_id: str, first_seq: int, last_seq: int) -> list[str]:
        """The documents of a session's messages ``first_seq`` to ``last_seq``, in order."""
        try:
            cursor = self._db.execute(
                "SELECT doc FROM messages WHERE session_id = ? AND seq BETWEEN ? AND ? "
                "ORDER BY seq",
                (session_id, first_seq, last_seq),
            )
            return [row[0] for row in cursor]
        except sqlite3.Error as exc:
            raise MemoryStoreError(f"{self.path}: {_explain(exc)}") from None

    def save_turn(self, session_id: str, turn: TurnRecord) -> list[int]:
        """Write a whole turn in one transaction; return the sequence numbers of its messages.

        The session row is created if it is missing (it was purged while the conversation went
        on: what is said after a purge is kept, what was said before is gone).
        """
        with self.write() as db:
            now = self.now()
            db.execute(
                "INSERT OR IGNORE INTO sessions (id, created, updated) VALUES (?, ?, ?)",
                (session_id, now, now),
            )
            (last_seq,) = db.execute(
                "SELECT coalesce(max(seq), 0) FROM messages WHERE session_id = ?", (session_id,)
            ).fetchone()
            (number,) = db.execute(
                "SELECT coalesce(max(number), 0) + 1 FROM turns WHERE session_id = ?",
                (session_id,),
            ).fetchone()
            usage = turn.usage or UsageRecord()
            db.execute(
                "INSERT INTO turns (id, session_id, number, status, started, ended, provider, "
                "model) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    turn.id,
                    session_id,
                    number,
                    turn.status,
                    _iso(turn.started),
                    now,
                    usage.provider,
                    usage.model,
                ),
            )
            seqs = list(range(last_seq + 1, last_seq + 1 + len(turn.messages)))
            db.executemany(
                "INSERT INTO messages (session_id, seq, turn_id, idx, role, chars, "
                "tool_results, text, doc) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        session_id,
                        seq,
                        turn.id,
                        idx,
                        m.role,
                        len(m.doc),
                        m.tool_results,
                        m.text,
                        m.doc,
                    )
                    for idx, (seq, m) in enumerate(zip(seqs, turn.messages, strict=True))
                ],
            )
            if turn.usage is not None:
                _insert_usage(db, session_id, turn.id, "turn", turn.usage, now)
            if turn.summary is not None:
                db.execute(
                    "INSERT INTO summaries (session_id, up_to_seq, text, model, created) "
                    "VALUES (?, ?, ?, ?, ?)",
                    (
                        session_id,
                        turn.summary.up_to_seq,
                        turn.summary.text,
                        turn.summary.model,
                        now,
                    ),
                )
                if turn.summary.usage is not None:
                    _insert_usage(db, session_id, turn.id, "summary", turn.summary.usage, now)
            db.execute(
                "UPDATE sessions SET updated = ?, provider = coalesce(?, provider), "
                "model = coalesce(?, model), title = coalesce(title, ?) WHERE id = ?",
                (now, usage.provider, usage.model, turn.title, session_id),
            )
        return seqs

    def user_texts(self, session_id: str) -> list[UserText]:
        """Everything the user wrote in a session (plain text), oldest first."""
        rows = self.rows(
            "SELECT m.turn_id, m.idx, m.text, t.started FROM messages m "
            "JOIN turns t ON t.id = m.turn_id "
            "WHERE m.session_id = ? AND m.role = 'user' ORDER BY m.seq",
            (session_id,),
        )
        return [
            UserText(f"{r['turn_id']}.{r['idx']}", r["text"], datetime.fromisoformat(r["started"]))
            for r in rows
        ]

    def calibration(self, model: str, *, turns: int = 50) -> tuple[int, int]:
        """Estimated and reported input tokens summed over the last ``turns`` turns of ``model``.

        Only turns where both are known count, so the ratio of the two calibrates the estimate.
        """
        rows = self.rows(
            "SELECT coalesce(sum(est), 0), coalesce(sum(rep), 0) FROM (SELECT "
            "estimated_input_tokens AS est, input_tokens + cache_read_tokens + "
            "cache_write_tokens AS rep FROM usage WHERE model = ? AND kind = 'turn' "
            "AND estimated_input_tokens > 0 AND input_tokens + cache_read_tokens > 0 "
            "ORDER BY id DESC LIMIT ?)",
            (model, turns),
        )
        return int(rows[0][0]), int(rows[0][1])

    # -- privacy -----------------------------------------------------------------------------

    def purge(self, session_id: str | None = None) -> Purged:
        """Delete one session (or, with None, every session) and all that came from it.

        Turns, messages, summaries, usage and the facts learned in the session go with it;
        then the full-text index is rebuilt, the file vacuumed and the WAL truncated, so the
        deleted text is gone from disk, not only from the tables.
        """
        where, params = ("WHERE session_id = ?", (session_id,)) if session_id else ("", ())
        with self.write() as db:
            counts = Purged(
                sessions=_count(db, "sessions", where.replace("session_id", "id"), params),
                messages=_count(db, "messages", where, params),
                facts=_count(db, "facts", where, params),
                summaries=_count(db, "summaries", where, params),
            )
            db.execute(f"DELETE FROM sessions {where.replace('session_id', 'id')}", params)
            db.execute("INSERT INTO facts_fts (facts_fts) VALUES ('rebuild')")
        try:
            self._db.execute("VACUUM")
            self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        except sqlite3.Error as exc:
            raise MemoryStoreError(f"{self.path}: deleted, but could not compact: {exc}") from None
        return counts

    def integrity(self) -> str:
        """``PRAGMA integrity_check``: ``"ok"`` or the problems found."""
        return "\n".join(str(row[0]) for row in self.rows("PRAGMA integrity_check"))


@contextmanager
def _opening_lock(path: Path) -> Iterator[None]:
    import fcntl

    with path.with_name(path.name + ".lock").open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _configure(db: sqlite3.Connection) -> None:
    mode = db.execute("PRAGMA journal_mode = WAL").fetchone()[0]
    if str(mode).lower() != "wal":
        raise sqlite3.OperationalError(f"cannot switch to WAL (journal mode is {mode})")
    db.execute("PRAGMA synchronous = FULL")
    db.execute("PRAGMA foreign_keys = ON")
    db.execute("PRAGMA secure_delete = ON")


def _insert_usage(
    db: sqlite3.Connection, session_id: str, turn_id: str, kind: str, u: UsageRecord, now: str
) -> None:
    db.execute(
        "INSERT INTO usage (session_id, turn_id, kind, provider, model, steps, input_tokens, "
        "output_tokens, cache_read_tokens, cache_write_tokens, estimated_input_tokens, created) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            session_id,
            turn_id,
            kind,
            u.provider,
            u.model,
            u.steps,
            u.input_tokens,
            u.output_tokens,
            u.cache_read_tokens,
            u.cache_write_tokens,
            u.estimated_input_tokens,
            now,
        ),
    )


def _count(db: sqlite3.Connection, table: str, where: str, params: tuple[Any, ...]) -> int:
    return int(db.execute(f"SELECT count(*) FROM {table} {where}", params).fetchone()[0])


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat()


def _explain(exc: BaseException) -> str:
    text = str(exc)
    if "locked" in text or "busy" in text:
        return f"the store stayed locked by another morrow process ({text})"
    if "not a database" in text or "malformed" in text:
        return f"not a morrow store, or damaged ({text})"
    return text
