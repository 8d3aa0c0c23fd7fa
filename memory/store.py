"""The store: one SQLite file under the home (``<home>/morrow.sqlite``), and what it keeps.

It is the only database: sessions, turns, messages, summaries and token usage (here), facts
(``facts.py``), the effect journal (``journal.py``), the usage ledger (``ledger.py``), provider
health and undo state (``state.py``), under one migration runner (``migrations.py``). A
process opens it once and hands the :class:`Store` down; how its threads share the one
connection, and the SQLite settings, are in ``database.py``.

A turn's messages are written in one transaction when the turn ends (:meth:`Store.save_turn`),
so a crash loses at most the turn in flight and never leaves a tool call without its result.
Messages are the JSON documents ``agent`` writes; this floor never interprets them.
"""

from __future__ import annotations

import re
import secrets
import sqlite3
from datetime import UTC, datetime
from typing import Any

from morrow.memory.database import Clock, Database, utc_now
from morrow.memory.errors import MemoryStoreError, SessionExistsError
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

__all__ = ["FILE_NAME", "Clock", "Store", "check_session_id", "utc_now"]

FILE_NAME = "morrow.sqlite"
SESSION_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


def check_session_id(value: str) -> str:
    """Return ``value`` if it is a valid session id, else raise ValueError saying why."""
    if not SESSION_ID.fullmatch(value):
        raise ValueError(
            f"invalid session id {value!r}: use 1 to 64 letters, digits, '.', '_' or '-', "
            "starting with a letter or digit"
        )
    return value


class Store(Database):
    """The store of one home: sessions, their turns, and purging them.

    Open it with :meth:`~morrow.memory.database.Database.open`; the other tables are read and
    written by this floor's modules through :meth:`write` and :meth:`rows`.
    """

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
        rows = self._tuples(
            "SELECT seq, turn_id, role, chars, tool_results FROM messages "
            "WHERE session_id = ? AND seq > ? ORDER BY seq",
            (session_id, after),
        )
        return Resumed(summary=summary, messages=[StoredMessage(*row) for row in rows])

    def documents(self, session_id: str, first_seq: int, last_seq: int) -> list[str]:
        """The documents of a session's messages ``first_seq`` to ``last_seq``, in order."""
        rows = self._tuples(
            "SELECT doc FROM messages WHERE session_id = ? AND seq BETWEEN ? AND ? ORDER BY seq",
            (session_id, first_seq, last_seq),
        )
        return [row[0] for row in rows]

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
            db.executemany(
                "UPDATE effects SET reported = ? "
                "WHERE session_id = ? AND call_id = ? AND reported IS NULL",
                [(now, session_id, call_id) for call_id in turn.answered_calls],
            )
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
        """Delete one session (or, with None, everything) and all that came from it.

        A session takes its turns, messages, summaries, token usage, the facts learned in it,
        its effect journal rows, its usage ledger rows and its undo state with it. Everything
        (None) also takes the journal rows of no session (``morrow tools call``), provider
        health and the parsed calendar index (a cache of the calendar files, rebuilt when
        next read). Then the bytes go too (:meth:`compact`).
        """
        where, params = ("WHERE session_id = ?", (session_id,)) if session_id else ("", ())
        by_id = where.replace("session_id", "id")
        with self.write() as db:
            counts = Purged(
                sessions=_count(db, "sessions", by_id, params),
                messages=_count(db, "messages", where, params),
                facts=_count(db, "facts", where, params),
                summaries=_count(db, "summaries", where, params),
                usage=_count(db, "ledger", where, params),
                effects=_count(db, "effects", where, params),
            )
            db.execute(f"DELETE FROM sessions {by_id}", params)  # the rest by ON DELETE CASCADE
            for table in ("effects", "ledger", "undo_handled"):  # rows no cascade reaches
                db.execute(f"DELETE FROM {table} {where}", params)
            if session_id is None:
                db.execute("DELETE FROM provider_health")
                db.execute("DELETE FROM calendar_files")  # the calendar index, by cascade
            db.execute("INSERT INTO facts_fts (facts_fts) VALUES ('rebuild')")
        self.compact()
        return counts


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
