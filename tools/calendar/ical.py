"""Reading iCalendar data: recurrence expansion, ids and the conversion to :class:`Event`.

Shared by the local .ics backend and the CalDAV backend, so both give the same ids.

Recurrence (RRULE, RDATE, EXDATE, RECURRENCE-ID overrides including RANGE=THISANDFUTURE) is
expanded by recurring-ical-events, which also rewrites Google's ``X-WR-TIMEZONE`` calendars
through the x-wr-timezone package. Floating times and all-day dates are read in the user's zone:
the query bounds are converted to that zone before expansion, and the library attaches the
bounds' zone to anything without one.

Ids: an ordinary event is its UID; one occurrence of a recurring series is
``"<UID>@<RECURRENCE-ID>"`` where the RECURRENCE-ID is written in basic format, in UTC with a
trailing ``Z`` when it has a zone (``20240105T090000Z``), as local time without ``Z`` when it is
floating (``20240105T090000``) and as a date for all-day series (``20240105``). The series
itself is its UID. UIDs may contain ``@`` themselves; the suffix is recognised by its shape. An
event without a UID (invalid, but seen in the wild) gets ``nouid-<hash of its title>@<its
start>``, read like an occurrence.
"""

from __future__ import annotations

import bisect
import hashlib
import re
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import icalendar
import recurring_ical_events
import x_wr_timezone
from icalendar.timezone import tzid_from_dt

from morrow.tools.calendar.backend import Event
from morrow.tools.errors import BackendError, NotFoundError

RID_SHAPE = re.compile(r"\d{8}(T\d{6}Z?)?")
_SINGLE_VALUED = ("UID", "DTSTART", "DTEND", "DURATION", "RECURRENCE-ID", "SUMMARY", "STATUS")
_SERIES_PROPS = ("RRULE", "RDATE", "RECURRENCE-ID")


def split_id(event_id: str) -> tuple[str, str | None]:
    """``"<UID>@<RID>"`` -> ``(UID, RID)``; a bare UID -> ``(UID, None)``."""
    if "@" in event_id:
        uid, rid = event_id.rsplit("@", 1)
        if RID_SHAPE.fullmatch(rid):
            return uid, rid
    return event_id, None


@dataclass(frozen=True)
class IcalView:
    """Events of one parsed calendar, as the tools see them.

    Attributes:
        calendar: the calendar, normalised for reading (never written back).
        timezone: the user's zone; floating times and dates are read in it.
        me: the user's address, to tell their own answer to an invitation.
    """

    calendar: icalendar.Component
    timezone: ZoneInfo
    me: str | None
    query: Any  # recurring_ical_events.CalendarQuery (untyped), over the series only
    single_uids: frozenset[str]
    series_uids: frozenset[str]
    # (UID, formatted RECURRENCE-ID) of each override -> its own DTSTART
    overrides: dict[tuple[str, str], Any]
    # events that do not recur, by start: (start, end, component), instants in UTC
    singles: tuple[tuple[datetime, datetime, icalendar.Component], ...] = ()

    @classmethod
    def parse(cls, data: bytes, timezone: ZoneInfo, me: str | None, *, source: str) -> IcalView:
        """Parse iCalendar text; raise BackendError naming ``source`` when it is not valid."""
        try:
            # Rewritten here as well as inside of(), so get_event sees the same times.
            calendar = x_wr_timezone.to_standard(read_calendar(data))
        except Exception as exc:  # icalendar raises ValueError, KeyError, ... on bad input
            raise BackendError(f"cannot parse calendar {source}: {exc}") from exc
        single: set[str] = set()
        series: set[str] = set()
        overrides: dict[tuple[str, str], Any] = {}
        for component in calendar.walk("VEVENT"):
            uid = str(component.get("UID", ""))
            if not uid:
                continue
            if "RECURRENCE-ID" in component:
                rid = format_rid(dt(component, "RECURRENCE-ID"))
                overrides[uid, rid] = dt(component, "DTSTART")
            if any(name in component for name in _SERIES_PROPS):
                series.add(uid)
            else:
                single.add(uid)
        singles_uids = frozenset(single - series)
        view = cls(calendar, timezone, me, None, singles_uids, frozenset(series), overrides)
        try:
            return view._indexed()
        except Exception as exc:
            raise BackendError(f"cannot parse calendar {source}: {exc}") from exc

    def _indexed(self) -> IcalView:
        """Split single events (kept sorted, no expansion needed) from series.

        Expanding is the slow part, and most events of a big calendar do not recur; the
        expansion library gets only the series, and single events are found by their times.
        """
        rest = icalendar.Calendar()
        singles = []
        for component in self.calendar.subcomponents:
            uid = str(component.get("UID", ""))
            if component.name == "VEVENT" and uid in self.single_uids:
                start = dt(component, "DTSTART")
                begin = self.aware(start).astimezone(UTC)
                end = max(self.aware(raw_end_of(component, start)).astimezone(UTC), begin)
                singles.append((begin, end, component))
            else:
                rest.add_component(component)
        singles.sort(key=lambda item: item[0])
        query = recurring_ical_events.of(rest, skip_bad_series=True)
        return replace(self, query=query, singles=tuple(singles))

    def list_events(self, start: datetime, end: datetime) -> list[Event]:
        """Occurrences overlapping ``[start, end)``, cancelled ones included."""
        try:
            components = list(
                self.query.between(start.astimezone(self.timezone), end.astimezone(self.timezone))
            )
        except Exception as exc:
            raise BackendError(f"cannot expand events: {exc}") from exc
        low, high = start.astimezone(UTC), end.astimezone(UTC)
        # an instant (start == end) also finds the events that begin exactly then
        find = bisect.bisect_right if low == high else bisect.bisect_left
        stop = find(self.singles, high, key=lambda item: item[0])
        components += [
            component
            for begin, finish, component in self.singles[:stop]
            if finish > low or (begin == finish and begin >= low)  # zero-length at the start
        ]
        return [self.event(component) for component in components]

    def get_event(self, event_id: str) -> Event:
        """The occurrence or series with this id (also a cancelled one)."""
        uid, rid = split_id(event_id)
        if rid is None and uid in self.single_uids | self.series_uids:
            master = self.master(uid)
            if master is not None:
                return self.event(master, series=uid in self.series_uids)
        elif rid is not None:
            found = self._find_occurrence(uid, rid)
            if found is not None:
                return found
        raise NotFoundError(f"no event with id {event_id!r}")

    def master(self, uid: str) -> icalendar.Component | None:
        """The component of a single event or of a series' rule (not an override)."""
        for component in self.calendar.walk("VEVENT"):
            if str(component.get("UID", "")) == uid and "RECURRENCE-ID" not in component:
                return component
        return None

    def _find_occurrence(self, uid: str, rid: str) -> Event | None:
        if not (uid in self.series_uids or uid.startswith("nouid-")):
            return None
        anchors = [self.parse_rid(rid)]
        if (uid, rid) in self.overrides:  # an override may move its occurrence far away
            anchors.append(self.aware(self.overrides[uid, rid]))
        wanted = f"{uid}@{rid}"
        for anchor in anchors:
            window = self.list_events(anchor - timedelta(days=2), anchor + timedelta(days=2))
            for event in window:
                if event.id == wanted:
                    return event
        return None

    def parse_rid(self, rid: str) -> datetime:
        """The instant a formatted RECURRENCE-ID names (dates and floating in the user zone)."""
        if len(rid) == 8:
            day = date(int(rid[:4]), int(rid[4:6]), int(rid[6:]))
            return datetime.combine(day, time(), tzinfo=self.timezone)
        if rid.endswith("Z"):
            return datetime.strptime(rid, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
        return datetime.strptime(rid, "%Y%m%dT%H%M%S").replace(tzinfo=self.timezone)

    # -- conversion ------------------------------------------------------------------------

    def _id_of(self, component: icalendar.Component) -> str:
        uid = str(component.get("UID", ""))
        if not uid:
            seed = str(component.get("SUMMARY", "")).encode()
            digest = hashlib.sha1(seed, usedforsecurity=False).hexdigest()[:12]
            return f"nouid-{digest}@{format_rid(dt(component, 'DTSTART'))}"
        if uid in self.series_uids:
            return f"{uid}@{format_rid(self._original_start(component))}"
        return uid

    def event(self, component: icalendar.Component, *, series: bool = False) -> Event:
        """One VEVENT (an expanded occurrence, or a series' rule when ``series``) as an Event."""
        raw_start = dt(component, "DTSTART")
        raw_end = raw_end_of(component, raw_start)
        start = self.aware(raw_start)
        uid = str(component.get("UID", ""))
        recurring = uid in self.series_uids
        return Event(
            id=uid if series else self._id_of(component),
            title=text(component.get("SUMMARY")) or "(no title)",
            start=start,
            end=max(self.aware(raw_end), start),
            location=text(component.get("LOCATION")),
            description=text(component.get("DESCRIPTION")),
            organizer=address(component.get("ORGANIZER")),
            attendees=[a for a in map(address, as_list(component.get("ATTENDEE"))) if a],
            my_response=self._my_response(component),
            status=_lower(component.get("STATUS")),
            free=True if _lower(component.get("TRANSP")) == "transparent" else None,
            recurring=recurring,
            series_id=uid if recurring else None,
            recurrence=_rules(component) if series else None,
            **self._zone_fields(raw_start, raw_end),
        )

    def _zone_fields(self, raw_start: date | datetime, raw_end: date | datetime) -> dict[str, Any]:
        if not isinstance(raw_start, datetime):
            end_day = raw_end if not isinstance(raw_end, datetime) else raw_end.date()
            return {
                "all_day": True,
                "start_date": raw_start,
                "end_date": max(end_day, raw_start),
                "timezone": "floating",
            }
        zone = zone_name(raw_start)
        fields: dict[str, Any] = {"timezone": zone}
        if zone not in ("floating", "UTC", self.timezone.key):
            fields.update(zone_start=raw_start, zone_end=self.aware(raw_end))
        return fields

    def _my_response(self, component: icalendar.Component) -> str | None:
        if not self.me:
            return None
        for attendee in as_list(component.get("ATTENDEE")):
            if (address(attendee) or "").casefold() == self.me.casefold():
                params = getattr(attendee, "params", {})
                return str(params.get("PARTSTAT", "NEEDS-ACTION")).lower()
        return None

    def aware(self, value: date | datetime) -> datetime:
        """A DTSTART/DTEND value as an aware datetime: dates and floating times in the user zone."""
        if not isinstance(value, datetime):
            return datetime.combine(value, time(), tzinfo=self.timezone)
        if value.tzinfo is None:
            return value.replace(tzinfo=self.timezone)
        return value

    def _original_start(self, component: icalendar.Component) -> date | datetime:
        """The time this occurrence had before any override moved it: its RECURRENCE-ID.

        recurring-ical-events copies an override's RECURRENCE-ID unchanged onto every later
        occurrence it shifts with RANGE=THISANDFUTURE; for those the original time is the
        occurrence's start minus the override's shift.
        """
        if "RECURRENCE-ID" not in component:
            return dt(component, "DTSTART")  # type: ignore[no-any-return]
        recurrence: Any = component["RECURRENCE-ID"]
        original: date | datetime = recurrence.dt
        if recurrence.params.get("RANGE", "").upper() == "THISANDFUTURE":
            key = (str(component.get("UID", "")), format_rid(original))
            override_start = self.overrides.get(key)
            if override_start is not None:
                original = dt(component, "DTSTART") - (override_start - original)
        return original


def read_calendar(data: bytes) -> icalendar.Component:
    """Parse a file into one VCALENDAR for reading: bare VEVENTs and several calendars merge.

    This is lenient on purpose (events without DTSTART are skipped, repeated single-valued
    properties keep the first); writes parse the file again, strictly (:mod:`ics`).
    """
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


def raw_end_of(component: icalendar.Component, start: date | datetime) -> date | datetime:
    """DTEND, or DTSTART + DURATION, or the RFC 5545 default (same instant, or one day)."""
    if "DTEND" in component:
        end: date | datetime = dt(component, "DTEND")
        return end
    if "DURATION" in component:
        duration: timedelta = dt(component, "DURATION")
        return start + duration
    return start if isinstance(start, datetime) else start + timedelta(days=1)


def format_rid(value: date | datetime) -> str:
    """A RECURRENCE-ID as it appears in ids (see the module docstring)."""
    if not isinstance(value, datetime):
        return value.strftime("%Y%m%d")
    if value.tzinfo is None:
        return value.strftime("%Y%m%dT%H%M%S")
    return value.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def zone_name(value: datetime) -> str:
    """The IANA name of a datetime's zone, "UTC", or "floating"."""
    if value.tzinfo is None:
        return "floating"
    key = getattr(value.tzinfo, "key", None)
    if key in ("UTC", "Etc/UTC"):
        return "UTC"
    return str(key) if key else (tzid_from_dt(value) or str(value.tzname()))


def dt(component: icalendar.Component, name: str) -> Any:
    """The decoded value of a date/time property (icalendar types it as a wide union)."""
    prop: Any = component[name]
    return prop.dt


def text(value: Any) -> str | None:
    """A property as stripped text, or None when empty."""
    stripped = str(value).strip() if value is not None else ""
    return stripped or None


def as_list(value: Any) -> list[Any]:
    """A property that may occur once or many times, as a list."""
    if value is None:
        return []
    return list(value) if isinstance(value, list) else [value]


def address(value: Any) -> str | None:
    """An ORGANIZER/ATTENDEE value without its ``mailto:``."""
    found = text(value)
    if found and found.lower().startswith("mailto:"):
        found = found[len("mailto:") :]
    return found or None


def _lower(value: Any) -> str | None:
    return str(value).lower() if value else None


def _rules(component: icalendar.Component) -> list[str]:
    rules = []
    for name in ("RRULE", "RDATE", "EXDATE"):
        for value in as_list(component.get(name)):
            rules.append(f"{name}:{value.to_ical().decode()}")
    return rules
