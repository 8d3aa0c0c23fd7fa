"""Small state the agent keeps across runs: provider health, and what ``/undo`` dealt with.

Both live in the store (tables ``provider_health`` and ``undo_handled``, migrations ``m005``
and ``m006``); before, they were JSON files under ``<home>/state`` with their own lock and
atomic replace (``legacy.py`` moves them in). What they mean is the agent's business
(``agent/providers/health.py``, ``agent/safety/undo.py``); this module only reads and writes
rows, each change in one ``BEGIN IMMEDIATE`` transaction, so the REPL and a cron job never
lose each other's updates.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import astuple, dataclass

from morrow.memory.store import Store

_HEALTH_COLUMNS = "name, model, last_failure, reason, failures, last_success, cooling_until"


@dataclass(frozen=True)
class ProviderHealth:
    """What is remembered about one provider.

    Attributes:
        name: the configured provider name.
        model: the model it was asked for when this was recorded.
        last_failure: when it last failed (seconds since the epoch), if ever.
        reason: why it failed then (one line, as the user saw it).
        failures: failures since its last answer.
        last_success: when it last answered, if ever.
        cooling_until: until when it is tried last.
    """

    name: str
    model: str = ""
    last_failure: float | None = None
    reason: str = ""
    failures: int = 0
    last_success: float | None = None
    cooling_until: float | None = None

    def cooling(self, now: float) -> bool:
        """Whether the provider failed recently enough to be tried last."""
        return self.cooling_until is not None and now < self.cooling_until


def read_health(store: Store) -> dict[str, ProviderHealth]:
    """Every provider's record, by name."""
    rows = store.rows(f"SELECT {_HEALTH_COLUMNS} FROM provider_health ORDER BY name")
    return {row["name"]: ProviderHealth(*row) for row in rows}


def update_health(
    store: Store, name: str, change: Callable[[ProviderHealth], ProviderHealth]
) -> ProviderHealth:
    """Read ``name``'s record, apply ``change`` and write it back, in one transaction."""
    with store.write() as db:
        row = db.execute(
            f"SELECT {_HEALTH_COLUMNS} FROM provider_health WHERE name = ?", (name,)
        ).fetchone()
        new = change(ProviderHealth(*row) if row else ProviderHealth(name=name))
        db.execute(
            f"INSERT OR REPLACE INTO provider_health ({_HEALTH_COLUMNS}) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            astuple(new),
        )
    return new


def undone(store: Store, session_id: str) -> set[str]:
    """The call ids ``/undo`` has dealt with in a session."""
    rows = store.rows("SELECT call_id FROM undo_handled WHERE session_id = ?", (session_id,))
    return {row["call_id"] for row in rows}


def mark_undone(store: Store, session_id: str, call_id: str) -> None:
    """Remember that ``/undo`` dealt with ``call_id`` (undone, or reported irreversible)."""
    with store.write() as db:
        db.execute(
            "INSERT OR IGNORE INTO undo_handled (session_id, call_id, handled) VALUES (?, ?, ?)",
            (session_id, call_id, store.now()),
        )
