"""The usage ledger: tokens and cost of every model step, shared by every morrow process.

One SQLite file (``<home>/state/usage.sqlite``) in WAL mode with a busy timeout, so the REPL,
``ask`` and a cron briefing can write at the same time; each write is one ``BEGIN IMMEDIATE``
transaction. A row is one answered model step: when, the local day it counts for, provider,
model, the session it belonged to (when the caller knows one), the four token counts and the
cost in USD as priced when it happened. Totals are sums over rows, grouped as asked.

The schema evolves by numbered migrations, only ever appended, each recorded in
``ledger_migrations``. This module stores plain numbers and strings: it knows nothing of the
agent (``memory/`` imports nothing of the project).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from types import TracebackType

BUSY_TIMEOUT_MS = 10_000


class LedgerError(Exception):
    """The ledger could not be read or written (locked too long, disk full, not a database)."""


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


def _migration_1(db: sqlite3.Connection) -> None:
    db.execute(
        """
        CREATE TABLE usage (
            id INTEGER PRIMARY KEY,
            at TEXT NOT NULL,
            day TEXT NOT NULL,
            provider TEXT NOT NULL,
            model TEXT NOT NULL,
            session TEXT,
            input_tokens INTEGER NOT NULL,
            output_tokens INTEGER NOT NULL,
            cache_read_tokens INTEGER NOT NULL,
            cache_write_tokens INTEGER NOT NULL,
            cost_usd REAL NOT NULL
        )
        """
    )
    db.execute("CREATE INDEX usage_day ON usage (day)")
    db.execute("CREATE INDEX usage_session ON usage (session) WHERE session IS NOT NULL")


MIGRATIONS: list[Callable[[sqlite3.Connection], None]] = [_migration_1]

_SUMS = (
    "COUNT(*), COALESCE(SUM(input_tokens), 0), COALESCE(SUM(output_tokens), 0), "
    "COALESCE(SUM(cache_read_tokens), 0), COALESCE(SUM(cache_write_tokens), 0), "
    "COALESCE(SUM(cost_usd), 0.0)"
)


class Ledger:
    """An open usage ledger; use as a context manager or call :meth:`close`."""

    def __init__(self, path: Path, *, now: Callable[[], datetime] | None = None) -> None:
        """Open (and create or migrate) the ledger at ``path``.

        Raises:
            LedgerError: the file cannot be opened as a ledger.
        """
        self.path = path
        self._now = now or (lambda: datetime.now(UTC))
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None)
        except (OSError, sqlite3.Error) as exc:
            raise LedgerError(f"{path}: cannot open the usage ledger: {exc}") from exc
        try:
            self._db.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            self._db.execute("PRAGMA journal_mode = WAL")
            self._migrate()
        except sqlite3.Error as exc:
            self._db.close()
            raise LedgerError(f"{path}: cannot open the usage ledger: {exc}") from exc

    def __enter__(self) -> Ledger:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close the database connection."""
        self._db.close()

    def record(self, entry: Entry) -> None:
        """Add one answered step.

        Raises:
            LedgerError: the row could not be written.
        """
        with self._write() as db:
            db.execute(
                "INSERT INTO usage (at, day, provider, model, session, input_tokens, "
                "output_tokens, cache_read_tokens, cache_write_tokens, cost_usd) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    self._now().isoformat(),
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
        """Sums over the rows of ``day`` and/or ``session`` (every row when both are None)."""
        where, args = _filter(day, session)
        return _totals(self._read(f"SELECT {_SUMS} FROM usage{where}", args)[0])

    def by_model(
        self, *, day: date | None = None, session: str | None = None
    ) -> dict[tuple[str, str], Totals]:
        """Sums per ``(provider, model)`` over the rows of ``day`` and/or ``session``."""
        where, args = _filter(day, session)
        rows = self._read(
            f"SELECT provider, model, {_SUMS} FROM usage{where} "
            "GROUP BY provider, model ORDER BY provider, model",
            args,
        )
        return {(str(row[0]), str(row[1])): _totals(row[2:]) for row in rows}

    # -- internals -------------------------------------------------------------------------------

    def _migrate(self) -> None:
        with self._write() as db:
            db.execute(
                "CREATE TABLE IF NOT EXISTS ledger_migrations "
                "(version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)"
            )
            done = {row[0] for row in db.execute("SELECT version FROM ledger_migrations")}
            for version, migration in enumerate(MIGRATIONS, start=1):
                if version not in done:
                    migration(db)
                    db.execute(
                        "INSERT INTO ledger_migrations VALUES (?, ?)",
                        (version, self._now().isoformat()),
                    )

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One immediate transaction: the write lock is taken up front, waiting if busy."""
        try:
            self._db.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            raise LedgerError(f"{self.path}: cannot write the usage ledger: {exc}") from exc
        try:
            yield self._db
        except sqlite3.Error as exc:
            self._db.execute("ROLLBACK")
            raise LedgerError(f"{self.path}: cannot write the usage ledger: {exc}") from exc
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        try:
            self._db.execute("COMMIT")
        except sqlite3.Error as exc:
            raise LedgerError(f"{self.path}: cannot write the usage ledger: {exc}") from exc

    def _read(self, sql: str, args: tuple[str, ...]) -> list[tuple[object, ...]]:
        try:
            return list(self._db.execute(sql, args))
        except sqlite3.Error as exc:
            raise LedgerError(f"{self.path}: cannot read the usage ledger: {exc}") from exc


def _totals(row: tuple[object, ...]) -> Totals:
    requests, inputs, outputs, reads, writes = (int(str(value)) for value in row[:5])
    return Totals(requests, inputs, outputs, reads, writes, float(str(row[5])))


def _filter(day: date | None, session: str | None) -> tuple[str, tuple[str, ...]]:
    clauses, args = [], []
    if day is not None:
        clauses.append("day = ?")
        args.append(day.isoformat())
    if session is not None:
        clauses.append("session = ?")
        args.append(session)
    return (" WHERE " + " AND ".join(clauses) if clauses else ""), tuple(args)
