"""A calendar kept in one local iCalendar (.ics) file.

Recurrence (RRULE, RDATE, EXDATE, RECURRENCE-ID overrides including RANGE=THISANDFUTURE) is
expanded by recurring-ical-events, which also rewrites Google's ``X-WR-TIMEZONE`` calendars
through the x-wr-timezone package. Floating times and all-day dates are read in the user's zone:
the query bounds are converted to that zone before expansion, and the library attaches the
bounds' zone to anything without one.

Ids: an ordinary event is its UID; one occurrence of a recurring series is
``"<UID>@<RECURRENCE-ID>"`` where the RECURRENCE-ID is written in basic format, in UTC with a
trailing ``Z`` when it has a zone (``20240105T090000Z``), as local time without ``Z`` when it is
floating (``20240105T090000``) and as a date for all-day series (``20240105``). UIDs may contain
``@`` themselves; the suffix is recognised by its shape. An event without a UID (invalid, but
seen in the wild) gets ``nouid-<hash of its title>@<its start>``, read like an occurrence.
"""

from __future__ import annotations

import hashlib
import re
import threading
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import icalendar
import recurring_ical_events
import x_wr_timezone
from icalendar.timezone import tzid_from_dt

from tools.calendar.backend import Event
from tools.errors import BackendError, NotFoundError

_RID_SHAPE = re.compile(r"\d{8}(T\d{6}Z?)?")
_SINGLE_VALUED = ("UID", "DTSTART", "DTEND", "DURATION", "RECURRENCE-ID", "SUMMARY", "STATUS")


@dataclass(frozen=True)
class _Parsed:
    calendar: icalendar.Component
    query: Any  # recurring_ical_events.CalendarQuery (untyped)
    single_uids: frozenset[str]
    series_uids: frozenset[str]
    # (UID, formatted RECURRENCE-ID) of each override -> its own DTSTART
    overrides: dict[tuple[str, str], Any]


class IcsCalendar:
    """A :class:`~tools.calendar.backend.CalendarBackend` over one .ics file.

    The parsed file is cached and re-read only when its modification time or size changes.
    A missing file is an empty calendar; a file that cannot be parsed raises BackendError.
    """

    def __init__(self, path: Path, timezone: ZoneInfo) -> None:
        self.path = path
        self.timezone = timezone
        self._lock = threading.Lock()
        self._cache_key: tuple[int, int] | None = None
        self._cached: _Parsed | None = None

    def list_events(self, start: datetime, end: datetime) -> list[Event]:
        """Occurrences overlapping ``[start, end)``; cancelled ones are left out."""
        parsed = self._load()
        if parsed is None:
            return []
        events = self._expand(parsed, start, end)
        return [event for event in events if event.status != "cancelled"]

    def get_event(self, event_id: str) -> Event:
        """The occurrence with this id (also a cancelled one, with status "cancelled")."""
        parsed = self._load()
        if parsed is not None and event_id in parsed.single_uids:
            for component in parsed.calendar.walk("VEVENT"):
                if str(component.get("UID", "")) == event_id:
                    return self._event(component, parsed)
        elif parsed is not None and "@" in event_id:
            found = self._find_occurrence(parsed, *event_id.rsplit("@", 1))
            if found is not None:
                return found
        raise NotFoundError(f"no event with id {event_id!r}")

    # -- loading ---------------------------------------------------------------------------

    def _load(self) -> _Parsed | None:
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

    def _parse(self) -> _Parsed:
        try:
            # Rewritten here as well as inside of(), so get_event sees the same times.
            calendar = x_wr_timezone.to_standard(_read_calendar(self.path.read_bytes()))
            query = recurring_ical_events.of(calendar, skip_bad_series=True)
        except Exception as exc:  # icalendar raises ValueError, KeyError, ... on bad input
            raise BackendError(f"cannot parse calendar {self.path}: {exc}") from exc
        single: set[str] = set()
        series: set[str] = set()
        overrides: dict[tuple[str, str], Any] = {}
        for component in calendar.walk("VEVENT"):
            uid = str(component.get("UID", ""))
            if not uid:
                continue
            if "RECURRENCE-ID" in component:
                rid = _format_rid(_dt(component, "RECURRENCE-ID"))
                overrides[uid, rid] = _dt(component, "DTSTART")
            if any(name in component for name in ("RRULE", "RDATE", "RECURRENCE-ID")):
                series.add(uid)
            else:
                single.add(uid)
        return _Parsed(calendar, query, frozenset(single - series), frozenset(series), overrides)

    # -- expansion -------------------------------------------------------------------------

    def _expand(self, parsed: _Parsed, start: datetime, end: datetime) -> list[Event]:
        try:
            components = parsed.query.between(
                start.astimezone(self.timezone), end.astimezone(self.timezone)
            )
        except Exception as exc:
            raise BackendError(f"cannot expand events of {self.path}: {exc}") from exc
        return [self._event(component, parsed) for component in components]

    def _find_occurrence(self, parsed: _Parsed, uid: str, rid: str) -> Event | None:
        known = uid in parsed.series_uids or uid.startswith("nouid-")
        if not known or not _RID_SHAPE.fullmatch(rid):
            return None
        anchors = [self._parse_rid(rid)]
        if (uid, rid) in parsed.overrides:  # an override may move its occurrence far away
            anchors.append(self._aware(parsed.overrides[uid, rid]))
        wanted = f"{uid}@{rid}"
        for anchor in anchors:
            window = self._expand(parsed, anchor - timedelta(days=2), anchor + timedelta(days=2))
            for event in window:
                if event.id == wanted:
                    return event
        return None

    def _parse_rid(self, rid: str) -> datetime:
        if len(rid) == 8:
            return datetime.combine(date(int(rid[:4]), int(rid[4:6]), int(rid[6:])), time())
        if rid.endswith("Z"):
            return datetime.strptime(rid, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
        return datetime.strptime(rid, "%Y%m%dT%H%M%S").replace(tzinfo=self.timezone)

    # -- conversion ------------------------------------------------------------------------

    def _id_of(self, component: icalendar.Component, parsed: _Parsed) -> str:
        uid = str(component.get("UID", ""))
        if not uid:
            seed = str(component.get("SUMMARY", "")).encode()
            digest = hashlib.sha1(seed, usedforsecurity=False).hexdigest()[:12]
            return f"nouid-{digest}@{_format_rid(_dt(component, 'DTSTART'))}"
        if uid in parsed.series_uids:
            return f"{uid}@{_format_rid(_original_start(component, parsed))}"
        return uid

    def _event(self, component: icalendar.Component, parsed: _Parsed) -> Event:
        raw_start = _dt(component, "DTSTART")
        raw_end = _raw_end(component, raw_start)
        all_day = not isinstance(raw_start, datetime)
        fields: dict[str, Any] = {}
        if all_day:
            end_day = raw_end if not isinstance(raw_end, datetime) else raw_end.date()
            fields.update(start_date=raw_start, end_date=max(end_day, raw_start))
            zone = "floating"
        else:
            zone = _zone_name(raw_start)
        start = self._aware(raw_start)
        status = component.get("STATUS")
        return Event(
            id=self._id_of(component, parsed),
            title=_text(component.get("SUMMARY")) or "(no title)",
            start=start,
            end=max(self._aware(raw_end), start),
            all_day=all_day,
            timezone=zone,
            location=_text(component.get("LOCATION")),
            description=_text(component.get("DESCRIPTION")),
            organizer=_address(component.get("ORGANIZER")),
            attendees=[a for a in map(_address, _as_list(component.get("ATTENDEE"))) if a],
            status=str(status).lower() if status else None,
            recurring=str(component.get("UID", "")) in parsed.series_uids,
            **fields,
        )

    def _aware(self, value: date | datetime) -> datetime:
        """A DTSTART/DTEND value as an aware datetime: dates and floating times in the user zone."""
        if not isinstance(value, datetime):
            return datetime.combine(value, time(), tzinfo=self.timezone)
        if value.tzinfo is None:
            return value.replace(tzinfo=self.timezone)
        return value


def _read_calendar(data: bytes) -> icalendar.Component:
    """Parse a file into one VCALENDAR: bare VEVENTs and several calendars are merged."""
    parts = icalendar.Calendar.from_ical(data, multiple=True)
    if len(parts) == 1 and parts[0].name == "VCALENDAR":
        calendar = parts[0]
    else:
        calendar = icalendar.Calendar()
        for part in parts:
            children = part.subcomponents if part.name == "VCALENDAR" else [part]
            for child in children:
                calendar.add_component(child)
    # DTSTART is required; an event without it cannot be placed and breaks the expansion.
    calendar.subcomponents = [
        c for c in calendar.subcomponents if c.name != "VEVENT" or "DTSTART" in c
    ]
    for event in calendar.walk("VEVENT"):
        for name in _SINGLE_VALUED:  # repeated by some broken exporters: keep the first
            value = event.get(name)
            if isinstance(value, list):
                event[name] = value[0]
    return calendar


def _original_start(component: icalendar.Component, parsed: _Parsed) -> date | datetime:
    """The time this occurrence had before any override moved it: its RECURRENCE-ID.

    recurring-ical-events copies an override's RECURRENCE-ID unchanged onto every later
    occurrence it shifts with RANGE=THISANDFUTURE; for those the original time is the
    occurrence's start minus the override's shift.
    """
    if "RECURRENCE-ID" not in component:
        return _dt(component, "DTSTART")  # type: ignore[no-any-return]
    recurrence: Any = component["RECURRENCE-ID"]
    original: date | datetime = recurrence.dt
    if recurrence.params.get("RANGE", "").upper() == "THISANDFUTURE":
        key = (str(component.get("UID", "")), _format_rid(original))
        override_start = parsed.overrides.get(key)
        if override_start is not None:
            original = _dt(component, "DTSTART") - (override_start - original)
    return original


def _raw_end(component: icalendar.Component, start: date | datetime) -> date | datetime:
    if "DTEND" in component:
        end: date | datetime = _dt(component, "DTEND")
        return end
    if "DURATION" in component:
        duration: timedelta = _dt(component, "DURATION")
        return start + duration
    return start if isinstance(start, datetime) else start + timedelta(days=1)


def _format_rid(value: date | datetime) -> str:
    if not isinstance(value, datetime):
        return value.strftime("%Y%m%d")
    if value.tzinfo is None:
        return value.strftime("%Y%m%dT%H%M%S")
    return value.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def _zone_name(value: datetime) -> str:
    if value.tzinfo is None:
        return "floating"
    key = getattr(value.tzinfo, "key", None)
    return str(key) if key else (tzid_from_dt(value) or str(value.tzname()))


def _dt(component: icalendar.Component, name: str) -> Any:
    """The decoded value of a date/time property (icalendar types it as a wide union)."""
    prop: Any = component[name]
    return prop.dt


def _text(value: Any) -> str | None:
    text = str(value).strip() if value is not None else ""
    return text or None


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, list) else [value]


def _address(value: Any) -> str | None:
    text = _text(value)
    if text and text.lower().startswith("mailto:"):
        text = text[len("mailto:") :]
    return text or None
