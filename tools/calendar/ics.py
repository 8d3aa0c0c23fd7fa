"""A calendar kept in one local iCalendar (.ics) file.

Reading (expansion, ids) is :mod:`morrow.tools.calendar.ical`; the parsed file is cached and parsed
again only when its modification time or size changes. Parsed files are also shared by content
within the process (a few, bounded by size): evals open the same world in many fresh homes, and
a calendar opened twice is parsed once. After a write, the edited (and verified) calendar is
kept for the next write, which then does not parse the file strictly again if it is unchanged.

Writing is careful, because the file is the user's only copy:

- the file is parsed again, strictly, as it will be written; every component and property is
  kept, those morrow does not understand included (VTODOs, alarms, X- properties ...);
- a write that would lose something refuses with a clear error instead: a file holding several
  calendars or bare components, a line icalendar could not parse (it would be dropped), an
  event with a repeated DTSTART, or a result that does not read back as intended;
- the new text goes to a temporary file in the same folder, is flushed to disk (fsync) and
  renamed over the old one, so a crash leaves the old file or the new one, never half of one;
  the file keeps its permissions (``memory/files.py``: ``atomic_write``);
- writers are serialised, also across processes (the REPL and the cron briefing), by an
  exclusive lock on ``.<file>.lock`` beside it.

The ics backend sends no email: invitations, updates and replies are recorded in the file, and
the tool result says that nobody was notified.
"""

from __future__ import annotations

import contextlib
import hashlib
import threading
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import icalendar

from morrow.memory.files import atomic_write, file_lock
from morrow.tools.calendar.backend import Change, Event, EventChanges, FreeBusy, NewEvent, Response
from morrow.tools.calendar.ical import IcalView
from morrow.tools.calendar.ical_edit import IcalEditor
from morrow.tools.delivery import Delivery
from morrow.tools.errors import BackendError, NotFoundError
from morrow.tools.workspace import system_clock

NO_EMAIL = "the local calendar file sends no email: nobody was notified"


class IcsCalendar:
    """A :class:`~morrow.tools.calendar.backend.CalendarBackend` over one .ics file.

    A missing file is an empty calendar (created by the first write); a file that cannot be
    parsed raises BackendError.

    Args:
        path: the .ics file.
        timezone: the user's zone; floating times and all-day dates are read in it.
        me: the user's email address (organizer of new events with attendees; the attendee
            whose answer ``respond_to_event`` records).
        clock: "now", for the timestamps of changes.
    """

    def __init__(
        self,
        path: Path,
        timezone: ZoneInfo,
        *,
        me: str | None = None,
        clock: Callable[[], datetime] = system_clock,
    ) -> None:
        self.path = path
        self.timezone = timezone
        self.me = me
        self.clock = clock
        self._lock = threading.Lock()
        self._cache_key: tuple[int, int] | None = None
        self._cached: IcalView | None = None
        self._written: tuple[bytes, icalendar.Component] | None = None  # digest, as written

    # -- reading ---------------------------------------------------------------------------

    def list_events(self, start: datetime, end: datetime) -> list[Event]:
        """Occurrences overlapping ``[start, end)``; cancelled ones are left out."""
        view = self._load()
        if view is None:
            return []
        return [e for e in view.list_events(start, end) if e.status != "cancelled"]

    def get_event(self, event_id: str) -> Event:
        """The occurrence or series with this id (also a cancelled one)."""
        view = self._load()
        if view is None:
            raise NotFoundError(f"no event with id {event_id!r} (the calendar is empty)")
        return view.get_event(event_id)

    def free_busy(self, attendees: list[str], start: datetime, end: datetime) -> FreeBusy:
        """A local file knows nobody else's calendar."""
        reason = "a local calendar file cannot see other people's calendars"
        return FreeBusy(unknown=dict.fromkeys(attendees, reason))

    def _load(self) -> IcalView | None:
        try:
            stat = self.path.stat()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise BackendError(f"cannot read calendar {self.path}: {exc}") from exc
        key = (stat.st_mtime_ns, stat.st_size)
        with self._lock:
            if self._cache_key != key or self._cached is None:
                self._cached = self._parse()
                self._cache_key = key
            return self._cached

    def _parse(self) -> IcalView:
        return _shared_view(self.path.read_bytes(), self.timezone, self.me, str(self.path))

    # -- writing ---------------------------------------------------------------------------

    def create_event(self, new: NewEvent, *, notify: bool) -> Change:
        """Add an event (once: the same uid again returns the event already there)."""
        with self._editing() as editor:
            editor.create(new, notify=notify)
        return self._change("created", self.get_event(new.uid), bool(new.attendees and notify))

    def update_event(self, event_id: str, changes: EventChanges, *, notify: bool) -> Change:
        """Change one occurrence, a whole series (its UID) or a single event."""
        with self._editing() as editor:
            editor.update(event_id, changes, notify=notify)
        event = self.get_event(event_id)
        return self._change("updated", event, notify and bool(event.attendees))

    def cancel_event(self, event_id: str, *, notify: bool) -> Change:
        """Remove an event or series, or exclude one occurrence (EXDATE)."""
        before = self.get_event(event_id)
        with self._editing() as editor:
            editor.cancel(event_id)
        return self._change("cancelled", before, notify and bool(before.attendees))

    def respond_to_event(self, event_id: str, response: Response, comment: str | None) -> Change:
        """Record the user's answer (PARTSTAT) in the file."""
        with self._editing() as editor:
            editor.respond(event_id, response, comment)
        return self._change("responded", self.get_event(event_id), True)

    def delivery(self) -> Delivery:
        """A file sends nothing: invitations, updates and answers stay in it."""
        return Delivery(False, NO_EMAIL.split(":")[0])

    def _change(self, action: str, event: Event, wanted_notice: bool) -> Change:
        """The result; a note when someone would have been emailed by a real server."""
        note = NO_EMAIL if wanted_notice else None
        return Change.model_validate({"action": action, "event": event, "note": note})

    @contextlib.contextmanager
    def _editing(self) -> Iterator[IcalEditor]:
        """Lock, parse strictly, let the caller edit, check, and replace the file atomically."""
        with file_lock(self.path.with_name(f".{self.path.name}.lock")):
            data = self._read_for_writing()
            digest = hashlib.sha256(data).digest()
            written, self._written = self._written, None  # it is about to be edited
            if written is not None and written[0] == digest:
                container = written[1]  # what the last write left, verified; file unchanged
            else:
                container = _strict_parse(data, self.path)
            view = self._load() or IcalView.parse(data, self.timezone, self.me, source="")
            editor = IcalEditor(container, view, me=self.me, now=self.clock())
            yield editor
            output = container.to_ical()
            if icalendar.Calendar.from_ical(output) != container:
                raise BackendError(
                    f"not written: {self.path} would not read back as intended (nothing changed)"
                )
            atomic_write(self.path, output, mode=0o600, keep_mode=True)  # a calendar is private
            with self._lock:  # a coarse clock could leave the same mtime: never trust it here
                self._cache_key = None
            self._written = (hashlib.sha256(output).digest(), container)

    def _read_for_writing(self) -> bytes:
        try:
            return self.path.read_bytes()
        except FileNotFoundError:
            return _EMPTY
        except OSError as exc:
            raise BackendError(f"cannot read calendar {self.path}: {exc}") from exc


_SHARED_BYTES = 4_000_000  # source bytes of the parsed calendars kept (the newest always is)
_shared: dict[tuple[bytes, str, str | None], tuple[int, IcalView]] = {}
_shared_lock = threading.Lock()


def _shared_view(data: bytes, timezone: ZoneInfo, me: str | None, source: str) -> IcalView:
    """The parsed view of ``data``, shared with every calendar of the same content.

    A view is only ever read (writes edit a strict parse of their own), so it can be shared.
    """
    key = (hashlib.sha256(data).digest(), timezone.key, me)
    with _shared_lock:
        found = _shared.pop(key, None)
        if found is not None:
            _shared[key] = found  # now the most recently used
            return found[1]
    view = IcalView.parse(data, timezone, me, source=source)
    with _shared_lock:
        _shared[key] = (len(data), view)
        while len(_shared) > 1 and sum(size for size, _ in _shared.values()) > _SHARED_BYTES:
            del _shared[next(iter(_shared))]  # the least recently used
    return view


_EMPTY = b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//morrow//calendar//EN\r\nEND:VCALENDAR\r\n"


def _strict_parse(data: bytes, path: Path) -> icalendar.Component:
    """The file as it will be written back; refuse what a rewrite would lose."""
    try:
        parts = icalendar.Calendar.from_ical(data, multiple=True)
    except Exception as exc:
        raise BackendError(f"not written: cannot parse {path}: {exc}") from exc
    if len(parts) != 1 or parts[0].name != "VCALENDAR":
        names = ", ".join(p.name for p in parts) or "nothing"
        raise BackendError(
            f"not written: {path} holds {names}; morrow writes only a file with exactly one "
            "VCALENDAR (it would have to restructure the file)"
        )
    calendar = parts[0]
    for component in calendar.walk():
        for name, problem in component.errors:
            if name is None or name not in component:  # the line is gone from the parse
                raise BackendError(
                    f"not written: a line in {component.name} of {path} cannot be parsed and "
                    f"would be lost ({problem})"
                )
    return calendar
