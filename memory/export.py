"""Everything the store keeps, as one JSON-ready document (``morrow memory export``).

Nothing is kept that the user cannot see: the export holds every session with its turns,
messages (the neutral documents, parsed), summaries, token usage, usage ledger rows, effect
journal rows and undo state, and every fact with its provenance; the whole store's export adds
the ledger and journal rows of no session, provider health, and which calendar files the
parsed calendar index covers (a copy of those files, not listed row by row). What it shows
is exactly what ``morrow memory purge`` deletes.
"""

from __future__ import annotations

import json
from typing import Any

from morrow.memory.calendar_index import CalendarIndex
from morrow.memory.errors import NotStoredError
from morrow.memory.store import Store

FORMAT = "morrow-memory-export/1"


def export(store: Store, session_id: str | None = None) -> dict[str, Any]:
    """The whole store, or one session and the facts learned in it.

    Raises:
        NotStoredError: ``session_id`` names no session.
    """
    if session_id is not None and store.session(session_id) is None:
        raise NotStoredError(f"no session with id {session_id!r}")
    where, params = ("WHERE id = ?", (session_id,)) if session_id else ("", ())
    sessions = [
        dict(row) for row in store.rows(f"SELECT * FROM sessions {where} ORDER BY id", params)
    ]
    for session in sessions:
        sid = (session["id"],)
        session["turns"] = _table(store, "turns", "session_id = ? ORDER BY number", sid)
        session["messages"] = [
            {
                **{k: row[k] for k in ("seq", "turn_id", "idx", "role")},
                "message": json.loads(row["doc"]),
            }
            for row in store.rows(
                "SELECT seq, turn_id, idx, role, doc FROM messages WHERE session_id = ? "
                "ORDER BY seq",
                sid,
            )
        ]
        session["summaries"] = _table(store, "summaries", "session_id = ? ORDER BY id", sid)
        session["usage"] = _table(store, "usage", "session_id = ? ORDER BY id", sid)
        session["ledger"] = _table(store, "ledger", "session_id = ? ORDER BY id", sid)
        session["effects"] = _table(store, "effects", "session_id = ? ORDER BY id", sid)
        session["undone"] = _table(store, "undo_handled", "session_id = ? ORDER BY call_id", sid)
    fact_where = ("session_id = ? ORDER BY id", params) if session_id else ("1 ORDER BY id", ())
    document = {
        "format": FORMAT,
        "exported": store.now(),
        "sessions": sessions,
        "facts": _table(store, "facts", *fact_where),
    }
    if session_id is None:
        unowned = "session_id IS NULL OR session_id NOT IN (SELECT id FROM sessions) ORDER BY id"
        document["other_ledger"] = _table(store, "ledger", unowned, ())
        document["other_effects"] = _table(store, "effects", "session_id IS NULL ORDER BY id", ())
        unowned_undo = unowned.replace("ORDER BY id", "ORDER BY session_id, call_id")
        document["other_undone"] = _table(store, "undo_handled", unowned_undo, ())
        document["provider_health"] = _table(store, "provider_health", "1 ORDER BY name", ())
        document["calendar_index"] = [  # a cache of the calendar files: what it covers
            {"path": path, "events": events} for path, events in CalendarIndex(store).counts()
        ]
    return document


def _table(store: Store, table: str, where: str, params: tuple[Any, ...]) -> list[dict[str, Any]]:
    return [dict(row) for row in store.rows(f"SELECT * FROM {table} WHERE {where}", params)]
