"""A calendar kept in one local iCalendar (.ics) file.

Reading goes through the parsed index in the store (:mod:`morrow.tools.calendar.ics_index`):
the file is parsed once, then only what changed in it; a week is one query.

Writing is careful, because the file is the user's only copy:

- only the components of the event changed are rewritten: the file is split at its
  components' BEGIN and END lines, the event's components are parsed strictly (with the
  file's VTIMEZONEs), edited, checked to read back as intended, and put back in place of the
  old text; every other byte of the file stays as it was, properties and components morrow
  does not understand included (VTODOs, alarms, X- properties, lines icalendar cannot read);
- a write that would lose something refuses with a clear error instead: a file holding several
  calendars or bare components, or unmatched BEGIN/END lines, an event with a line icalendar
  cannot parse or a repeated DTSTART, a result that does not read back as intended;
- the new text goes to a temporary file beside the file, is flushed to disk (fsync) and
  renamed over it (``memory/files.py``: ``atomic_write``): a crash leaves the old file or
  the new one, never half of one, and the file keeps its permissions. A symbolic link is
  written through: the file it points to changes, the link stays. Temporary files a killed
  write left behind are removed by the next write;
- writers are serialised, also across processes (the REPL and the cron briefing), by an
  exclusive lock on ``.<file>.lock`` beside the (real) file.

The ics backend sends no email: invitations, updates and replies are recorded in the file, and
the tool result says that nobody was notified.
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar
from zoneinfo import ZoneInfo

from morrow.memory.files import atomic_write, file_lock, remove_leftovers
from morrow.memory.store import Store
from morrow.tools.calendar import ical_text
from morrow.tools.calendar.backend import (
    Change,
    Event,
    EventChanges,
    Events,
    FreeBusy,
    NewEvent,
    Response,
)
from morrow.tools.calendar.ical_text import BOM, Chunk, Layout, split_id
from morrow.tools.calendar.ics_index import IcsIndex
from morrow.tools.delivery import Delivery
from morrow.tools.errors import BackendError, NotFoundError, printable
from morrow.tools.workspace import system_clock

if TYPE_CHECKING:  # icalendar is imported by the writes only: reading needs none of it
    import icalendar

    from morrow.tools.calendar.ical_edit import IcalEditor

NO_EMAIL = "the local calendar file sends no email: nobody was notified"
EMPTY = b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//morrow//calendar//EN\r\nEND:VCALENDAR\r\n"
_TZID = re.compile(rb";TZID=\"?([^\";:\r\n]+)", re.I)
T = TypeVar("T")
StoreSource = Store | Callable[[], Store | None] | None


class IcsCalendar:
    """A :class:`~morrow.tools.calendar.backend.CalendarBackend` over one .ics file.

    A missing file is an empty calendar (created by the first write); a file that is not
    iCalendar raises BackendError; an event in it that cannot be read is left out and named.

    Args:
        path: the .ics file (or a symbolic link to it).
        timezone: the user's zone; floating times and all-day dates are read in it.
        me: the user's email address (organizer of new events with attendees; the attendee
            whose answer ``respond_to_event`` records).
        clock: "now", for the timestamps of changes and the horizon of expanded series.
        store: the store holding the parsed index (or a function opening it on first use);
            None keeps the index in memory, for this object's life.
    """

    written_whole = True  # a change lands by one rename or not at all (effects settle on it)

    def __init__(
        self,
        path: Path,
        timezone: ZoneInfo,
        *,
        me: str | None = None,
        clock: Callable[[], datetime] = system_clock,
        store: StoreSource = None,
    ) -> None:
        self.path = path
        self.timezone = timezone
        self.me = me
        self.clock = clock
        self._store = store
        self._index: IcsIndex | None = None
        self._lock = threading.Lock()

    @property
    def index(self) -> IcsIndex:
        """The parsed index of the file (opened on first use)."""
        with self._lock:
            if self._index is None:
                store = self._store() if callable(self._store) else self._store
                self._index = IcsIndex(self.path, self.timezone, self.me, store, self.clock)
            return self._index

    # -- reading ---------------------------------------------------------------------------

    def list_events(self, start: datetime, end: datetime) -> Events:
        """Occurrences overlapping ``[start, end)``; cancelled ones are left out."""
        found = self.index.list_events(start, end)
        return Events((e for e in found if e.status != "cancelled"), found.notes)

    def get_event(self, event_id: str) -> Event:
        """The occurrence or series with this id (also a cancelled one)."""
        return self.index.get_event(event_id)

    def notes(self) -> list[str]:
        """The events of the file that cannot be read (for ``morrow doctor``)."""
        return self.index.notes()

    def free_busy(self, attendees: list[str], start: datetime, end: datetime) -> FreeBusy:
        """A local file knows nobody else's calendar."""
        reason = "a local calendar file cannot see other people's calendars"
        return FreeBusy(unknown=dict.fromkeys(attendees, reason))

    # -- writing ---------------------------------------------------------------------------

    def create_event(self, new: NewEvent, *, notify: bool) -> Change:
        """Add an event (once: the same uid again returns the event already there)."""
        self._edit(new.uid, lambda editor: editor.create(new, notify=notify))
        return self._change("created", self.get_event(new.uid), bool(new.attendees and notify))

    def update_event(self, event_id: str, changes: EventChanges, *, notify: bool) -> Change:
        """Change one occurrence, a whole series (its UID) or a single event."""
        self._edit(split_id(event_id)[0], lambda e: e.update(event_id, changes, notify=notify))
        event = self.get_event(event_id)
        return self._change("updated", event, notify and bool(event.attendees))

    def cancel_event(self, event_id: str, *, notify: bool) -> Change:
        """Remove an event or series, or exclude one occurrence (EXDATE)."""
        before = self.get_event(event_id)
        self._edit(split_id(event_id)[0], lambda editor: editor.cancel(event_id))
        return self._change("cancelled", before, notify and bool(before.attendees))

    def respond_to_event(self, event_id: str, response: Response, comment: str | None) -> Change:
        """Record the user's answer (PARTSTAT) in the file."""
        self._edit(split_id(event_id)[0], lambda e: e.respond(event_id, response, comment))
        return self._change("responded", self.get_event(event_id), True)

    def delivery(self) -> Delivery:
        """A file sends nothing: invitations, updates and answers stay in it."""
        return Delivery(False, NO_EMAIL.split(":")[0])

    def _change(self, action: str, event: Event, wanted_notice: bool) -> Change:
        """The result; a note when someone would have been emailed by a real server."""
        note = NO_EMAIL if wanted_notice else None
        return Change.model_validate({"action": action, "event": event, "note": note})

    def _edit(self, uid: str, action: Callable[[IcalEditor], T]) -> T:
        """Lock, edit the components of ``uid`` in place, check, and replace the file."""
        real = Path(os.path.realpath(self.path))
        folder = real.is_dir()
        lock = real / ".morrow.lock" if folder else real.with_name(f".{real.name}.lock")
        with file_lock(lock):
            target = self._target(real, uid) if folder else real
            remove_leftovers(target)  # we hold the writers' lock: any such file is a leftover
            data = self._read_for_writing(target)
            edit = FileEdit(data, target, uid, self.timezone, self.me)
            from morrow.tools.calendar.ical_edit import IcalEditor

            editor = IcalEditor(
                edit.container,
                edit.view,
                me=self.me,
                now=self.clock(),
                used_elsewhere=edit.used_elsewhere,
            )
            result = action(editor)
            output, layout = edit.output()
            if folder and not any(c.name != "VTIMEZONE" for c in layout.chunks):
                target.unlink(missing_ok=True)  # the folder's file of an event that is gone
            elif output != data:
                atomic_write(target, output, mode=0o600, keep_mode=True)  # a calendar is private
                self.index.written(target, output, layout)
            return result

    def _target(self, folder: Path, uid: str) -> Path:
        """The file of a folder calendar holding ``uid``, or the one a new event goes to."""
        found = self.index.holder(uid)
        if found is not None:
            return found
        name = re.sub(r"[^A-Za-z0-9@._-]", "_", uid)[:120] or "event"
        return folder / f"{name}.ics"

    def _read_for_writing(self, real: Path) -> bytes:
        try:
            data = real.read_bytes()
        except FileNotFoundError:
            return EMPTY
        except OSError as exc:
            raise BackendError(f"cannot read calendar {self.path}: {printable(exc)}") from exc
        return data if data.strip(b" \t\r\n" + BOM) else EMPTY  # an empty file: no calendar yet


class FileEdit:
    """One event's components of a file, parsed strictly for editing, and the file after.

    Args:
        data: the file's bytes.
        path: the file, for messages.
        uid: the event to edit (a new one for a create).
        timezone: the user's zone.
        me: the user's address.
    """

    def __init__(
        self, data: bytes, path: Path, uid: str, timezone: ZoneInfo, me: str | None
    ) -> None:
        self.data, self.path = data, path
        self.layout = _writable(ical_text.split(data), path)
        chunks = self.layout.chunks
        needle = _needle(uid)
        self.targets = [
            c
            for c in chunks
            if c.name == "VEVENT"
            and needle in data[c.start : c.stop]  # cheap: most events do not mention it
            and ical_text.uid_of(data, c) == uid
        ]
        self.zones = [c for c in chunks if c.name == "VTIMEZONE"]
        text = b"BEGIN:VCALENDAR\r\n" + self.layout.header(data)
        text += b"".join(data[c.start : c.stop] for c in [*self.zones, *self.targets])
        text += b"END:VCALENDAR\r\n"
        from morrow.tools.calendar.ical import IcalView

        self.container = _strict_parse(text, path)
        self.originals = list(self.container.subcomponents)
        names = [c.name for c in self.originals]
        if names != ["VTIMEZONE"] * len(self.zones) + ["VEVENT"] * len(self.targets):
            raise BackendError(f"not written: {path} does not parse as it is laid out")
        self.view = IcalView.parse(text, timezone, me, source=str(path))
        taken = {(c.start, c.stop) for c in self.targets}
        others = [c for c in chunks if c.name != "VTIMEZONE" and (c.start, c.stop) not in taken]
        self.used_elsewhere = frozenset(
            found.decode("utf-8", "replace").strip()
            for c in others
            for found in _TZID.findall(data, c.start, c.stop)
        )

    def output(self) -> tuple[bytes, Layout]:
        """The file with the edited components in place of the old ones, checked; its layout."""
        after = self.container.subcomponents
        zones = [c for c in after if c.name == "VTIMEZONE"]
        events = [c for c in after if c.name != "VTIMEZONE"]
        _check_reads_back([*zones, *events], self.path)
        crlf = self.layout.crlf
        cuts: list[tuple[int, int, bytes]] = []
        kept = {id(c) for c in zones}
        for chunk, component in zip(self.zones, self.originals, strict=False):
            if id(component) not in kept:
                cuts.append((chunk.start, chunk.stop, b""))
        known = {id(c) for c in self.originals}
        added = b"".join(
            ical_text.with_newlines(z.to_ical(), crlf) for z in zones if id(z) not in known
        )
        first = self.layout.chunks[0].start if self.layout.chunks else self.layout.closes[0]
        if added:
            cuts.append((first, first, added))
        text = b"".join(ical_text.with_newlines(e.to_ical(), crlf) for e in events)
        if self.targets:
            cuts += [(c.start, c.stop, b"") for c in self.targets[1:]]
            cuts.append((self.targets[0].start, self.targets[0].stop, text))
        elif text:
            cuts.append((self.layout.closes[0], self.layout.closes[0], text))
        output = ical_text.splice(self.data, sorted(cuts, key=lambda c: (c[0], c[1] > c[0])))
        layout = _writable(ical_text.split(output), self.path)  # one calendar, all matched
        return output, layout


def _needle(uid: str) -> bytes:
    """Bytes every component of this UID holds (the start of its UID line), or b"" for any."""
    if not uid or not uid.isascii() or any(c in uid for c in "\\,;:\r\n"):
        return b""
    return uid[:40].encode()


def _writable(layout: Layout, path: Path) -> Layout:
    """The file's layout, if morrow may rewrite part of it; else refuse, naming why."""
    if layout.broken:
        raise BackendError(f"not written: {path} has unmatched lines ({layout.broken})")
    bare = [c.name for c in layout.chunks if c.calendar < 0]
    if len(layout.calendars) != 1 or bare:
        names = ", ".join(["VCALENDAR"] * len(layout.calendars) + bare) or "nothing"
        raise BackendError(
            f"not written: {path} holds {names}; morrow writes only a file with exactly one "
            "VCALENDAR (it would have to restructure the file)"
        )
    return layout


def _strict_parse(text: bytes, path: Path) -> icalendar.Component:
    """The event's components as they will be written back; refuse what a rewrite would lose."""
    import icalendar

    try:
        calendar = icalendar.Calendar.from_ical(text)
    except Exception as exc:
        raise BackendError(f"not written: cannot parse {path}: {printable(exc)}") from exc
    for component in calendar.walk("VEVENT"):
        for name, problem in component.errors:
            if name is None or name not in component:  # the line is gone from the parse
                raise BackendError(
                    f"not written: a line in {component.name} of {path} cannot be parsed and "
                    f"would be lost ({printable(problem)})"
                )
    return calendar


def _check_reads_back(components: list[icalendar.Component], path: Path) -> None:
    import icalendar

    calendar = icalendar.Calendar()
    for component in components:
        calendar.add_component(component)
    if icalendar.Calendar.from_ical(calendar.to_ical()) != calendar:
        raise BackendError(f"not written: {path} would not read back as intended (nothing changed)")


__all__ = ["EMPTY", "NO_EMAIL", "Chunk", "FileEdit", "IcsCalendar", "NotFoundError"]
