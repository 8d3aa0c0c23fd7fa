"""Google Calendar v3 through google-api-python-client (static discovery document).

- ``events.list`` with ``singleEvents=true`` (Google expands recurrences; an occurrence's id is
  ``<series id>_<time>`` and ``recurringEventId`` names its series), ``orderBy=startTime``,
  ``timeMin``/``timeMax`` and every page (``nextPageToken``).
- ``freebusy.query`` for other people's busy times, 50 calendars a request (Google's limit).
- ``insert``/``patch``/``delete`` with ``sendUpdates`` ``all`` or ``none``. Inserts carry an
  id the client chose (base32hex: a uuid4 in hex qualifies), so a retried insert cannot make a
  duplicate: HTTP 409 means it is already there, and the existing event is returned.
- 404 and 410 (gone: deleted) become :class:`~morrow.tools.errors.NotFoundError`; other failures a
  :class:`~morrow.tools.errors.BackendError` with Google's reason. Requests are retried by the
  client library (``num_retries``) on 429, 5xx and connection errors.

The service is built on first use (loading the OAuth token), and used under a lock: httplib2
connections are not thread-safe, and the loop runs read-only tools concurrently in threads.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

from morrow.tools.calendar.backend import Change, Event, EventChanges, FreeBusy, NewEvent, Response
from morrow.tools.delivery import Delivery
from morrow.tools.errors import BackendError, NotFoundError, ToolError

NUM_RETRIES = 2
PAGE_SIZE = 250
FREEBUSY_BATCH = 50
_RESPONSES = {"needsAction": "needs-action"}


class GoogleCalendar:
    """A :class:`~morrow.tools.calendar.backend.CalendarBackend` on one Google calendar.

    Args:
        service_factory: builds the googleapiclient ``calendar`` v3 service (tests pass one on
            an ``HttpMockSequence``).
        timezone: the user's zone; all-day events are placed in it.
        calendar_id: the calendar, "primary" for the user's own.
    """

    def __init__(
        self,
        service_factory: Callable[[], Any],
        timezone: ZoneInfo,
        *,
        calendar_id: str = "primary",
    ) -> None:
        self._factory = service_factory
        self._service: Any = None
        self._lock = threading.RLock()
        self.timezone = timezone
        self.calendar_id = calendar_id
        self._calendar_zone: str | None = None

    # -- reading ---------------------------------------------------------------------------

    def list_events(self, start: datetime, end: datetime) -> list[Event]:
        """Every occurrence in ``[start, end)``, all pages; cancelled ones left out."""
        items: list[dict[str, Any]] = []
        token: str | None = None
        while True:
            params = {
                "calendarId": self.calendar_id,
                "timeMin": _rfc3339(start),
                "timeMax": _rfc3339(end),
                "singleEvents": True,
                "orderBy": "startTime",
                "maxResults": PAGE_SIZE,
                "pageToken": token,
            }
            page = self._run(_call("events", "list", params), "list events")
            self._calendar_zone = page.get("timeZone") or self._calendar_zone
            items.extend(page.get("items", []))
            token = page.get("nextPageToken")
            if not token:
                break
        return [self._event(item) for item in items if item.get("status") != "cancelled"]

    def get_event(self, event_id: str) -> Event:
        """The occurrence or series with this id."""
        return self._event(self._get(event_id))

    def delivery(self) -> Delivery:
        """Google Calendar emails the attendees itself (``sendUpdates``)."""
        return Delivery(True, "Google Calendar emails them")

    def free_busy(self, attendees: list[str], start: datetime, end: datetime) -> FreeBusy:
        """Busy intervals of other people's calendars that the user may see."""
        result = FreeBusy()
        for index in range(0, len(attendees), FREEBUSY_BATCH):
            batch = attendees[index : index + FREEBUSY_BATCH]
            body = {
                "timeMin": _rfc3339(start),
                "timeMax": _rfc3339(end),
                "items": [{"id": email} for email in batch],
            }
            answer = self._run(_call("freebusy", "query", {"body": body}), "query free/busy")
            calendars = answer.get("calendars", {})
            for email in batch:
                _read_free_busy(email, calendars.get(email), result)
        return result

    def calendar_list(self) -> list[dict[str, Any]]:
        """The calendars of the account (``calendarList.list``, every page): their ids.

        Each: ``id``, ``summary``, ``access_role`` (owner, writer, reader, freeBusyReader),
        ``primary`` and ``colour`` when Google gives them.
        """
        found: list[dict[str, Any]] = []
        token: str | None = None
        while True:
            params = {"pageToken": token} if token else {}
            page = self._run(_call("calendarList", "list", params), "list your calendars")
            for item in page.get("items", []):
                entry = {
                    "id": item.get("id"),
                    "summary": item.get("summaryOverride") or item.get("summary") or "",
                    "access_role": item.get("accessRole"),
                    "primary": bool(item.get("primary")),
                    "colour": item.get("backgroundColor"),
                }
                found.append({k: v for k, v in entry.items() if v not in (None, "")})
            token = page.get("nextPageToken")
            if not token:
                return found

    # -- writing ---------------------------------------------------------------------------

    def create_event(self, new: NewEvent, *, notify: bool) -> Change:
        """Insert with the client-chosen id; a 409 means a retry of this insert succeeded."""
        zone = new.start.tzinfo if isinstance(new.start.tzinfo, ZoneInfo) else self.timezone
        body: dict[str, Any] = {
            "id": new.uid,
            "summary": new.title,
            "start": _timed(new.start, zone),
            "end": _timed(new.end, zone),
        }
        if new.location:
            body["location"] = new.location
        if new.description:
            body["description"] = new.description
        if new.attendees:
            body["attendees"] = [{"email": email} for email in new.attendees]
        try:
            item = self._run(
                lambda s: s.events().insert(
                    calendarId=self.calendar_id, body=body, sendUpdates=_send(notify)
                ),
                "create the event",
            )
        except _Conflict:
            item = self._get(new.uid)
        notified = list(new.attendees) if notify else []
        return Change(action="created", event=self._event(item), notified=notified)

    def update_event(self, event_id: str, changes: EventChanges, *, notify: bool) -> Change:
        """Patch the occurrence or series; attendees are sent whole (patch replaces lists)."""
        current = self._get(event_id)
        body = self._patch_body(current, changes)
        item = self._run(
            lambda s: s.events().patch(
                calendarId=self.calendar_id,
                eventId=event_id,
                body=body,
                sendUpdates=_send(notify),
            ),
            "update the event",
            event_id,
        )
        told = _others(current) + changes.add_attendees if notify else []
        return Change(action="updated", event=self._event(item), notified=_unique(told))

    def cancel_event(self, event_id: str, *, notify: bool) -> Change:
        """Delete the occurrence or series (Google keeps it as cancelled)."""
        current = self._get(event_id)
        self._run(
            lambda s: s.events().delete(
                calendarId=self.calendar_id, eventId=event_id, sendUpdates=_send(notify)
            ),
            "cancel the event",
            event_id,
        )
        told = _others(current) if notify else []
        return Change(action="cancelled", event=self._event(current), notified=told)

    def respond_to_event(self, event_id: str, response: Response, comment: str | None) -> Change:
        """Set the user's own responseStatus (and comment); the organizer is notified."""
        current = self._get(event_id)
        attendees = [dict(a) for a in current.get("attendees", [])]
        mine = [a for a in attendees if a.get("self")]
        if not mine:
            raise ToolError("you are not among the attendees of this event: nothing to answer")
        for attendee in mine:
            attendee["responseStatus"] = response
            if comment:
                attendee["comment"] = comment
        item = self._run(
            lambda s: s.events().patch(
                calendarId=self.calendar_id,
                eventId=event_id,
                body={"attendees": attendees},
                sendUpdates="all",
            ),
            "answer the invitation",
            event_id,
        )
        organizer = (current.get("organizer") or {}).get("email")
        told = [organizer] if organizer and not current["organizer"].get("self") else []
        return Change(action="responded", event=self._event(item), notified=told)

    def _patch_body(self, current: dict[str, Any], changes: EventChanges) -> dict[str, Any]:
        body: dict[str, Any] = {}
        for key, value in (
            ("summary", changes.title),
            ("location", changes.location),
            ("description", changes.description),
        ):
            if value is not None:
                body[key] = value
        if changes.start is not None or changes.end is not None:
            body.update(self._new_times(current, changes.start, changes.end))
        if changes.add_attendees or changes.remove_attendees:
            removed = {a.casefold() for a in changes.remove_attendees}
            kept = [
                a
                for a in current.get("attendees", [])
                if str(a.get("email", "")).casefold() not in removed
            ]
            known = {str(a.get("email", "")).casefold() for a in kept}
            added = [{"email": e} for e in changes.add_attendees if e.casefold() not in known]
            body["attendees"] = kept + added
        return body

    def _new_times(
        self, current: dict[str, Any], start: datetime | None, end: datetime | None
    ) -> dict[str, Any]:
        old_start, old_end = self._when(current["start"]), self._when(current["end"])
        begin = start or old_start
        finish = end or begin.astimezone(UTC) + (
            old_end.astimezone(UTC) - old_start.astimezone(UTC)
        )
        if (
            "date" in current["start"]
            and _midnight(begin, self.timezone)
            and _midnight(finish, self.timezone)
        ):
            return {
                "start": {"date": begin.astimezone(self.timezone).date().isoformat()},
                "end": {"date": finish.astimezone(self.timezone).date().isoformat()},
            }
        named = start.tzinfo if start is not None and isinstance(start.tzinfo, ZoneInfo) else None
        zone = named or _zone(current["start"].get("timeZone")) or self._default_zone()
        return {"start": _timed(begin, zone), "end": _timed(finish, zone)}

    # -- plumbing --------------------------------------------------------------------------

    def _get(self, event_id: str) -> dict[str, Any]:
        item: dict[str, Any] = self._run(
            lambda s: s.events().get(calendarId=self.calendar_id, eventId=event_id),
            "read the event",
            event_id,
        )
        return item

    def _run(self, make: Callable[[Any], Any], what: str, event_id: str | None = None) -> Any:
        """Build and execute one request, turning Google's errors into ours."""
        import httplib2
        from google.auth.exceptions import GoogleAuthError
        from googleapiclient.errors import HttpError

        with self._lock:
            if self._service is None:
                self._service = self._factory()
            try:
                return make(self._service).execute(num_retries=NUM_RETRIES)
            except HttpError as exc:
                raise _error(exc, what, event_id, self.calendar_id) from None
            except GoogleAuthError as exc:  # a refresh during the request failed
                raise BackendError(
                    f"Google refused the credentials ({exc}): run `morrow auth google`"
                ) from None
            except (OSError, httplib2.HttpLib2Error) as exc:
                raise BackendError(f"cannot reach Google Calendar to {what}: {exc}") from exc

    def _default_zone(self) -> ZoneInfo:
        return _zone(self._calendar_zone) or self.timezone

    def _when(self, value: dict[str, Any]) -> datetime:
        if "dateTime" in value:
            return datetime.fromisoformat(value["dateTime"])
        return datetime.combine(date.fromisoformat(value["date"]), time(), tzinfo=self.timezone)

    def _event(self, item: dict[str, Any]) -> Event:
        start, end = self._when(item["start"]), self._when(item["end"])
        series = item.get("recurringEventId") or (item["id"] if item.get("recurrence") else None)
        attendees = item.get("attendees", [])
        mine = next((a for a in attendees if a.get("self")), None)
        fields: dict[str, Any] = {}
        if "date" in item["start"]:
            fields.update(
                all_day=True,
                start_date=date.fromisoformat(item["start"]["date"]),
                end_date=date.fromisoformat(item["end"]["date"]),
                timezone="floating",
            )
        else:
            fields.update(self._zone_fields(item, start, end))
        return Event(
            id=item["id"],
            title=item.get("summary") or "(no title)",
            start=start,
            end=max(end, start),
            location=item.get("location") or None,
            description=item.get("description") or None,
            organizer=(item.get("organizer") or {}).get("email"),
            attendees=[a["email"] for a in attendees if a.get("email")],
            my_response=_RESPONSES.get(mine["responseStatus"], mine["responseStatus"])
            if mine and mine.get("responseStatus")
            else None,
            status=item.get("status"),
            free=True if item.get("transparency") == "transparent" else None,
            recurring=series is not None,
            series_id=series,
            recurrence=item.get("recurrence"),
            **fields,
        )

    def _zone_fields(self, item: dict[str, Any], start: datetime, end: datetime) -> dict[str, Any]:
        name = item["start"].get("timeZone") or self._calendar_zone or "UTC"
        zone = _zone(name)
        fields: dict[str, Any] = {"timezone": name}
        if zone is not None and name not in ("UTC", "Etc/UTC", self.timezone.key):
            fields.update(zone_start=start.astimezone(zone), zone_end=end.astimezone(zone))
        return fields


class _Conflict(BackendError):
    """HTTP 409: the id is taken (for our own inserts: an earlier try succeeded)."""


def _call(resource: str, method: str, params: dict[str, Any]) -> Callable[[Any], Any]:
    """A request maker: ``service.<resource>().<method>(**params)``."""

    def make(service: Any) -> Any:
        return getattr(getattr(service, resource)(), method)(**params)

    return make


def _error(exc: Any, what: str, event_id: str | None, calendar_id: str) -> ToolError:
    status = int(getattr(exc.resp, "status", 0))
    reason = exc._get_reason() if hasattr(exc, "_get_reason") else str(exc)
    if status == 404 and event_id is not None:
        return NotFoundError(f"no event with id {event_id!r} in Google Calendar {calendar_id}")
    if status == 410 and event_id is not None:
        return NotFoundError(f"event {event_id!r} was deleted from Google Calendar")
    if status == 404:
        return BackendError(f"Google Calendar {calendar_id!r} was not found ({reason})")
    if status == 409:
        return _Conflict(f"cannot {what}: it already exists")
    if status in (401, 403):
        return BackendError(
            f"Google Calendar refused to {what} (HTTP {status}: {reason}); if access is "
            "missing, run `morrow auth google` (set [google] writes = true for changes)"
        )
    return BackendError(f"Google Calendar could not {what} (HTTP {status}: {reason})")


def _read_free_busy(email: str, entry: dict[str, Any] | None, result: FreeBusy) -> None:
    if entry is None:
        result.unknown[email] = "Google returned nothing for this calendar"
    elif entry.get("errors"):
        reasons = ", ".join(str(e.get("reason", "unknown")) for e in entry["errors"])
        result.unknown[email] = f"Google cannot show this calendar ({reasons})"
    else:
        result.busy[email] = [
            (datetime.fromisoformat(b["start"]), datetime.fromisoformat(b["end"]))
            for b in entry.get("busy", [])
        ]


def _rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _timed(moment: datetime, zone: Any) -> dict[str, str]:
    local = moment.astimezone(zone)
    return {"dateTime": local.isoformat(timespec="seconds"), "timeZone": zone.key}


def _zone(name: str | None) -> ZoneInfo | None:
    if not name:
        return None
    try:
        return ZoneInfo(name)
    except (ValueError, KeyError, OSError):
        return None


def _midnight(moment: datetime, zone: ZoneInfo) -> bool:
    return moment.astimezone(zone).time() == time()


def _send(notify: bool) -> str:
    return "all" if notify else "none"


def _others(item: dict[str, Any]) -> list[str]:
    return [a["email"] for a in item.get("attendees", []) if a.get("email") and not a.get("self")]


def _unique(addresses: list[str]) -> list[str]:
    return list({a.casefold(): a for a in addresses}.values())
