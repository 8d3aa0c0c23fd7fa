"""The store's tables for parsed calendar files: a cache of what the user's .ics files say.

``tools/calendar/ics_index.py`` parses a file and hands this module rows; this module only
keeps them and finds them again. Everything here can be rebuilt from the files, so a row that
does not match its file is replaced, never trusted.

- ``calendar_files``: one row per file (by its real path): its identity when it was read
  (size, mtime, ctime, inode and the SHA-256 of its bytes), the ``context`` its events were
  read in (the user's zone and address, the calendar's time zone definitions), the
  ``horizon`` up to which series are expanded, and the longest event (for range queries).
- ``calendar_units``: what one UID's components make (a single event, or a series with its
  overrides), with the hash of their text: a unit whose text did not change is not read again.
- ``calendar_events``: one row per event or stored occurrence: its span in seconds since
  1970 (UTC), its id and its JSON document; an occurrence's document holds only what differs
  between occurrences, the rest is in its ``calendar_templates`` row.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field

from morrow.memory.store import Store


@dataclass(frozen=True)
class FileState:
    """What the index knows of a file.

    Attributes:
        id: the file's row.
        stat: (size, mtime_ns, ctime_ns, inode) when it was last read or confirmed.
        sha256: the hash of its bytes then.
        context: what its events were read in (a hash), e.g. the user's zone.
        horizon: series are expanded up to this instant (seconds since 1970).
        longest: the longest event's length in seconds (or more).
        checked_ns: when the stat was last confirmed (nanoseconds since 1970).
    """

    id: int
    stat: tuple[int, int, int, int]
    sha256: str
    context: str
    horizon: float
    longest: float
    checked_ns: int


@dataclass
class UnitRows:
    """The rows of one unit (a UID's components), as the parser made them.

    Attributes:
        unit: the UID (or a key standing for an event without one).
        hash: the hash of the unit's text.
        open_end: whether the series goes on after the horizon.
        notes: what could not be read (``(line, None)``) or was cut (``(line, instant)``: said
            only of a question reaching past that instant).
        series: the JSON document of the whole series (what ``get_event`` of its UID shows).
        below: occurrences before this instant are not stored yet (a series begun long ago:
            its past is expanded when a question reaches it); None: all are.
        templates: JSON documents shared by occurrences.
        events: (start, stop, id, index into ``templates`` or None, JSON document).
    """

    unit: str
    hash: str
    open_end: bool = False
    notes: list[tuple[str, float | None]] = field(default_factory=list)
    series: str | None = None
    below: float | None = None
    templates: list[str] = field(default_factory=list)
    events: list[tuple[float, float, str, int | None, str]] = field(default_factory=list)


class CalendarIndex:
    """The calendar tables of a :class:`~morrow.memory.store.Store`."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def file(self, path: str) -> FileState | None:
        """The index's row of ``path``, if it has one."""
        return self.files([path]).get(path)

    def files(self, paths: list[str]) -> dict[str, FileState]:
        """The index's rows of these files, by path."""
        found: dict[str, FileState] = {}
        for start in range(0, len(paths), 500):
            batch = paths[start : start + 500]
            rows = self.store._tuples(
                "SELECT path, id, size, mtime_ns, ctime_ns, inode, sha256, context, horizon, "
                f"longest, checked_ns FROM calendar_files WHERE path IN ({_marks(batch)})",
                tuple(batch),
            )
            for path, *row in rows:
                stat = (row[1], row[2], row[3], row[4])
                found[path] = FileState(row[0], stat, row[5], row[6], row[7], row[8], row[9])
        return found

    def forget(self, folder: str, keep: set[str]) -> None:
        """Drop the files under ``folder`` (a path ending in "/") that are not in ``keep``."""
        rows = self.store._tuples(
            "SELECT path FROM calendar_files WHERE substr(path, 1, ?) = ?", (len(folder), folder)
        )
        gone = [path for (path,) in rows if path not in keep]
        if gone:
            with self.store.write() as db:
                for path in gone:
                    db.execute("DELETE FROM calendar_files WHERE path = ?", (path,))

    def path_of(self, file_id: int) -> str:
        """The path of the file with this row."""
        return str(
            self.store._tuples("SELECT path FROM calendar_files WHERE id = ?", (file_id,))[0][0]
        )

    def unit_hashes(self, file_id: int) -> dict[str, str]:
        """Each unit of the file and the hash of the text it was read from."""
        rows = self.store._tuples(
            "SELECT unit, hash FROM calendar_units WHERE file = ?", (file_id,)
        )
        return dict(rows)

    def below(self, file_ids: list[int]) -> dict[tuple[int, str], float]:
        """The units whose past is not stored yet: (file, unit) -> from when it is."""
        rows = self.store._tuples(
            "SELECT file, unit, below FROM calendar_units WHERE below IS NOT NULL "
            f"AND file IN ({_marks(file_ids)})",
            tuple(file_ids),
        )
        return {(file, unit): below for file, unit, below in rows}

    def extend(self, file_id: int, rows: UnitRows, below: float) -> None:
        """Store a unit's past occurrences (those before ``below``), once across processes."""
        with self.store.write() as db:
            found = db.execute(
                "SELECT below FROM calendar_units WHERE file = ? AND unit = ?", (file_id, rows.unit)
            ).fetchone()
            if found is None or found[0] != below:
                return  # changed or extended meanwhile
            _insert_rows(db, file_id, rows)
            db.execute(
                "UPDATE calendar_units SET below = NULL WHERE file = ? AND unit = ?",
                (file_id, rows.unit),
            )
            db.execute(
                "UPDATE calendar_files SET longest = max(longest, ?) WHERE id = ?",
                (max((b - a for a, b, *_ in rows.events), default=0.0), file_id),
            )

    def open_units(self, file_id: int) -> list[str]:
        """The units whose series go on after the horizon."""
        rows = self.store._tuples(
            "SELECT unit FROM calendar_units WHERE file = ? AND open_end", (file_id,)
        )
        return [unit for (unit,) in rows]

    def save(
        self,
        path: str,
        state: FileState,
        *,
        keep: set[str],
        added: Iterable[UnitRows],
    ) -> int:
        """Write a file's new identity, drop the units not in ``keep`` and (re)place ``added``.

        ``state.id`` is ignored; the file's row is created when missing. Returns its id.
        Units are dropped inside the transaction, so another process's rows of units the
        file no longer has cannot survive it.
        """
        with self.store.write() as db:
            found = db.execute("SELECT id FROM calendar_files WHERE path = ?", (path,)).fetchone()
            values = (*state.stat, state.sha256, state.context, state.horizon, state.checked_ns)
            if found is None:
                file_id = db.execute(
                    "INSERT INTO calendar_files (size, mtime_ns, ctime_ns, inode, sha256, "
                    "context, horizon, checked_ns, path) VALUES (?,?,?,?,?,?,?,?,?)",
                    (*values, path),
                ).lastrowid
            else:
                file_id = found[0]
                db.execute(
                    "UPDATE calendar_files SET size = ?, mtime_ns = ?, ctime_ns = ?, inode = ?, "
                    "sha256 = ?, context = ?, horizon = ?, checked_ns = ? WHERE id = ?",
                    (*values, file_id),
                )
            assert file_id is not None
            present = {
                u
                for (u,) in db.execute("SELECT unit FROM calendar_units WHERE file = ?", (file_id,))
            }
            added = list(added)
            for unit in (present - keep) | {rows.unit for rows in added}:
                for table in ("calendar_events", "calendar_templates", "calendar_units"):
                    db.execute(f"DELETE FROM {table} WHERE file = ? AND unit = ?", (file_id, unit))
            for rows in added:
                _insert(db, file_id, rows)
            db.execute(
                "UPDATE calendar_files SET longest = (SELECT coalesce(max(stop - start), 0) "
                "FROM calendar_events WHERE file = ?) WHERE id = ?",
                (file_id, file_id),
            )
        return int(file_id)

    def confirm(self, file_id: int, stat: tuple[int, int, int, int], checked_ns: int) -> None:
        """The file is unchanged (same bytes): remember its current stat."""
        with self.store.write() as db:
            db.execute(
                "UPDATE calendar_files SET size = ?, mtime_ns = ?, ctime_ns = ?, inode = ?, "
                "checked_ns = ? WHERE id = ?",
                (*stat, checked_ns, file_id),
            )

    def events(
        self, states: list[FileState], low: float, high: float
    ) -> list[tuple[str, float, str, str | None]]:
        """(unit, start, document, template) of the events overlapping ``[low, high)``.

        An event of no length counts when it is at ``low``; ``low == high`` asks for the
        events at that instant. Ordered by start.
        """
        upper = "e.start <= ?" if low == high else "e.start < ?"
        found: list[tuple[str, float, str, str | None]] = []
        for start in range(0, len(states), 500):
            batch = states[start : start + 500]
            longest = max(s.longest for s in batch)
            found += self.store._tuples(
                "SELECT e.unit, e.start, e.doc, t.doc FROM calendar_events e "
                "LEFT JOIN calendar_templates t ON t.id = e.template "
                f"WHERE e.file IN ({_marks(batch)}) AND e.start >= ? AND {upper} "
                "AND (e.stop > ? OR (e.start = e.stop AND e.start >= ?)) ORDER BY e.start",
                (*(s.id for s in batch), low - longest - 1, high, low, low),
            )
        return sorted(found, key=lambda row: row[1]) if len(states) > 500 else found

    def by_id(self, file_ids: list[int], event_id: str) -> list[tuple[int, str, str | None]]:
        """(file, document, template) of the events with this id (a UID used twice: several)."""
        return self.store._tuples(
            "SELECT e.file, e.doc, t.doc FROM calendar_events e "
            "LEFT JOIN calendar_templates t ON t.id = e.template "
            f"WHERE e.id = ? AND e.file IN ({_marks(file_ids)}) ORDER BY e.start",
            (event_id, *file_ids),
        )

    def holder(self, file_ids: list[int], unit: str) -> int | None:
        """The file (of these) holding the unit ``unit``, if one does."""
        rows = self.store._tuples(
            f"SELECT file FROM calendar_units WHERE unit = ? AND file IN ({_marks(file_ids)})",
            (unit, *file_ids),
        )
        return rows[0][0] if rows else None

    def notes(self, file_ids: list[int], until: float | None) -> list[str]:
        """The units' notes (events skipped, and series cut before ``until``; None: all)."""
        rows = self.store._tuples(
            f"SELECT notes FROM calendar_units WHERE file IN ({_marks(file_ids)}) "
            "AND notes != '[]' ORDER BY file, unit",
            tuple(file_ids),
        )
        return [
            note
            for (text,) in rows
            for note, after in json.loads(text)
            if after is None or until is None or until > after
        ]

    def series(self, file_ids: list[int], unit: str) -> str | None:
        """The JSON document of the series with this UID, if there is one."""
        rows = self.store._tuples(
            "SELECT series FROM calendar_units WHERE series IS NOT NULL AND unit = ? "
            f"AND file IN ({_marks(file_ids)})",
            (unit, *file_ids),
        )
        return rows[0][0] if rows else None

    def counts(self) -> list[tuple[str, int]]:
        """Each indexed file and its number of event rows (for ``morrow memory export``)."""
        return self.store._tuples(
            "SELECT f.path, count(e.id) FROM calendar_files f "
            "LEFT JOIN calendar_events e ON e.file = f.id GROUP BY f.id ORDER BY f.path",
            (),
        )


def _marks(values: list[object] | list[str] | list[int] | list[FileState]) -> str:
    return ",".join("?" * len(values))


def _insert(db: object, file_id: int, rows: UnitRows) -> None:
    """Insert one unit's rows."""
    db.execute(  # type: ignore[attr-defined]
        "INSERT INTO calendar_units (file, unit, hash, open_end, notes, series, below) "
        "VALUES (?,?,?,?,?,?,?)",
        (
            file_id,
            rows.unit,
            rows.hash,
            int(rows.open_end),
            json.dumps(rows.notes),
            rows.series,
            rows.below,
        ),
    )
    _insert_rows(db, file_id, rows)


def _insert_rows(db: object, file_id: int, rows: UnitRows) -> None:
    """Insert a unit's templates and events (its row exists)."""
    execute = db.execute  # type: ignore[attr-defined]
    ids = [
        execute(
            "INSERT INTO calendar_templates (file, unit, doc) VALUES (?,?,?)",
            (file_id, rows.unit, doc),
        ).lastrowid
        for doc in rows.templates
    ]
    db.executemany(  # type: ignore[attr-defined]
        "INSERT INTO calendar_events (file, unit, start, stop, id, template, doc) "
        "VALUES (?,?,?,?,?,?,?)",
        [
            (file_id, rows.unit, start, stop, event_id, None if t is None else ids[t], doc)
            for start, stop, event_id, t, doc in rows.events
        ],
    )
