"""The parsed index of one .ics file, kept in the store: read once, re-read only what changed.

Ten years of calendar is thousands of events; parsing them all for every question takes a
second and more. The index keeps every event, and every occurrence of every series up to a
horizon about a year ahead, as rows of the store (``memory/calendar_index.py``), so a week is
one query. It is kept true to the file:

- **Identity.** The file is known by its size, mtime, ctime and inode, and by the SHA-256 of
  its bytes. A stat that differs, or one taken less than two seconds after the file last
  changed (a second change within the same clock tick would not show), makes the file be read
  and hashed again; a file changed by another program is never served stale. The same bytes
  (a ``touch``) only refresh the stat.
- **Only what changed is parsed.** The file is split into its components by their BEGIN and
  END lines (:mod:`morrow.tools.calendar.ical_text`); the components of one UID form a unit,
  known by the hash of their text. Units whose text is unchanged keep their rows. A change to
  the calendar's time zone definitions, its X-WR-TIMEZONE, the user's zone or address reads
  every unit again.
- **Plain events are read without icalendar** (:func:`~morrow.tools.calendar.ical_text.read_plain`);
  series, and anything unusual, go through :class:`~morrow.tools.calendar.ical.IcalView`,
  all of them in one parse. An event that cannot be read is left out and named.
- **Series** are expanded up to the horizon within limits (:mod:`morrow.tools.calendar.recurrence`);
  a series that repeats too often is cut, and the cut is said. A question reaching past the
  horizon expands the open series for that part on the fly.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import threading
import time as clock
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from morrow.memory.calendar_index import CalendarIndex, FileState
from morrow.memory.store import Store
from morrow.tools.calendar import ical_text
from morrow.tools.calendar.backend import Event, Events
from morrow.tools.calendar.ical_text import BOM, Layout, Snapshot, unit_hashes, units_of
from morrow.tools.errors import BackendError, NotFoundError, printable

VERSION = "1"  # what the rows hold; a new version reads every file again
MAX_LISTED = 2_000  # occurrences of one series in one answer
RACY_NS = 2_000_000_000


class IcsIndex:
    """The index of one .ics file or of a folder of them (one file per event, a vdir).

    Args:
        path: the file, or the folder whose ``*.ics`` files make the calendar (a symbolic
            link is followed; the index is kept under the real path; a link in a folder that
            points out of it is not read).
        timezone: the user's zone; floating times and dates are read in it.
        me: the user's address (their answer to invitations).
        store: the store holding the index; None keeps a private one in memory.
        clock: "now", which decides the horizon of expanded series.
    """

    def __init__(
        self,
        path: Path,
        timezone: ZoneInfo,
        me: str | None,
        store: Store | None,
        clock: Callable[[], datetime],
    ) -> None:
        self.path = path
        self.timezone = timezone
        self.me = me
        self.clock = clock
        self.tables = CalendarIndex(store if store is not None else Store.in_memory())
        self.settings = ical_text.digest(
            VERSION.encode(), timezone.key.encode(), (me or "").encode()
        )
        self.parses = 0  # units parsed (with icalendar or not): the tests count them
        self._lock = threading.RLock()

    # -- keeping it current ------------------------------------------------------------------

    def is_folder(self) -> bool:
        """Whether the calendar is a folder of .ics files."""
        return self.path.is_dir()

    def files(self) -> list[Path]:
        """The real paths of the calendar's files (those that exist)."""
        real = Path(os.path.realpath(self.path))
        if not real.is_dir():
            return [real] if real.exists() else []
        inside = []
        for entry in sorted(real.glob("*.ics")):
            target = Path(os.path.realpath(entry))
            if target.parent == real and target.is_file():  # never read out of the folder
                inside.append(target)
        return inside

    def states(self) -> list[FileState]:
        """Every file of the calendar, its index brought up to date."""
        with self._lock:
            files = self.files()
            known = self.tables.files([str(f) for f in files])
            if self.is_folder():
                folder = str(Path(os.path.realpath(self.path))) + os.sep
                self.tables.forget(folder, {str(f) for f in files})
            found = []
            for real in files:
                state = self.current(real, known.get(str(real)))
                if state is not None:
                    found.append(state)
            return found

    def current(
        self,
        real: Path,
        state: FileState | None,
        given: tuple[bytes, Layout] | None = None,
    ) -> FileState | None:
        """The index of one file brought up to date (``given``: what was just written to it)."""
        try:
            stat = _stat(real)
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise BackendError(f"cannot read calendar {real}: {printable(exc)}") from None
        horizon = self._horizon()
        if given is None and state is not None and self._trusted(state, stat, horizon):
            return state
        data = given[0] if given is not None else _read(real)
        sha = hashlib.sha256(data).hexdigest()
        if state is not None and state.sha256 == sha and state.horizon >= horizon:
            if state.context.startswith(self.settings):
                self.tables.confirm(state.id, stat, clock.time_ns())
                return self.tables.file(str(real))
        layout = given[1] if given is not None else ical_text.split(data)
        return self._rebuild(real, Snapshot(data, layout, stat), sha, state, horizon)

    def written(self, real: Path, data: bytes, layout: Layout) -> None:
        """A write put ``data`` in ``real``: index what changed."""
        with self._lock:
            self.current(real, self.tables.file(str(real)), (data, layout))

    def _trusted(self, state: FileState, stat: tuple[int, int, int, int], horizon: float) -> bool:
        changed_ns = max(stat[1], stat[2])
        return (
            state.stat == stat
            and state.checked_ns - changed_ns > RACY_NS
            and state.horizon >= horizon
            and state.context.startswith(self.settings)
        )

    def _floor(self) -> float:
        """Series begun before the first of January of last year are stored from it on."""
        year = self.clock().astimezone(UTC).year - 1
        return datetime(year, 1, 1, tzinfo=UTC).timestamp()

    def _horizon(self) -> float:
        """Series are expanded up to the first of the month about 13 months from now."""
        ahead = self.clock().astimezone(UTC) + timedelta(days=400)
        return datetime(ahead.year, ahead.month, 1, tzinfo=UTC).timestamp()

    def _rebuild(
        self,
        real: Path,
        snap: Snapshot,
        sha: str,
        state: FileState | None,
        horizon: float,
    ) -> FileState:
        layout = snap.layout
        if not layout.chunks and not layout.calendars and snap.data.strip(b" \t\r\n" + BOM):
            shown = printable(snap.data[:80])
            raise BackendError(f"cannot parse calendar {real}: not iCalendar ({shown})")
        context = self.settings + ical_text.digest(layout.header(snap.data))
        units = units_of(snap)
        hashes = unit_hashes(snap, units, context)
        known = self.tables.unit_hashes(state.id) if state is not None else {}
        stale = (
            set(self.tables.open_units(state.id)) if state and state.horizon < horizon else set()
        )
        changed = {u: units[u] for u in units if known.get(u) != hashes[u] or u in stale}
        from morrow.tools.calendar.ics_units import UnitReader  # icalendar: only to parse

        reader = UnitReader(self.timezone, self.me, snap, horizon, self._floor())
        added = reader.read(changed, hashes)
        self.parses += len(changed)
        new = FileState(0, snap.stat, sha, context, horizon, 0.0, clock.time_ns())
        self.tables.save(str(real), new, keep=set(units), added=added)
        found = self.tables.file(str(real))
        assert found is not None
        return found

    # -- reading -------------------------------------------------------------------------------

    def list_events(self, start: datetime, end: datetime) -> Events:
        """Occurrences overlapping ``[start, end)`` (cancelled ones included), with notes."""
        states = self.states()
        if not states:
            return Events()
        low, high = start.timestamp(), end.timestamp()
        ids = [s.id for s in states]
        if self._store_past(states, low):  # the longest event may be longer now
            known = self.tables.files([self.tables.path_of(i) for i in ids])
            states = list(known.values())
        found = Events(notes=self.tables.notes(ids, high))
        per_unit: dict[str, int] = {}
        for unit, begin, doc, template in self.tables.events(states, low, high):
            per_unit[unit] = count = per_unit.get(unit, 0) + 1
            if count == MAX_LISTED + 1:
                found.notes.append(_listing_cut(unit, begin, self.timezone))
            if count <= MAX_LISTED:
                found.append(_event(doc, template))
        for state in states:
            if high > state.horizon:
                found.extend(self._beyond(state, max(low, state.horizon), high, found.notes))
        return found

    def get_event(self, event_id: str) -> Event:
        """The event, occurrence or series with this id (also a cancelled one)."""
        states = self.states()
        ids = [s.id for s in states]
        if not ids:
            raise NotFoundError(f"no event with id {event_id!r} (the calendar is empty)")
        rows = self.tables.by_id(ids, event_id)
        if not rows and self._store_past(states, -math.inf):
            rows = self.tables.by_id(ids, event_id)
        if rows:
            return _event(*rows[0][1:])
        series = self.tables.series(ids, event_id)
        if series is not None:
            return Event.model_validate_json(series)
        for state in states:  # an occurrence after the horizon
            view = self._open_view(state)
            if view is not None:
                try:
                    found: Event = view.get_event(event_id)
                    return found
                except NotFoundError:
                    continue
        raise NotFoundError(f"no event with id {event_id!r}")

    def holder(self, uid: str) -> Path | None:
        """The file holding the event ``uid`` (None: no file does)."""
        ids = [s.id for s in self.states()]
        found = self.tables.holder(ids, uid) if ids else None
        return None if found is None else Path(self.tables.path_of(found))

    def notes(self) -> list[str]:
        """What the index could not read (events skipped), for ``morrow doctor``."""
        ids = [s.id for s in self.states()]
        return self.tables.notes(ids, None) if ids else []

    def _store_past(self, states: list[FileState], low: float) -> bool:
        """Store the past of the series a question reaches (begun before their floor, once).

        Returns whether anything was stored.
        """
        pending = self.tables.below([s.id for s in states])
        wanted: dict[int, dict[str, float]] = {}
        for (file_id, unit), floor in pending.items():
            if low < floor:
                wanted.setdefault(file_id, {})[unit] = floor
        by_id = {s.id: s for s in states}
        for file_id, below in wanted.items():
            state = by_id[file_id]
            data = _read(Path(self.tables.path_of(file_id)))
            snap = Snapshot(data, ical_text.split(data), state.stat)
            units = {u: cs for u, cs in units_of(snap).items() if u in below}
            current = unit_hashes(snap, units, state.context)
            known = self.tables.unit_hashes(file_id)
            units = {u: cs for u, cs in units.items() if current[u] == known.get(u)}
            from morrow.tools.calendar.ics_units import UnitReader

            reader = UnitReader(self.timezone, self.me, snap, state.horizon)
            for rows in reader.past(units, below):
                self.tables.extend(file_id, rows, below[rows.unit])
        return bool(wanted)

    def _beyond(self, state: FileState, low: float, high: float, notes: list[str]) -> list[Event]:
        """Occurrences of the open series after the horizon, expanded for this question."""
        view = self._open_view(state)
        if view is None:
            return []
        start = datetime.fromtimestamp(low, UTC)
        listed = view.list_events(start, datetime.fromtimestamp(high, UTC))
        notes.extend(n for n in listed.notes if n not in notes)
        return [e for e in listed if e.start.timestamp() >= state.horizon]

    def _open_view(self, state: FileState) -> Any:
        """The file's open series parsed with icalendar (None when there are none)."""
        wanted = set(self.tables.open_units(state.id))
        if not wanted:
            return None
        path = self.tables.path_of(state.id)
        data = _read(Path(path))
        snap = Snapshot(data, ical_text.split(data), state.stat)
        units = {u: cs for u, cs in units_of(snap).items() if u in wanted}
        from morrow.tools.calendar.ics_units import UnitReader

        return UnitReader(self.timezone, self.me, snap, state.horizon).view(units)


def _read(real: Path) -> bytes:
    try:
        return real.read_bytes()
    except OSError as exc:
        raise BackendError(f"cannot read calendar {real}: {printable(exc)}") from None


def _stat(path: Path) -> tuple[int, int, int, int]:
    found = path.stat()
    return found.st_size, found.st_mtime_ns, found.st_ctime_ns, found.st_ino


def _event(doc: str, template: str | None) -> Event:
    fields = json.loads(doc)
    if template is not None:
        fields = {**json.loads(template), **fields}
    return Event.model_validate(fields)


def _listing_cut(unit: str, begin: float, zone: ZoneInfo) -> str:
    when = datetime.fromtimestamp(begin, zone).strftime("%Y-%m-%d %H:%M")
    return (
        f"event UID {printable(unit, limit=80)} repeats too often: only its first {MAX_LISTED} "
        f"occurrences in this period are listed, not those from {when} on"
    )
