"""The effect journal: what morrow set out to do before doing it, and what came of it.

Every call with an effect leaves one row in the store's ``effects`` table:

- refused: ``refused`` at once, with the reason;
- approved: ``pending`` *before* the call runs, with the idempotency key the tool will use (an
  email's Message-ID, an event's UID), then ``done``, ``failed`` (nothing happened) or
  ``unknown`` (a timeout, a lost connection, a crash: it may or may not have happened).

A process killed between the two writes leaves ``pending``; :meth:`Journal.settle_interrupted`
turns the rows of processes that no longer run into ``unknown``. morrow never repeats an effect
whose outcome is unknown on its own: the agent looks the key up (Sent, the calendar) and
otherwise asks the user (``agent/safety/journal.py``).

``reported`` says when the outcome reached the user: the turn holding the result was saved
(``Store.save_turn``, in the same transaction), or, for a run that stopped before, morrow told
the user when it next started (:meth:`Journal.unreported`, :meth:`Journal.mark_reported`).
An effect that was done but never reported (killed after the send, before the answer) is
still news to the user, and a request for the same action asks first.

Nothing private is kept: the arguments are stored as a SHA-256 hash; ``summary`` holds the
tool, the recipients and the subject so an unknown outcome can be put to the user. Rows of a
session go when the session is purged.
"""

from __future__ import annotations

import os
import sqlite3
from dataclasses import dataclass
from typing import Literal

from morrow.memory.store import Store

Status = Literal["refused", "pending", "done", "failed", "unknown"]
OPEN: tuple[Status, ...] = ("pending", "unknown")
_COLUMNS = (
    "id, run_id, session_id, call_id, tool, effect, args_sha256, key, summary, approved_by, "
    "status, pid, started, finished, note, reported"
)


@dataclass(frozen=True)
class Intent:
    """An effect about to run (or refused).

    Attributes:
        run_id: the process run that decided it.
        session_id: the conversation it belongs to; None outside one (``morrow tools call``).
        call_id: the model's tool call id (or the CLI's).
        tool: the tool name.
        effect: "write" or "send".
        args_sha256: hash of the canonical JSON of the arguments.
        key: the idempotency key the tool will use, when it has one.
        summary: tool, recipients and subject, without the body.
        approved_by: "mode" (the approval mode allowed it), "user", or "" when refused.
    """

    run_id: str
    session_id: str | None
    call_id: str
    tool: str
    effect: str
    args_sha256: str
    key: str | None = None
    summary: str = ""
    approved_by: str = ""


@dataclass(frozen=True)
class Entry:
    """One row of the journal."""

    id: int
    run_id: str
    session_id: str | None
    call_id: str
    tool: str
    effect: str
    args_sha256: str
    key: str | None
    summary: str
    approved_by: str
    status: Status
    pid: int | None
    started: str
    finished: str | None
    note: str | None
    reported: str | None = None

    @property
    def process_ended(self) -> bool:
        """Whether the process that ran it has ended (this process has not)."""
        return not _alive(self.pid)


class Journal:
    """The ``effects`` table of an open :class:`~morrow.memory.store.Store`."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def refused(self, intent: Intent, reason: str) -> int:
        """Record a refused effect (the caller tells the reason at once); returns its row id."""
        return self._insert(intent, "refused", note=reason, reported=True)

    def begin(self, intent: Intent) -> int:
        """Record an approved effect as pending, before it runs; returns its row id."""
        return self._insert(intent, "pending")

    def finish(
        self, entry_id: int, status: Status, note: str | None = None, *, reported: bool = False
    ) -> None:
        """Record the outcome of a pending effect (``reported``: the caller shows it at once)."""
        with self.store.write() as db:
            now = self.store.now()
            db.execute(
                "UPDATE effects SET status = ?, finished = ?, note = ?, "
                "reported = CASE WHEN ? THEN ? ELSE reported END WHERE id = ?",
                (status, now, note, reported, now, entry_id),
            )

    def get(self, entry_id: int) -> Entry | None:
        """The row with this id."""
        rows = self.store.rows(f"SELECT {_COLUMNS} FROM effects WHERE id = ?", (entry_id,))
        return _entry(rows[0]) if rows else None

    def twins(self, args_sha256: str) -> list[Entry]:
        """Effects done or maybe done with these arguments (of the same tool), in any session.

        Rows are ``done``, ``pending`` or ``unknown``, newest first; the caller decides which
        are the same effect (``agent/safety/journal.py``).
        """
        rows = self.store.rows(
            f"SELECT {_COLUMNS} FROM effects WHERE args_sha256 = ? "
            "AND status IN ('done', 'pending', 'unknown') ORDER BY id DESC",
            (args_sha256,),
        )
        return [_entry(row) for row in rows]

    def unreported(self) -> list[Entry]:
        """Effects whose outcome never reached the user, of processes that ended, oldest first.

        Call :meth:`settle_interrupted` first, so none of them is still ``pending``.
        """
        rows = self.store.rows(
            f"SELECT {_COLUMNS} FROM effects WHERE reported IS NULL "
            "AND status IN ('done', 'pending', 'unknown') ORDER BY id"
        )
        return [e for e in map(_entry, rows) if e.process_ended]

    def mark_reported(self, entry_ids: list[int]) -> None:
        """The user was told how these effects ended (or that nobody knows)."""
        with self.store.write() as db:
            now = self.store.now()
            db.executemany(
                "UPDATE effects SET reported = ? WHERE id = ?", [(now, i) for i in entry_ids]
            )

    def open_entries(self) -> list[Entry]:
        """Effects whose outcome is not known yet (pending or unknown), oldest first."""
        rows = self.store.rows(
            f"SELECT {_COLUMNS} FROM effects WHERE status IN ('pending', 'unknown') ORDER BY id"
        )
        return [_entry(row) for row in rows]

    def entries(self, session_id: str | None = None) -> list[Entry]:
        """Every row (of one session when given), oldest first."""
        if session_id is None:
            rows = self.store.rows(f"SELECT {_COLUMNS} FROM effects ORDER BY id")
        else:
            rows = self.store.rows(
                f"SELECT {_COLUMNS} FROM effects WHERE session_id = ? ORDER BY id", (session_id,)
            )
        return [_entry(row) for row in rows]

    def settle_interrupted(self) -> list[Entry]:
        """Mark ``unknown`` the pending effects of processes that have ended; returns them.

        A process that died between "pending" and its outcome cannot write the outcome; a
        pending row of a live process (another REPL, the cron job) is left alone.
        """
        settled = []
        for entry in self.open_entries():
            if entry.status == "pending" and not _alive(entry.pid):
                note = f"interrupted: process {entry.pid} ended before the outcome was written"
                self.finish(entry.id, "unknown", note)
                settled.append(entry)
        return settled

    def _insert(
        self, intent: Intent, status: Status, note: str | None = None, *, reported: bool = False
    ) -> int:
        session = intent.session_id if self._session_exists(intent.session_id) else None
        with self.store.write() as db:
            now = self.store.now()
            cursor = db.execute(
                "INSERT INTO effects (run_id, session_id, call_id, tool, effect, args_sha256, "
                "key, summary, approved_by, status, pid, started, note, reported) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    intent.run_id,
                    session,
                    intent.call_id,
                    intent.tool,
                    intent.effect,
                    intent.args_sha256,
                    intent.key,
                    intent.summary,
                    intent.approved_by,
                    status,
                    os.getpid(),
                    now,
                    note,
                    now if reported else None,
                ),
            )
            return int(cursor.lastrowid or 0)

    def _session_exists(self, session_id: str | None) -> bool:
        if session_id is None:
            return False
        return bool(self.store.rows("SELECT 1 FROM sessions WHERE id = ?", (session_id,)))


def _entry(row: sqlite3.Row) -> Entry:
    return Entry(**{name: row[name] for name in row.keys()})


def _alive(pid: int | None) -> bool:
    """Whether a process with this id runs (ours counts as alive)."""
    if pid is None:
        return False
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, owned by someone else
        return True
    return True
