"""Schema migrations of the store: numbered functions, only ever appended, each recorded once.

The style is the ``llm`` project's: every migration is a function registered in order with
:func:`migration`; :func:`migrate` runs the ones not yet listed in the ``_migrations`` table,
all inside one ``BEGIN IMMEDIATE`` transaction, so two processes opening a fresh file at the
same moment cannot both apply a step (the second waits, then finds nothing to do). A migration
that shipped is never edited: a change is a new function at the end.

The schema (after every migration):

- ``sessions``: one conversation (id, title, created, updated, provider/model last used).
- ``turns``: one user turn of a session: its number, status (``ok``, ``cancelled``, ``error``),
  start and end, the provider and model of its last step.
- ``messages``: one row per neutral message (a JSON document written by ``agent``), ordered by
  ``seq`` within its session, with the turn it belongs to, its size (characters, tool results)
  so a long session can be measured without reading it, and its plain text (user and
  assistant messages) so the memory tools can check a fact against what the user said.
- ``summaries``: text standing for every message of a session up to ``up_to_seq``.
- ``usage``: tokens per turn (and per summary), with the estimate the request was built on,
  so the estimate can be calibrated against what the provider reports.
- ``facts`` and ``facts_fts`` (FTS5, external content kept in step by triggers).
- ``effects``: the effect journal (``memory/journal.py``): intent, key and outcome per effect,
  and when its outcome reached the user (``reported``).
- ``ledger``: tokens and cost of every answered model step (``memory/ledger.py``), for the
  budget and ``/cost``; it was ``state/usage.sqlite`` before (``memory/legacy.py``).
- ``provider_health``: each provider's last failure and answer (``memory/state.py``); it was
  ``state/provider-health.json``.
- ``undo_handled``: the tool calls ``/undo`` has dealt with, per session; it was
  ``state/undo/<session>.json``.
- ``calendar_files``, ``calendar_units``, ``calendar_templates``, ``calendar_events``: the
  parsed index of the user's .ics files (``calendar_index.py``), a cache of what the files say.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from datetime import UTC, datetime

Migration = Callable[[sqlite3.Connection], None]

MIGRATIONS: list[tuple[str, Migration]] = []


class SchemaTooNewError(Exception):
    """The file was migrated by a newer morrow than this one."""


def migration(func: Migration) -> Migration:
    """Register ``func`` as the next migration (its name is recorded once applied)."""
    MIGRATIONS.append((func.__name__, func))
    return func


def _run(db: sqlite3.Connection, *statements: str) -> None:
    for statement in statements:
        db.execute(statement)


@migration
def m001_sessions_and_messages(db: sqlite3.Connection) -> None:
    """Sessions, turns, messages, summaries and usage."""
    _run(
        db,
        """CREATE TABLE sessions (
            id TEXT PRIMARY KEY,
            title TEXT,
            created TEXT NOT NULL,
            updated TEXT NOT NULL,
            provider TEXT,
            model TEXT
        )""",
        """CREATE TABLE turns (
            id TEXT PRIMARY KEY,
            session_id TEXT NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
            number INTEGER NOT NULL,
            status TEXT NOT NULL CHECK (status IN ('ok', 'cancelled', 'error')),
            started TEXT NOT NULL,
            ended TEXT NOT NULL,
            provider TEXT,
            model TEXT,
            UNIQUE (session_id, number)
        )""",
        # The small columns come first and an index covers them, so a session's outline (roles
        # and sizes) is read without touching the documents, which can be large.
        """CREATE TABLE messages (
            id INTEGER PRIMARY KEY,
            session_id TEXT NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
            seq INTEGER NOT NULL,
            turn_id TEXT NOT NULL REFERENCES turns(id) ON DELETE CASCADE,
            idx INTEGER NOT NULL,
            role TEXT NOT NULL CHECK (role IN ('user', 'assistant', 'tool')),
            chars INTEGER NOT NULL,
            tool_results INTEGER NOT NULL DEFAULT 0,
            text TEXT NOT NULL DEFAULT '',
            doc TEXT NOT NULL,
            UNIQUE (session_id, seq)
        )""",
        """CREATE INDEX messages_outline
            ON messages (session_id, seq, role, chars, tool_results, turn_id)""",
        "CREATE INDEX messages_by_turn ON messages (turn_id, idx)",
        "CREATE INDEX messages_by_role ON messages (session_id, role)",
        """CREATE TABLE summaries (
            id INTEGER PRIMARY KEY,
            session_id TEXT NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
            up_to_seq INTEGER NOT NULL,
            text TEXT NOT NULL,
            model TEXT,
            created TEXT NOT NULL
        )""",
        "CREATE INDEX summaries_by_session ON summaries (session_id, up_to_seq)",
        """CREATE TABLE usage (
            id INTEGER PRIMARY KEY,
            session_id TEXT NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
            turn_id TEXT REFERENCES turns(id) ON DELETE CASCADE,
            kind TEXT NOT NULL CHECK (kind IN ('turn', 'summary')),
            provider TEXT,
            model TEXT,
            steps INTEGER NOT NULL DEFAULT 0,
            input_tokens INTEGER NOT NULL DEFAULT 0,
            output_tokens INTEGER NOT NULL DEFAULT 0,
            cache_read_tokens INTEGER NOT NULL DEFAULT 0,
            cache_write_tokens INTEGER NOT NULL DEFAULT 0,
            estimated_input_tokens INTEGER NOT NULL DEFAULT 0,
            created TEXT NOT NULL
        )""",
        "CREATE INDEX usage_by_model ON usage (model, id)",
        "CREATE INDEX usage_by_session ON usage (session_id)",
    )


@migration
def m002_facts(db: sqlite3.Connection) -> None:
    """Long-term facts with their provenance, searchable through FTS5."""
    _run(
        db,
        """CREATE TABLE facts (
            id INTEGER PRIMARY KEY,
            text TEXT NOT NULL,
            quote TEXT NOT NULL,
            session_id TEXT NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
            message_ref TEXT NOT NULL,
            said_at TEXT NOT NULL,
            created TEXT NOT NULL
        )""",
        "CREATE INDEX facts_by_session ON facts (session_id)",
        """CREATE VIRTUAL TABLE facts_fts USING fts5(
            text, quote, content='facts', content_rowid='id', tokenize='porter unicode61'
        )""",
        """CREATE TRIGGER facts_ai AFTER INSERT ON facts BEGIN
            INSERT INTO facts_fts (rowid, text, quote) VALUES (new.id, new.text, new.quote);
        END""",
        """CREATE TRIGGER facts_ad AFTER DELETE ON facts BEGIN
            INSERT INTO facts_fts (facts_fts, rowid, text, quote)
            VALUES ('delete', old.id, old.text, old.quote);
        END""",
        """CREATE TRIGGER facts_au AFTER UPDATE ON facts BEGIN
            INSERT INTO facts_fts (facts_fts, rowid, text, quote)
            VALUES ('delete', old.id, old.text, old.quote);
            INSERT INTO facts_fts (rowid, text, quote) VALUES (new.id, new.text, new.quote);
        END""",
    )


@migration
def m003_effect_journal(db: sqlite3.Connection) -> None:
    """The effect journal: each effect's intent before it runs, its outcome after.

    No message body is kept: the arguments are hashed; ``summary`` names the tool, the
    recipients and the subject, so an unknown outcome can be put to the user.
    """
    _run(
        db,
        """CREATE TABLE effects (
            id INTEGER PRIMARY KEY,
            run_id TEXT NOT NULL,
            session_id TEXT REFERENCES sessions(id) ON DELETE CASCADE,
            call_id TEXT NOT NULL,
            tool TEXT NOT NULL,
            effect TEXT NOT NULL,
            args_sha256 TEXT NOT NULL,
            key TEXT,
            summary TEXT NOT NULL DEFAULT '',
            approved_by TEXT NOT NULL,
            status TEXT NOT NULL
                CHECK (status IN ('refused', 'pending', 'done', 'failed', 'unknown')),
            pid INTEGER,
            started TEXT NOT NULL,
            finished TEXT,
            note TEXT
        )""",
        "CREATE INDEX effects_by_args ON effects (session_id, args_sha256)",
        "CREATE INDEX effects_by_call ON effects (call_id)",
        "CREATE INDEX effects_open ON effects (status) WHERE status IN ('pending', 'unknown')",
    )


@migration
def m004_usage_ledger(db: sqlite3.Connection) -> None:
    """The usage ledger: one row per answered model step, with its cost as priced then.

    ``session_id`` is not a foreign key: a step is recorded while its turn runs (a briefing's
    session is written after it), and purging a session deletes its rows explicitly.
    """
    _run(
        db,
        """CREATE TABLE ledger (
            id INTEGER PRIMARY KEY,
            at TEXT NOT NULL,
            day TEXT NOT NULL,
            provider TEXT NOT NULL,
            model TEXT NOT NULL,
            session_id TEXT,
            input_tokens INTEGER NOT NULL DEFAULT 0,
            output_tokens INTEGER NOT NULL DEFAULT 0,
            cache_read_tokens INTEGER NOT NULL DEFAULT 0,
            cache_write_tokens INTEGER NOT NULL DEFAULT 0,
            cost_usd REAL NOT NULL DEFAULT 0
        )""",
        "CREATE INDEX ledger_by_day ON ledger (day)",
        "CREATE INDEX ledger_by_session ON ledger (session_id) WHERE session_id IS NOT NULL",
    )


@migration
def m005_provider_health(db: sqlite3.Connection) -> None:
    """Provider health: the last failure (when, why) and the last answer of each provider."""
    _run(
        db,
        """CREATE TABLE provider_health (
            name TEXT PRIMARY KEY,
            model TEXT NOT NULL DEFAULT '',
            last_failure REAL,
            reason TEXT NOT NULL DEFAULT '',
            failures INTEGER NOT NULL DEFAULT 0,
            last_success REAL,
            cooling_until REAL
        )""",
    )


@migration
def m006_undo_state(db: sqlite3.Connection) -> None:
    """The tool calls ``/undo`` has undone (or reported as irreversible), per session."""
    _run(
        db,
        """CREATE TABLE undo_handled (
            session_id TEXT NOT NULL,
            call_id TEXT NOT NULL,
            handled TEXT NOT NULL,
            PRIMARY KEY (session_id, call_id)
        )""",
    )


@migration
def m007_effects_reported(db: sqlite3.Connection) -> None:
    """When each effect's outcome reached the user; twins of an effect found in any session.

    ``reported`` is set when the turn that holds the result is saved (or at once outside a
    session), and when morrow, starting, tells the user what an earlier run left open. Effects
    journaled before this migration count as reported, except the open ones.
    """
    _run(
        db,
        "ALTER TABLE effects ADD COLUMN reported TEXT",
        "UPDATE effects SET reported = COALESCE(finished, started) "
        "WHERE status NOT IN ('pending', 'unknown')",
        "CREATE INDEX effects_by_twin ON effects (args_sha256)",
        "CREATE INDEX effects_unreported ON effects (id) WHERE reported IS NULL",
    )


@migration
def m008_calendar_index(db: sqlite3.Connection) -> None:
    """The parsed index of .ics files: each file's identity, its events and their occurrences.

    A unit is what one UID's components make (a single event, or a series with its
    overrides); its rows are replaced together when its text changes. An occurrence row
    holds the fields that differ between occurrences; the rest is its template's.
    """
    _run(
        db,
        """CREATE TABLE calendar_files (
            id INTEGER PRIMARY KEY,
            path TEXT NOT NULL UNIQUE,
            size INTEGER NOT NULL,
            mtime_ns INTEGER NOT NULL,
            ctime_ns INTEGER NOT NULL,
            inode INTEGER NOT NULL,
            sha256 TEXT NOT NULL,
            context TEXT NOT NULL,
            horizon REAL NOT NULL,
            longest REAL NOT NULL DEFAULT 0,
            checked_ns INTEGER NOT NULL
        )""",
        """CREATE TABLE calendar_units (
            file INTEGER NOT NULL REFERENCES calendar_files(id) ON DELETE CASCADE,
            unit TEXT NOT NULL,
            hash TEXT NOT NULL,
            open_end INTEGER NOT NULL DEFAULT 0,
            notes TEXT NOT NULL DEFAULT '[]',
            series TEXT,
            below REAL,
            PRIMARY KEY (file, unit)
        )""",
        """CREATE TABLE calendar_templates (
            id INTEGER PRIMARY KEY,
            file INTEGER NOT NULL REFERENCES calendar_files(id) ON DELETE CASCADE,
            unit TEXT NOT NULL,
            doc TEXT NOT NULL
        )""",
        "CREATE INDEX calendar_templates_by_unit ON calendar_templates (file, unit)",
        """CREATE TABLE calendar_events (
            file INTEGER NOT NULL REFERENCES calendar_files(id) ON DELETE CASCADE,
            unit TEXT NOT NULL,
            start REAL NOT NULL,
            stop REAL NOT NULL,
            id TEXT NOT NULL,
            template INTEGER,
            doc TEXT NOT NULL
        )""",
        "CREATE INDEX calendar_events_by_start ON calendar_events (file, start)",
        "CREATE INDEX calendar_events_by_id ON calendar_events (file, id)",
        "CREATE INDEX calendar_events_by_unit ON calendar_events (file, unit)",
    )


_TABLE = "CREATE TABLE IF NOT EXISTS _migrations (name TEXT PRIMARY KEY, applied TEXT NOT NULL)"


def applied(db: sqlite3.Connection) -> list[str]:
    """Names of the migrations already applied to ``db``, in the order they ran."""
    exists = db.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = '_migrations'"
    ).fetchone()
    if not exists:
        return []
    return [row[0] for row in db.execute("SELECT name FROM _migrations ORDER BY rowid")]


def migrate(db: sqlite3.Connection) -> list[str]:
    """Apply every pending migration; return the names applied now.

    ``db`` must be in autocommit mode (``isolation_level=None``): the transaction is explicit.

    Raises:
        SchemaTooNewError: the file lists migrations this version does not know.
    """
    known = [name for name, _ in MIGRATIONS]
    done = applied(db)
    _check_known(done, known)
    if len(done) == len(known):
        return []  # the common case: no write lock taken at all
    db.execute("BEGIN IMMEDIATE")
    try:
        db.execute(_TABLE)
        done = applied(db)  # another process may have migrated while we waited for the lock
        _check_known(done, known)
        now = datetime.now(UTC).isoformat()
        ran = []
        for name, func in MIGRATIONS:
            if name not in done:
                func(db)
                db.execute("INSERT INTO _migrations (name, applied) VALUES (?, ?)", (name, now))
                ran.append(name)
        db.execute("COMMIT")
    except BaseException:
        db.execute("ROLLBACK")
        raise
    return ran


def _check_known(done: list[str], known: list[str]) -> None:
    unknown = [name for name in done if name not in known]
    if unknown:
        raise SchemaTooNewError(
            f"the store was written by a newer morrow (unknown migrations: {', '.join(unknown)})"
        )
