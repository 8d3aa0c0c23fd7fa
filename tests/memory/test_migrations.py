"""Migrations: a temp SQLite file migrated from empty, once, by one process at a time."""

import sqlite3
import threading

import pytest

from morrow.memory.errors import MemoryStoreError
from morrow.memory.migrations import MIGRATIONS, applied, migrate
from morrow.memory.store import Store


def connect(path):
    return sqlite3.connect(path, isolation_level=None, timeout=30)


def test_an_empty_file_is_migrated_to_the_latest_schema(tmp_path):
    db = connect(tmp_path / "m.sqlite")
    ran = migrate(db)
    assert ran == [name for name, _ in MIGRATIONS]
    assert applied(db) == ran
    tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"sessions", "turns", "messages", "summaries", "usage", "facts", "facts_fts"} <= tables
    assert migrate(db) == []  # a second run finds nothing to do
    db.close()


def test_migrations_are_numbered_and_in_order():
    names = [name for name, _ in MIGRATIONS]
    numbers = [int(name[1:4]) for name in names]
    assert numbers == list(range(1, len(names) + 1))
    assert all(name.startswith("m") and name[4] == "_" for name in names)


def test_only_the_missing_migrations_run(tmp_path):
    db = connect(tmp_path / "m.sqlite")
    first_name, first = MIGRATIONS[0]
    db.execute("CREATE TABLE _migrations (name TEXT PRIMARY KEY, applied TEXT NOT NULL)")
    first(db)
    db.execute("INSERT INTO _migrations VALUES (?, 'then')", (first_name,))
    assert migrate(db) == [name for name, _ in MIGRATIONS[1:]]
    db.close()


def test_a_store_from_a_newer_version_is_refused(tmp_path):
    path = tmp_path / "m.sqlite"
    Store.open(path).close()
    db = connect(path)
    db.execute("INSERT INTO _migrations VALUES ('m999_from_the_future', 'later')")
    db.close()
    with pytest.raises(MemoryStoreError, match="newer morrow"):
        Store.open(path)


def test_a_file_that_is_not_a_database_is_a_clear_error(tmp_path):
    path = tmp_path / "morrow.sqlite"
    path.write_bytes(b"this is not sqlite, it is a shopping list\n" * 100)
    with pytest.raises(MemoryStoreError, match="not a morrow store"):
        Store.open(path)
    assert path.read_bytes().startswith(b"this is not sqlite")  # nothing was overwritten


def test_two_connections_migrating_a_fresh_file_at_once_apply_each_step_once(tmp_path):
    path = tmp_path / "race.sqlite"
    results, errors = [], []
    barrier = threading.Barrier(4)

    def open_it():
        barrier.wait()
        try:
            Store.open(path).close()
            results.append(True)
        except Exception as exc:  # collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=open_it) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    db = connect(path)
    assert applied(db) == [name for name, _ in MIGRATIONS]
    db.close()


def test_effects_journaled_before_m007_count_as_reported_but_the_open_ones(tmp_path):
    db = connect(tmp_path / "m.sqlite")
    db.execute("CREATE TABLE _migrations (name TEXT PRIMARY KEY, applied TEXT NOT NULL)")
    names = [name for name, _ in MIGRATIONS]
    for name, func in MIGRATIONS[: names.index("m007_effects_reported")]:
        func(db)
        db.execute("INSERT INTO _migrations VALUES (?, 'then')", (name,))
    for status in ("done", "unknown", "refused", "pending"):
        db.execute(
            "INSERT INTO effects (run_id, call_id, tool, effect, args_sha256, approved_by, "
            "status, started, finished) VALUES ('r', 'c', 't', 'send', 'h', '', ?, 's', ?)",
            (status, None if status == "pending" else "f"),
        )
    assert migrate(db) == names[names.index("m007_effects_reported") :]
    rows = db.execute("SELECT status, reported FROM effects ORDER BY id").fetchall()
    assert rows == [("done", "f"), ("unknown", None), ("refused", "f"), ("pending", None)]
    db.close()
