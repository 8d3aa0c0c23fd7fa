"""Any CalDAV server (Nextcloud, Radicale, Fastmail, iCloud ...) through the caldav library.

Each event is one calendar object resource holding the VEVENTs of one UID (the rule and its
overrides). Reading fetches the objects in the time range and expands them with the same code
as the local file (:mod:`morrow.tools.calendar.ical`), so ids have the same shape: ``<UID>`` and
``<UID>@<RECURRENCE-ID>``. Writing edits the object with :mod:`morrow.tools.calendar.ical_edit` and
PUTs it back with its ETag (``If-Match``): a change made elsewhere in the meantime is refused
rather than overwritten.

Invitations: a server that implements CalDAV scheduling (RFC 6638) emails attendees itself.
When nobody is to be notified, attendees are marked ``SCHEDULE-AGENT=CLIENT``, which tells such
a server to stay quiet; when they are, the result says the server delivers the message (morrow
cannot see whether it did).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import icalendar

from morrow.tools.calendar.backend import Change, Event, EventChanges, FreeBusy, NewEvent, Response
from morrow.tools.calendar.ical import IcalView
from morrow.tools.calendar.ical_edit import IcalEditor
from morrow.tools.calendar.ical_text import split_id
from morrow.tools.delivery import Delivery
from morrow.tools.errors import BackendError, NotFoundError
from morrow.tools.workspace import system_clock

_EMPTY = b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//morrow//calendar//EN\r\nEND:VCALENDAR\r\n"


class CalDavCalendar:
    """A :class:`~morrow.tools.calendar.backend.CalendarBackend` on one CalDAV calendar.

    Args:
        client_factory: makes a connected ``caldav.DAVClient`` (on first use).
        timezone: the user's zone; floating times and all-day dates are read in it.
        calendar_name: the calendar's display name; None takes the first calendar.
        me: the user's email address (organizer of what they create, the attendee who answers).
        clock: "now", for the timestamps of changes.
    """

    def __init__(
        self,
        client_factory: Callable[[], Any],
        timezone: ZoneInfo,
        *,
        calendar_name: str | None = None,
        me: str | None = None,
        clock: Callable[[], datetime] = system_clock,
    ) -> None:
        self._factory = client_factory
        self._client: Any = None
        self._calendar: Any = None
        self._lock = threading.RLock()
        self.timezone = timezone
        self.calendar_name = calendar_name
        self.me = me
        self.clock = clock

    def close(self) -> None:
        """Close the HTTP session."""
        with self._lock:
            if self._client is not None:
                self._client.close()
            self._client = self._calendar = None

    # -- reading ---------------------------------------------------------------------------

    def list_events(self, start: datetime, end: datetime) -> list[Event]:
        """Occurrences overlapping ``[start, end)``; cancelled ones are left out."""
        objects = self._dav(
            "search the calendar",
            lambda cal: cal.search(start=start, end=end, event=True, expand=False),
        )
        data = b"".join(_bytes(obj) for obj in objects) or _EMPTY
        view = IcalView.parse(data, self.timezone, self.me, source=self._where())
        return [e for e in view.list_events(start, end) if e.status != "cancelled"]

    def get_event(self, event_id: str) -> Event:
        """The occurrence or series with this id (also a cancelled one)."""
        return self._view(self._object(event_id)).get_event(event_id)

    def free_busy(self, attendees: list[str], start: datetime, end: datetime) -> FreeBusy:
        """Other people's calendars are not read over CalDAV (scheduling outboxes vary)."""
        reason = "this CalDAV calendar does not show other people's free/busy time"
        return FreeBusy(unknown=dict.fromkeys(attendees, reason))

    # -- writing ---------------------------------------------------------------------------

    def create_event(self, new: NewEvent, *, notify: bool) -> Change:
        """PUT a new object named after the UID (``If-None-Match: *``)."""
        try:
            return self._created(self.get_event(new.uid), notify)  # a repeated create
        except NotFoundError:
            pass
        container = icalendar.Calendar.from_ical(_EMPTY)
        view = IcalView.parse(_EMPTY, self.timezone, self.me, source=self._where())
        self._editor(container, view).create(new, notify=notify)

        def put(cal: Any) -> None:
            from caldav.calendarobjectresource import Event as DavEvent

            obj = DavEvent(cal.client, parent=cal)
            obj.save(raw_data=container.to_ical(), no_overwrite=True)

        self._dav("create the event", put)
        return self._created(self.get_event(new.uid), notify)

    def update_event(self, event_id: str, changes: EventChanges, *, notify: bool) -> Change:
        """Edit the object (one occurrence, the series or a single event) and PUT it back."""
        obj = self._object(event_id)
        container, editor = self._edit(obj)
        editor.update(event_id, changes, notify=notify)
        self._save(obj, container)
        event = self.get_event(event_id)
        return self._told("updated", event, notify)

    def cancel_event(self, event_id: str, *, notify: bool) -> Change:
        """Delete the object, or exclude one occurrence (EXDATE) and PUT it back."""
        obj = self._object(event_id)
        before = self._view(obj).get_event(event_id)
        container, editor = self._edit(obj)
        if split_id(event_id)[1] is None:
            if not notify and before.attendees:  # tell a scheduling server to stay quiet first
                editor.quiet(split_id(event_id)[0])
                self._save(obj, container)
            self._dav("delete the event", lambda _: obj.delete())
        else:
            editor.cancel(event_id, notify=notify)
            self._save(obj, container)
        return self._told("cancelled", before, notify)

    def respond_to_event(self, event_id: str, response: Response, comment: str | None) -> Change:
        """Set the user's PARTSTAT; a scheduling server sends the reply to the organizer."""
        obj = self._object(event_id)
        container, editor = self._edit(obj)
        editor.respond(event_id, response, comment)
        self._save(obj, container)
        event = self.get_event(event_id)
        note = "the CalDAV server tells the organizer if it supports scheduling (RFC 6638)"
        return Change(action="responded", event=event, note=note)

    # -- plumbing --------------------------------------------------------------------------

    def delivery(self) -> Delivery:
        """The server emails attendees when it implements scheduling (RFC 6638)."""
        return Delivery(
            True,
            "handed to the CalDAV server, which emails them if it supports scheduling (RFC 6638)",
        )

    def _created(self, event: Event, notify: bool) -> Change:
        return self._told("created", event, notify)

    def _told(self, action: str, event: Event, notify: bool) -> Change:
        note, told = None, list(event.attendees) if notify else []
        if told:
            note = (
                f"handed to the CalDAV server, which emails {', '.join(told)} "
                "if it supports scheduling (RFC 6638)"
            )
        change = {"action": action, "event": event, "note": note, "notified": told}
        return Change.model_validate(change)

    def _editor(self, container: icalendar.Component, view: IcalView) -> IcalEditor:
        return IcalEditor(container, view, me=self.me, now=self.clock(), schedule_by_client=True)

    def _edit(self, obj: Any) -> tuple[icalendar.Component, IcalEditor]:
        container = icalendar.Calendar.from_ical(_bytes(obj))
        return container, self._editor(container, self._view(obj))

    def _view(self, obj: Any) -> IcalView:
        return IcalView.parse(_bytes(obj), self.timezone, self.me, source=self._where())

    def _object(self, event_id: str) -> Any:
        uid = split_id(event_id)[0]

        def fetch(cal: Any) -> Any:
            from caldav.lib import error

            try:
                return cal.get_object_by_uid(uid)
            except error.NotFoundError:
                raise NotFoundError(f"no event with id {event_id!r}") from None

        return self._dav("read the event", fetch)

    def _save(self, obj: Any, container: icalendar.Component) -> None:
        self._dav("save the event", lambda _: obj.save(raw_data=container.to_ical()))

    def _dav(self, what: str, action: Callable[[Any], Any]) -> Any:
        """Run ``action(calendar)``, turning the library's and the network's errors into ours."""
        from caldav.lib import error

        with self._lock:
            try:
                return action(self._connect())
            except (error.ETagMismatchError, error.ScheduleTagMismatchError):
                raise BackendError(
                    f"cannot {what}: it was changed on the server meanwhile; read it again"
                ) from None
            except error.AuthorizationError as exc:
                raise BackendError(f"the CalDAV server refused to {what}: {exc}") from None
            except error.DAVError as exc:
                raise BackendError(f"the CalDAV server could not {what}: {exc}") from None
            except OSError as exc:
                raise BackendError(f"cannot reach the CalDAV server to {what}: {exc}") from None

    def _connect(self) -> Any:
        if self._calendar is None:
            self._client = self._factory()
            calendars = self._client.principal().calendars()
            self._calendar = _choose(calendars, self.calendar_name)
        return self._calendar

    def _where(self) -> str:
        return f"CalDAV calendar {self.calendar_name or '(first)'}"


def _choose(calendars: list[Any], name: str | None) -> Any:
    if not calendars:
        raise BackendError("the CalDAV account has no calendar")
    if name is None:
        return calendars[0]
    for calendar in calendars:
        if calendar.get_display_name() == name:
            return calendar
    known = ", ".join(str(c.get_display_name()) for c in calendars)
    raise BackendError(f"no CalDAV calendar named {name!r} (there are: {known})")


def _bytes(obj: Any) -> bytes:
    data = obj.data
    return data.encode("utf-8") if isinstance(data, str) else bytes(data)
