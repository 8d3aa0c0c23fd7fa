"""A SQLite FTS5 index of a Maildir, kept up to date incrementally.

The index is a cache: it can be deleted at any time and is rebuilt from the Maildir (a
corrupt file or an older schema is simply rebuilt). It lives under the home
(``<home>/index/mail.sqlite``), in WAL mode with a busy timeout, so the REPL and a cron
briefing can use it at the same time; every write is a short ``BEGIN IMMEDIATE``
transaction of idempotent upserts, and files are parsed outside of any transaction.

Refreshing is cheap when nothing changed: each folder's ``new/`` and ``cur/`` directory
mtimes are remembered, and only a folder whose directory changed is listed again. In a listed
folder a file is parsed again only when it is new or its size or mtime changed; a rename
(flags changed, or moved from ``new/`` to ``cur/``) only updates the row. A directory
modified in the last two seconds is not remembered as clean, because a second change within
the file system's timestamp granularity would be invisible.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from morrow.tools.email.index_query import CJK_RUNS, COLUMNS, Indexed, Query, where
from morrow.tools.email.reading import Parsed, parse_message, snippet
from morrow.tools.errors import BackendError

SCHEMA_VERSION = "2"
INFO_SEPARATOR = ":" if os.name != "nt" else "!"  # as in the stdlib's mailbox module
MAX_INDEXED_BODY = 200_000
_RECENT_NS = 2_000_000_000
_BATCH = 250
# a refresh reads the rows of one subfolder (new mail: INBOX/new), not of the whole folder
# the names of one subdirectory straight from an index (a flag change lists them all)
_BY_NAME = "CREATE INDEX IF NOT EXISTS messages_by_name ON messages(folder, subdir, name)"
# messages read moments after their file last changed: a writer that skips tmp/ may not
# have finished; they are checked again (stat) until their file is older than a tick
_UNSETTLED = "CREATE TABLE IF NOT EXISTS unsettled(id INTEGER PRIMARY KEY)"

_SCHEMA = """
CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE dirs(path TEXT PRIMARY KEY, mtime_ns INTEGER NOT NULL);
CREATE TABLE messages(
    id INTEGER PRIMARY KEY,
    folder TEXT NOT NULL, key TEXT NOT NULL, subdir TEXT NOT NULL, name TEXT NOT NULL,
    mtime_ns INTEGER NOT NULL, size INTEGER NOT NULL, seen INTEGER NOT NULL,
    date REAL NOT NULL, sender TEXT NOT NULL, recipients TEXT NOT NULL, cc TEXT NOT NULL,
    people_fold TEXT NOT NULL, sender_fold TEXT NOT NULL, subject TEXT NOT NULL,
    snippet TEXT NOT NULL, attachments INTEGER NOT NULL,
    message_id TEXT, thread_id TEXT,
    UNIQUE(folder, key));
CREATE INDEX messages_date ON messages(date, id);
CREATE INDEX messages_message_id ON messages(message_id);
CREATE INDEX messages_thread ON messages(thread_id);
CREATE INDEX IF NOT EXISTS messages_by_name ON messages(folder, subdir, name);
CREATE TABLE refs(message INTEGER NOT NULL, ref TEXT NOT NULL);
CREATE INDEX refs_ref ON refs(ref);
CREATE INDEX refs_message ON refs(message);
CREATE VIRTUAL TABLE fts USING fts5(
    subject, people, body, tokenize = 'unicode61 remove_diacritics 2');
CREATE VIRTUAL TABLE cjk USING fts5(text, tokenize = 'trigram');
CREATE TABLE IF NOT EXISTS unsettled(id INTEGER PRIMARY KEY);
"""


@dataclass(frozen=True)
class _File:
    key: str
    subdir: str
    name: str
    mtime_ns: int
    size: int

    @property
    def seen(self) -> bool:
        info = self.name.partition(INFO_SEPARATOR)[2]
        return info.startswith("2,") and "S" in info[2:]


class MailIndex:
    """The index of one Maildir; ``db_path=None`` keeps it in memory (tests, one-off runs)."""

    def __init__(self, db_path: Path | None, root: Path) -> None:
        self.db_path = db_path
        self.root = root
        self._lock = threading.RLock()
        self._folders: set[str] = set()  # the folders the last refresh saw
        self._db = self._open()

    def close(self) -> None:
        """Close the database connection."""
        with self._lock:
            self._db.close()

    # -- opening -------------------------------------------------------------------------

    def _open(self) -> sqlite3.Connection:
        # Opening is serialized across processes: a fresh file must be created by one of
        # them, and a stale one may only be deleted while nobody else is deciding the same
        # (deleting a database another process has just opened gives it "disk I/O error").
        with self._opening_lock():
            try:
                db = self._connect()
                version = self._version(db)
                if version == (SCHEMA_VERSION, str(self.root)):
                    db.execute("DROP INDEX IF EXISTS messages_by_subdir")  # _BY_NAME covers it
                    db.execute(_BY_NAME)  # older indexes lacked it: added in place
                    db.execute(_UNSETTLED)  # and this, before the flag-change speed-up
                    return db
                if version is None and _is_empty(db):
                    self._create(db)
                    return db
                db.close()
            except sqlite3.DatabaseError:  # corrupt, or not a database: it is only a cache
                pass
            self._delete_files()
            db = self._connect()
            self._create(db)
            return db

    @contextlib.contextmanager
    def _opening_lock(self) -> Iterator[None]:
        if self.db_path is None:
            yield
            return
        from morrow.memory.files import file_lock

        with file_lock(self.db_path.with_name(self.db_path.name + ".lock")):
            yield

    def _connect(self) -> sqlite3.Connection:
        target = ":memory:"
        if self.db_path is not None:
            try:
                self.db_path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise BackendError(f"cannot create {self.db_path.parent}: {exc}") from None
            target = str(self.db_path)
        db = sqlite3.connect(target, timeout=30, isolation_level=None, check_same_thread=False)
        db.execute("PRAGMA busy_timeout = 30000")
        if self.db_path is not None:
            db.execute("PRAGMA journal_mode = WAL")
            db.execute("PRAGMA synchronous = NORMAL")  # a cache: losing the tail is harmless
        return db

    def _version(self, db: sqlite3.Connection) -> tuple[str, str] | None:
        try:
            rows = dict(db.execute("SELECT key, value FROM meta").fetchall())
        except sqlite3.OperationalError:  # no meta table yet
            return None
        return rows.get("schema", ""), rows.get("root", "")

    def _create(self, db: sqlite3.Connection) -> None:
        with _immediate(db):
            if self._version(db) is not None:  # another process created it meanwhile
                return
            for statement in _SCHEMA.strip().split(";"):
                if statement.strip():
                    db.execute(statement)
            db.executemany(
                "INSERT INTO meta VALUES (?, ?)",
                [("schema", SCHEMA_VERSION), ("root", str(self.root))],
            )

    def _delete_files(self) -> None:
        if self.db_path is None:
            return
        for suffix in ("", "-wal", "-shm"):
            with contextlib.suppress(FileNotFoundError):
                Path(f"{self.db_path}{suffix}").unlink()

    # -- refreshing ------------------------------------------------------------------------

    def refresh(self, folders: dict[str, Path]) -> None:
        """Bring the index up to date with the folders' files (name -> folder directory)."""
        with self._lock:
            stamps = dict(self._db.execute("SELECT path, mtime_ns FROM dirs").fetchall())
            for folder, base in folders.items():
                current = {sub: _mtime_ns(base / sub) for sub in ("new", "cur")}
                before = {sub: stamps.get(str(base / sub)) for sub in current}
                changed = {sub for sub, ns in current.items() if before[sub] != ns}
                if not changed:
                    continue
                # a directory first seen, or changed within a tick of the last look: every
                # file is checked (size, mtime); otherwise names tell what changed
                careful = {sub for sub in changed if before[sub] is None}
                if careful:
                    self._rescan(folder, base, changed, careful)
                else:
                    self._rescan_names(folder, base, changed)
                self._remember(base, current)
            if set(folders) != self._folders:  # a folder was added or removed
                self._forget_folders(set(folders))
                self._folders = set(folders)

    def _rescan(self, folder: str, base: Path, subdirs: set[str], careful: set[str]) -> None:
        """Index what changed in the folder's ``subdirs``.

        A Maildir message is never rewritten in place: a new name is a new message, a
        renamed one (flags, new/ to cur/) the same message moved. So a file whose name the
        index knows is not looked at again, unless its directory is ``careful``.
        """
        on_disk = _list_files(base, subdirs, careful, self.root)
        marks = ",".join("?" * len(subdirs))
        known = {
            key: (subdir, name, mtime, size)
            for key, subdir, name, mtime, size in self._db.execute(
                "SELECT key, subdir, name, mtime_ns, size FROM messages "
                f"WHERE folder = ? AND subdir IN ({marks})",
                (folder, *subdirs),
            )
        }
        for key, row in self._known_elsewhere(folder, [k for k in on_disk if k not in known]):
            known[key] = row
        gone = [key for key, row in known.items() if row[0] in subdirs and key not in on_disk]
        moved: list[_File] = []
        changed: list[_File] = []
        for key, file in on_disk.items():
            old = known.get(key)
            if old is None or (file.size >= 0 and old[2:] != (file.mtime_ns, file.size)):
                changed.append(file)
            elif old[:2] != (file.subdir, file.name):
                moved.append(file)
        changed = [f for f in map(_stat_of(base), changed) if f is not None]
        self._write(folder, gone=gone, moved=moved, parsed=[])
        for start in range(0, len(changed), _BATCH):
            batch = changed[start : start + _BATCH]
            parsed = [(f, p) for f in batch if (p := _parse_file(base, f)) is not None]
            self._write(folder, gone=[], moved=[], parsed=parsed)

    def _rescan_names(self, folder: str, base: Path, subdirs: set[str]) -> None:
        """Index what changed in ``subdirs`` of a folder indexed before, by names alone.

        A flag change or a new message in a big folder is a few names among 100,000: the
        names on disk and in the index are compared as sets, and only the difference is
        looked at (no object per file, no stat). Names suffice because a Maildir message
        is never rewritten in place; the few read moments after they were written are
        checked again (:meth:`_rewritten`).
        """
        indexed = {
            sub: {
                name
                for (name,) in self._db.execute(
                    "SELECT name FROM messages WHERE folder = ? AND subdir = ?", (folder, sub)
                )
            }
            for sub in subdirs
        }
        on_disk = {sub: _list_names(base / sub, self.root) for sub in subdirs}
        appeared = [(sub, n) for sub in ("new", "cur") if sub in subdirs for n in on_disk[sub]]
        appeared = [(sub, n) for sub, n in appeared if n not in indexed[sub]]  # cur comes last
        vanished = {
            name.partition(INFO_SEPARATOR)[0]
            for sub in subdirs
            for name in indexed[sub] - on_disk[sub]
        }
        rewritten = self._rewritten(folder, base, subdirs, on_disk)
        found: dict[str, _File] = {}
        for subdir, name in appeared:  # a key in both (a crash mid-move): cur's wins
            key = name.partition(INFO_SEPARATOR)[0]
            found[key] = _File(key, subdir, name, -1, -1)
        elsewhere = dict(self._known_elsewhere(folder, [k for k in found if k not in vanished]))
        moved = [f for k, f in found.items() if k in vanished or k in elsewhere]
        fresh = [f for k, f in found.items() if k not in vanished and k not in elsewhere]
        fresh += rewritten
        gone = [key for key in vanished if key not in found]
        self._write(folder, gone=gone, moved=moved, parsed=[])
        fresh = [f for f in map(_stat_of(base), fresh) if f is not None]
        for start in range(0, len(fresh), _BATCH):
            batch = fresh[start : start + _BATCH]
            parsed = [(f, p) for f in batch if (p := _parse_file(base, f)) is not None]
            self._write(folder, gone=[], moved=[], parsed=parsed)

    def _rewritten(
        self, folder: str, base: Path, subdirs: set[str], on_disk: dict[str, set[str]]
    ) -> list[_File]:
        """Unsettled messages (read moments after their file changed) that changed since.

        Each is stat'ed: changed, it is read again; unchanged and older than a tick now, it
        is settled. A Maildir message is otherwise never looked at twice.
        """
        marks = ",".join("?" * len(subdirs))
        rows = self._db.execute(
            "SELECT m.id, key, subdir, name, mtime_ns, size FROM messages m "
            f"JOIN unsettled u ON u.id = m.id WHERE folder = ? AND subdir IN ({marks})",
            (folder, *subdirs),
        ).fetchall()
        changed, settled = [], []
        now_ns, stat = time.time_ns(), _stat_of(base)
        for rowid, key, subdir, name, mtime, size in rows:
            if name not in on_disk[subdir]:
                continue  # gone or renamed: seen by the names
            found = stat(_File(key, subdir, name, -1, -1))
            if found is not None and (found.mtime_ns, found.size) != (mtime, size):
                changed.append(found)
            elif found is not None and now_ns - found.mtime_ns >= _RECENT_NS:
                settled.append((rowid,))
        if settled:
            with _immediate(self._db):
                self._db.executemany("DELETE FROM unsettled WHERE id = ?", settled)
        return changed

    def _known_elsewhere(
        self, folder: str, keys: list[str]
    ) -> list[tuple[str, tuple[str, str, int, int]]]:
        """Index rows of these keys in the folder's other subdirectory (moved files)."""
        found = []
        for start in range(0, len(keys), 500):
            batch = keys[start : start + 500]
            rows = self._db.execute(
                "SELECT key, subdir, name, mtime_ns, size FROM messages "
                f"WHERE folder = ? AND key IN ({','.join('?' * len(batch))})",
                (folder, *batch),
            )
            found += [(key, (subdir, name, mtime, size)) for key, subdir, name, mtime, size in rows]
        return found

    def _write(
        self,
        folder: str,
        *,
        gone: list[str],
        moved: list[_File],
        parsed: list[tuple[_File, Parsed]],
    ) -> None:
        if not (gone or moved or parsed):
            return
        with _immediate(self._db):
            for key in gone:
                self._delete(folder, key)
            for file in moved:
                self._db.execute(
                    "UPDATE messages SET subdir = ?, name = ?, seen = ? "
                    "WHERE folder = ? AND key = ?",
                    (file.subdir, file.name, int(file.seen), folder, file.key),
                )
            for file, message in parsed:
                self._delete(folder, file.key)
                self._insert(folder, file, message)

    def _delete(self, folder: str, key: str) -> None:
        row = self._db.execute(
            "SELECT id FROM messages WHERE folder = ? AND key = ?", (folder, key)
        ).fetchone()
        if row is None:
            return
        tables = (
            ("messages", "id"),
            ("fts", "rowid"),
            ("cjk", "rowid"),
            ("refs", "message"),
            ("unsettled", "id"),
        )
        for table, column in tables:
            self._db.execute(f"DELETE FROM {table} WHERE {column} = ?", (row[0],))

    def _insert(self, folder: str, file: _File, message: Parsed) -> None:
        date = message.date or datetime.fromtimestamp(file.mtime_ns / 1e9, UTC)
        people = " ".join([message.sender, *message.to, *message.cc])
        cursor = self._db.execute(
            "INSERT INTO messages (folder, key, subdir, name, mtime_ns, size, seen, date, "
            "sender, recipients, cc, people_fold, sender_fold, subject, snippet, attachments, "
            "message_id, thread_id) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (
                folder,
                file.key,
                file.subdir,
                file.name,
                file.mtime_ns,
                file.size,
                int(file.seen),
                date.timestamp(),
                message.sender,
                json.dumps(message.to, ensure_ascii=False),
                json.dumps(message.cc, ensure_ascii=False),
                people.casefold(),
                message.sender.casefold(),
                message.subject,
                snippet(message.body),
                len(message.attachments),
                message.message_id,
                message.thread_root,
            ),
        )
        rowid = cursor.lastrowid
        if time.time_ns() - file.mtime_ns < _RECENT_NS:
            self._db.execute("INSERT OR IGNORE INTO unsettled (id) VALUES (?)", (rowid,))
        self._db.execute(
            "INSERT INTO fts (rowid, subject, people, body) VALUES (?, ?, ?, ?)",
            (rowid, message.subject, people, message.body[:MAX_INDEXED_BODY]),
        )
        runs = CJK_RUNS.findall(f"{message.subject} {people} {message.body[:MAX_INDEXED_BODY]}")
        if runs:  # unicode61 keeps a CJK run as one token: a trigram index finds words in it
            self._db.execute("INSERT INTO cjk (rowid, text) VALUES (?, ?)", (rowid, " ".join(runs)))
        refs = {*message.references, *([message.in_reply_to] if message.in_reply_to else [])}
        self._db.executemany(
            "INSERT INTO refs (message, ref) VALUES (?, ?)", [(rowid, ref) for ref in refs]
        )

    def _remember(self, base: Path, stamps: dict[str, int | None]) -> None:
        now = time.time_ns()
        with _immediate(self._db):
            for sub, ns in stamps.items():
                # a directory changed moments ago may change again within its mtime's tick
                stored = -1 if ns is None or now - ns < _RECENT_NS else ns
                self._db.execute(
                    "INSERT OR REPLACE INTO dirs (path, mtime_ns) VALUES (?, ?)",
                    (str(base / sub), stored),
                )

    def _forget_folders(self, present: set[str]) -> None:
        indexed = {row[0] for row in self._db.execute("SELECT DISTINCT folder FROM messages")}
        for folder in indexed - present:
            keys = [
                k
                for (k,) in self._db.execute("SELECT key FROM messages WHERE folder = ?", (folder,))
            ]
            self._write(folder, gone=keys, moved=[], parsed=[])

    # -- queries ---------------------------------------------------------------------------

    def search(self, query: Query) -> list[Indexed]:
        """Messages matching every filter, newest first."""
        join, conditions, params = where(query)
        sql = (
            f"SELECT {COLUMNS} FROM messages m{join} WHERE {' AND '.join(conditions)} "
            "ORDER BY m.date DESC, m.id DESC LIMIT ?"
        )
        with self._lock:
            rows = self._db.execute(sql, (*params, query.limit)).fetchall()
        return [Indexed.from_row(row) for row in rows]

    def locate(self, folder: str, key: str) -> Indexed | None:
        """The message with this folder and key, if indexed."""
        with self._lock:
            row = self._db.execute(
                f"SELECT {COLUMNS} FROM messages m WHERE m.folder = ? AND m.key = ?",
                (folder, key),
            ).fetchone()
        return None if row is None else Indexed.from_row(row)

    def by_message_id(self, message_id: str) -> list[Indexed]:
        """Every copy of the message with this Message-ID."""
        with self._lock:
            rows = self._db.execute(
                f"SELECT {COLUMNS} FROM messages m WHERE m.message_id = ? ORDER BY m.date",
                (message_id,),
            ).fetchall()
        return [Indexed.from_row(row) for row in rows]

    def thread(self, thread_id: str, limit: int = 200) -> list[Indexed]:
        """The messages linked to ``thread_id`` through Message-ID, In-Reply-To, References."""
        ids, found = {thread_id}, set[int]()
        with self._lock:
            for _ in range(8):  # each round follows one more link; real threads need 2-3
                new = self._linked(ids) - found
                if not new or len(found) >= limit:
                    break
                found |= new
                ids |= self._ids_of(new)
            rows = self._rows(sorted(found)[:limit])
        return sorted((Indexed.from_row(r) for r in rows), key=lambda m: m.date)

    def _linked(self, ids: set[str]) -> set[int]:
        marks = ",".join("?" * len(ids))
        sql = (
            f"SELECT id FROM messages WHERE message_id IN ({marks}) OR thread_id IN ({marks}) "
            f"UNION SELECT message FROM refs WHERE ref IN ({marks})"
        )
        values = list(ids)
        return {row[0] for row in self._db.execute(sql, values * 3)}

    def _ids_of(self, rowids: set[int]) -> set[str]:
        marks = ",".join("?" * len(rowids))
        values = list(rowids)
        own = self._db.execute(
            f"SELECT message_id FROM messages WHERE id IN ({marks}) AND message_id IS NOT NULL",
            values,
        )
        refs = self._db.execute(f"SELECT ref FROM refs WHERE message IN ({marks})", values)
        return {row[0] for row in own} | {row[0] for row in refs}

    def _rows(self, rowids: list[int]) -> list[tuple[object, ...]]:
        if not rowids:
            return []
        marks = ",".join("?" * len(rowids))
        return self._db.execute(
            f"SELECT {COLUMNS} FROM messages m WHERE m.id IN ({marks})", rowids
        ).fetchall()

    def people(self, needle: str, limit: int = 5000) -> list[Indexed]:
        """Messages whose sender or recipients contain ``needle`` (case-insensitive)."""
        with self._lock:
            rows = self._db.execute(
                f"SELECT {COLUMNS} FROM messages m WHERE instr(m.people_fold, ?) > 0 "
                "ORDER BY m.date DESC LIMIT ?",
                (needle.casefold(), limit),
            ).fetchall()
        return [Indexed.from_row(row) for row in rows]


def _is_empty(db: sqlite3.Connection) -> bool:
    (count,) = db.execute("SELECT count(*) FROM sqlite_master").fetchone()
    return int(count) == 0


@contextlib.contextmanager
def _immediate(db: sqlite3.Connection) -> Iterator[None]:
    db.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")


def _mtime_ns(path: Path) -> int | None:
    try:
        return path.stat().st_mtime_ns
    except OSError:
        return None


def _list_files(base: Path, subdirs: set[str], careful: set[str], root: Path) -> dict[str, _File]:
    """The messages in ``base``'s ``subdirs``; stat'ed only in ``careful`` ones (else -1).

    A symbolic link pointing out of the Maildir is not a message of it: it is left out.
    """
    files: dict[str, _File] = {}
    for subdir in ("new", "cur"):  # cur second: a key in both (a crash mid-move) keeps cur
        if subdir not in subdirs:
            continue
        try:
            entries = list(os.scandir(base / subdir))
        except FileNotFoundError:
            continue
        except OSError as exc:
            raise BackendError(f"cannot list {base / subdir}: {exc}") from exc
        for entry in entries:
            if entry.name.startswith(".") or (entry.is_symlink() and not inside(root, entry.path)):
                continue
            mtime, size = -1, -1
            if subdir in careful:
                try:
                    stat = entry.stat()
                except OSError:  # renamed or deleted since the listing; the next refresh sees it
                    continue
                mtime, size = stat.st_mtime_ns, stat.st_size
            key = entry.name.partition(INFO_SEPARATOR)[0]
            files[key] = _File(key, subdir, entry.name, mtime, size)
    return files


def _list_names(directory: Path, root: Path) -> set[str]:
    """The names of the messages in one subdirectory; links out of the Maildir left out."""
    try:
        entries = os.scandir(directory)
    except FileNotFoundError:
        return set()
    except OSError as exc:
        raise BackendError(f"cannot list {directory}: {exc}") from exc
    with entries:
        return {
            entry.name
            for entry in entries
            if not entry.name.startswith(".")
            and not (entry.is_symlink() and not inside(root, entry.path))
        }


def _stat_of(base: Path) -> Callable[[_File], _File | None]:
    """A file as listed, with its size and mtime (None when it is gone)."""

    def stat(file: _File) -> _File | None:
        if file.size >= 0:
            return file
        try:
            found = (base / file.subdir / file.name).stat()
        except OSError:
            return None
        return _File(file.key, file.subdir, file.name, found.st_mtime_ns, found.st_size)

    return stat


def inside(root: Path, path: str | Path) -> bool:
    """Whether ``path`` (links followed) is in the Maildir ``root``: never read outside it."""
    real_root = os.path.realpath(root)
    return os.path.realpath(path).startswith(real_root.rstrip(os.sep) + os.sep)


def _parse_file(base: Path, file: _File) -> Parsed | None:
    try:
        data = (base / file.subdir / file.name).read_bytes()  # the listing kept it inside
    except OSError:  # gone since the listing
        return None
    return parse_message(data)
