"""What earlier versions kept beside the store, moved into it when it is opened.

Before the one store, three things lived in files under ``<home>/state``:

- ``usage.sqlite``: the usage ledger, a SQLite file with its own migrations (``usage`` table);
- ``provider-health.json``: provider health, ``{"version": 1, "providers": {name: {...}}}``;
- ``undo/<session>.json``: the call ids ``/undo`` had dealt with, ``{"handled": [...]}``.

:func:`import_legacy` runs each time the store is opened (under the opening lock, after the
migrations, so two processes never import at once) and costs three ``stat`` calls when there
is nothing to move. Each file found is read, its rows are written into the store in one
transaction, skipping rows the store already holds (so an import cut short by a crash is
simply done again, without doubles), and then the file is **removed**: the store is its one
copy, so ``morrow memory purge`` deletes what it says (an old ledger left behind would keep
the usage of a purged session) and nothing is counted twice. A file that cannot be read is
left where it is and named in a warning: nothing of it is lost, and the next open tries again.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import structlog

log = structlog.get_logger("morrow.store")

LEDGER_FILE = "usage.sqlite"
HEALTH_FILE = "provider-health.json"
UNDO_FOLDER = "undo"
_LEDGER_COLUMNS = (
    "at, day, provider, model, session_id, input_tokens, output_tokens, cache_read_tokens, "
    "cache_write_tokens, cost_usd"
)
_HEALTH_FIELDS = ("model", "last_failure", "reason", "failures", "last_success", "cooling_until")

Rows = list[tuple[Any, ...]]


def import_legacy(db: sqlite3.Connection, state: Path) -> list[str]:
    """Move the files of earlier versions under ``state`` into the store ``db``.

    Args:
        db: the store's connection, in autocommit mode (each import is its own transaction).
        state: ``<home>/state``.

    Returns:
        The files imported (and removed), for the log and the tests.
    """
    imported: list[str] = []
    sources: list[tuple[Path, Callable[[Path], Rows], Callable[[sqlite3.Connection, Rows], None]]]
    sources = [
        (state / LEDGER_FILE, _ledger_rows, _insert_ledger),
        (state / HEALTH_FILE, _health_rows, _insert_health),
    ]
    undo = state / UNDO_FOLDER
    if undo.is_dir():
        sources += [(path, _undo_rows, _insert_undo) for path in sorted(undo.glob("*.json"))]
    for path, read, insert in sources:
        if path.is_file() and _move(db, path, read, insert):
            imported.append(str(path))
    if imported:
        log.info("legacy_state_imported", files=imported)
    with contextlib.suppress(OSError):
        undo.rmdir()  # only when empty
    return imported


def _move(
    db: sqlite3.Connection,
    path: Path,
    read: Callable[[Path], Rows],
    insert: Callable[[sqlite3.Connection, Rows], None],
) -> bool:
    try:
        rows = read(path)
    except (OSError, sqlite3.Error, ValueError, TypeError, KeyError, AttributeError) as exc:
        log.warning(
            "legacy_state_unreadable",
            path=str(path),
            error=f"{type(exc).__name__}: {exc}",
            hint="left in place; fix or delete it",
        )
        return False
    db.execute("BEGIN IMMEDIATE")
    try:
        insert(db, rows)
        db.execute("COMMIT")
    except BaseException:
        db.execute("ROLLBACK")
        raise
    for leftover in (path, *_companions(path)):
        with contextlib.suppress(FileNotFoundError):
            leftover.unlink()
    return True


def _companions(path: Path) -> list[Path]:
    """Files that only served ``path``: SQLite's WAL and shared memory, the health lock."""
    if path.name == LEDGER_FILE:
        return [path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")]
    if path.name == HEALTH_FILE:
        return [path.with_name(path.name + ".lock")]
    return []


# -- the usage ledger ------------------------------------------------------------------------


def _ledger_rows(path: Path) -> Rows:
    source = sqlite3.connect(path, timeout=10)
    try:
        return list(
            source.execute(
                "SELECT at, day, provider, model, session, input_tokens, output_tokens, "
                "cache_read_tokens, cache_write_tokens, cost_usd FROM usage ORDER BY id"
            )
        )
    finally:
        source.close()


def _insert_ledger(db: sqlite3.Connection, rows: Rows) -> None:
    known = set(db.execute(f"SELECT {_LEDGER_COLUMNS} FROM ledger"))
    db.executemany(
        f"INSERT INTO ledger ({_LEDGER_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [row for row in rows if tuple(row) not in known],
    )


# -- provider health -------------------------------------------------------------------------


def _health_rows(path: Path) -> Rows:
    providers = json.loads(path.read_text(encoding="utf-8"))["providers"]
    rows = []
    for name, entry in providers.items():
        values = {field: entry.get(field) for field in _HEALTH_FIELDS}
        rows.append(
            (
                str(name),
                str(values["model"] or ""),
                _seconds(values["last_failure"]),
                str(values["reason"] or ""),
                int(values["failures"] or 0),
                _seconds(values["last_success"]),
                _seconds(values["cooling_until"]),
            )
        )
    return rows


def _seconds(value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"expected seconds since the epoch, not {value!r}")
    return float(value)


def _insert_health(db: sqlite3.Connection, rows: Rows) -> None:
    # a record the store already has was written after the file: it wins
    db.executemany(
        "INSERT OR IGNORE INTO provider_health (name, model, last_failure, reason, failures, "
        "last_success, cooling_until) VALUES (?, ?, ?, ?, ?, ?, ?)",
        rows,
    )


# -- undo state ------------------------------------------------------------------------------


def _undo_rows(path: Path) -> Rows:
    handled = json.loads(path.read_text(encoding="utf-8"))["handled"]
    if not isinstance(handled, list):
        raise TypeError(f"'handled' is not a list: {handled!r}")
    now = datetime.now(UTC).isoformat()
    return [(path.stem, str(call_id), now) for call_id in handled]


def _insert_undo(db: sqlite3.Connection, rows: Rows) -> None:
    db.executemany(
        "INSERT OR IGNORE INTO undo_handled (session_id, call_id, handled) VALUES (?, ?, ?)",
        rows,
    )
