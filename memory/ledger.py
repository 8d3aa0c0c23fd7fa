"""The usage ledger: tokens and cost of every model step, shared by every morrow process.

The store's ``ledger`` table (migration ``m004``; before, its own file ``state/usage.sqlite``,
moved in by ``legacy.py``). A row is one answered model step: when, the local day it counts
for, provider, model, the session it belonged to (when the caller knows one), the four token
counts and the cost in USD as priced when it happened. Totals are sums over rows, grouped as
asked. Each write is one ``BEGIN IMMEDIATE`` transaction of the store, so the REPL, ``ask``
and a cron briefing can record at the same time. This module stores plain numbers and
strings: it knows nothing of the agent (``memory/`` imports nothing of the project).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from morrow.memory.store import Store


@dataclass(frozen=True)
class Entry:
    """One answered model step, as recorded."""

    day: date
    provider: str
    model: str
    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    cost_usd: float = 0.0
    session: str | None = None


@dataclass(frozen=True)
class Totals:
    """Sums over some rows of the ledger."""

    requests: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    cost_usd: float = 0.0

    @property
    def tokens(self) -> int:
        """Every token counted, input (cached or not) and output."""
        return (
            self.input_tokens
            + self.output_tokens
            + self.cache_read_tokens
            + self.cache_write_tokens
        )


_SUMS = (
    "COUNT(*), COALESCE(SUM(input_tokens), 0), COALESCE(SUM(output_tokens), 0), "
    "COALESCE(SUM(cache_read_tokens), 0), COALESCE(SUM(cache_write_tokens), 0), "
    "COALESCE(SUM(cost_usd), 0.0)"
)


class Ledger:
    """The usage ledger of an open :class:`~morrow.memory.store.Store`."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def record(self, entry: Entry) -> None:
        """Add one answered step.

        Raises:
            MemoryStoreError: the row could not be written.
        """
        with self.store.write() as db:
            db.execute(
                "INSERT INTO ledger (at, day, provider, model, session_id, input_tokens, "
                "output_tokens, cache_read_tokens, cache_write_tokens, cost_usd) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    self.store.now(),
                    entry.day.isoformat(),
                    entry.provider,
                    entry.model,
                    entry.session,
                    entry.input_tokens,
                    entry.output_tokens,
                    entry.cache_read_tokens,
                    entry.cache_write_tokens,
                    entry.cost_usd,
                ),
            )

    def totals(self, *, day: date | None = None, session: str | None = None) -> Totals:
        """Sums over the rows of ``day`` and/or ``session`` (every row when both are None).

        Raises:
            MemoryStoreError: the ledger could not be read.
        """
        where, args = _filter(day, session)
        return _totals(tuple(self.store.rows(f"SELECT {_SUMS} FROM ledger{where}", args)[0]))

    def by_model(
        self, *, day: date | None = None, session: str | None = None
    ) -> dict[tuple[str, str], Totals]:
        """Sums per ``(provider, model)`` over the rows of ``day`` and/or ``session``."""
        where, args = _filter(day, session)
        rows = self.store.rows(
            f"SELECT provider, model, {_SUMS} FROM ledger{where} "
            "GROUP BY provider, model ORDER BY provider, model",
            args,
        )
        return {(str(row[0]), str(row[1])): _totals(tuple(row)[2:]) for row in rows}


def _totals(row: tuple[object, ...]) -> Totals:
    requests, inputs, outputs, reads, writes = (int(str(value)) for value in row[:5])
    return Totals(requests, inputs, outputs, reads, writes, float(str(row[5])))


def _filter(day: date | None, session: str | None) -> tuple[str, tuple[str, ...]]:
    clauses, args = [], []
    if day is not None:
        clauses.append("day = ?")
        args.append(day.isoformat())
    if session is not None:
        clauses.append("session_id = ?")
        args.append(session)
    return (" WHERE " + " AND ".join(clauses) if clauses else ""), tuple(args)
