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
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import icalendar
import x_wr_timezone
from icalendar.timezone import tzid_from_dt

from morrow.tools.calendar.backend import Event, Events
from morrow.tools.calendar.ical_text import split_id
from morrow.tools.calendar.recurrence import cut_note, describe, expand
from morrow.tools.errors import BackendError, NotFoundError, printable

_SINGLE_VALUED = ("UID", "DTSTART", "DTEND", "DURATION", "RECURRENCE-ID", "SUMMARY", "STATUS")
_SERIES_PROPS = ("RRULE", "RDATE", "RECURRENCE-ID")


@dataclass(frozen=True)
class IcalView:
    """Events of one parsed calendar, as the tools see them.

    An event that cannot be read (a DTSTART that is no date, a time outside what a computer
    calendar holds) is left out and named in ``problems``; the rest of the calendar is served.

    Attributes:
        calendar: the calendar, normalised for reading (never written back).
        timezone: the user's zone; floating times and dates are read in it.
        me: the user's address, to tell their own answer to an invitation.
        series: recurring-ical-events' series by UID, with the component of its rule (events
            without a UID are series of their own, keyed ``#<n>``).
        masters: the component of each single event and each series' rule, by UID.
        single_uids: UIDs of events that do not recur.
        series_uids: UIDs of recurring series (a rule, RDATEs or overrides).
        overrides: (UID, formatted RECURRENCE-ID) of each override -> its own DTSTART.
        singles: events that do not recur, by start: (start, end, component), instants in UTC.
        problems: the events left out: (UID, why in one line).
    """

    calendar: icalendar.Component
    timezone: ZoneInfo
    me: str | None
    series: dict[str, tuple[Any, icalendar.Component | None]]
    masters: dict[str, icalendar.Component]
    single_uids: frozenset[str]
    series_uids: frozenset[str]
    overrides: dict[tuple[str, str], Any]
    singles: tuple[tuple[datetime, datetime, icalendar.Component], ...] = ()
    problems: tuple[tuple[str, str], ...] = ()

    @classmethod
    def parse(cls, data: bytes, timezone: ZoneInfo, me: str | None, *, source: str) -> IcalView:
        """Parse iCalendar text; raise BackendError naming ``source`` when it is not valid."""
        try:
            calendar = read_calendar(data)
        except Exception as exc:  # icalendar raises ValueError, KeyError, ... on bad input
            raise BackendError(f"cannot parse calendar {source}: {printable(exc)}") from exc
        try:  # Google's exports: UTC and floating times are meant in the calendar's zone
            calendar = x_wr_timezone.to_standard(calendar)
        except Exception:  # an X-WR-TIMEZONE that names no zone says nothing: ignored
            pass
        return cls.of(calendar, timezone, me)

    @classmethod
    def empty(cls, timezone: ZoneInfo, me: str | None) -> IcalView:
        """A view of no events (its conversions still serve events read elsewhere)."""
        return cls(icalendar.Calendar(), timezone, me, {}, {}, frozenset(), frozenset(), {})

    @classmethod
    def of(cls, calendar: icalendar.Component, timezone: ZoneInfo, me: str | None) -> IcalView:
        """The view of a parsed calendar (already normalised for X-WR-TIMEZONE)."""
        groups: dict[str, list[icalendar.Component]] = {}
        problems: list[tuple[str, str]] = []
        for component in calendar.walk("VEVENT"):
            problem = _unreadable(component, timezone)
            if problem is not None:
                uid = str(component.get("UID", ""))
                problems.append((uid, f"skipped {describe(component)}: {problem}"))
                continue
            groups.setdefault(str(component.get("UID", "")), []).append(component)
        view = cls(calendar, timezone, me, {}, {}, frozenset(), frozenset(), {})
        return view._grouped(groups, problems)

    def _grouped(
        self, groups: dict[str, list[icalendar.Component]], problems: list[tuple[str, str]]
    ) -> IcalView:
        """Split single events (kept sorted, no expansion needed) from series.

        Expanding is the slow part, and most events of a big calendar do not recur; the
        expansion library gets only the series, and single events are found by their times.
        """
        from recurring_ical_events.adapters.event import EventAdapter
        from recurring_ical_events.series import Series

        singles, series, masters, overrides = [], {}, {}, {}
        for uid, components in groups.items():
            recurring = not uid or any(n in c for c in components for n in _SERIES_PROPS)
            rule = next((c for c in components if "RECURRENCE-ID" not in c), None)
            if rule is not None and uid:
                masters[uid] = rule
            if not recurring:
                for component in components:
                    begin, end = self._span(component)
                    singles.append((begin, end, component))
                continue
            parts = [[c] for c in components] if not uid else [components]
            for index, part in enumerate(parts):
                try:
                    made = Series([EventAdapter(c) for c in part])
                    series[uid or f"#{index}"] = (made, rule if uid else part[0])
                except Exception as exc:  # the library refuses some broken series
                    problems.append((uid, f"skipped {describe(part[0])}: {printable(exc)}"))
            for component in components:
                if "RECURRENCE-ID" in component:
                    rid = format_rid(dt(component, "RECURRENCE-ID"))
                    overrides[uid, rid] = dt(component, "DTSTART")
        singles.sort(key=lambda item: item[0])
        return replace(
            self,
            series=series,
            masters=masters,
            single_uids=frozenset(u for u in groups if u and u not in series),
            series_uids=frozenset(u for u in series if not u.startswith("#")),
            overrides=overrides,
            singles=tuple(singles),
            problems=tuple(problems),
        )

    def _span(self, component: icalendar.Component) -> tuple[datetime, datetime]:
        start = dt(component, "DTSTART")
        begin = self.aware(start).astimezone(UTC)
        return begin, max(self.aware(raw_end_of(component, start)).astimezone(UTC), begin)

    def list_events(self, start: datetime, end: datetime) -> Events:
        """Occurrences overlapping ``[start, end)``, cancelled ones included.

        Series are expanded within limits (:mod:`morrow.tools.calendar.recurrence`); what a
        limit cut, and every event that could not be read, is said in the result's notes.
        """
        found = Events(notes=[note for _, note in self.problems])
        for series, master in self.series.values():
            try:
                expansion = expand(series, master, start, end, self.timezone)
                found.extend(self.event(o.as_component(False)) for o in expansion.occurrences)
            except Exception as exc:  # one broken series must not cost the whole calendar
                found.notes.append(f"skipped {describe(master)}: {printable(exc)}")
                continue
            if expansion.cut_at is not None:
                found.notes.append(cut_note(master, expansion.cut_at, self.timezone))
        low, high = start.astimezone(UTC), end.astimezone(UTC)
        # an instant (start == end) also finds the events that begin exactly then
        find = bisect.bisect_right if low == high else bisect.bisect_left
        stop = find(self.singles, high, key=lambda item: item[0])
        found.extend(
            self.event(component)
            for begin, finish, component in self.singles[:stop]
            if finish > low or (begin == finish and begin >= low)  # zero-length at the start
        )
        return found

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
        return self.masters.get(uid)

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

    def _id_at(self, component: icalendar.Component, start: date | datetime) -> str:
        uid = str(component.get("UID", ""))
        if not uid:
            seed = str(component.get("SUMMARY", "")).encode()
            digest = hashlib.sha1(seed, usedforsecurity=False).hexdigest()[:12]
            return f"nouid-{digest}@{format_rid(start)}"
        if uid in self.series_uids:
            return f"{uid}@{format_rid(self._original(component, start))}"
        return uid

    def times(
        self, component: icalendar.Component, raw_start: date | datetime, raw_end: date | datetime
    ) -> dict[str, Any]:
        """The fields of an event (or occurrence) that depend on its times: id, times, zones."""
        start = self.aware(raw_start)
        return {
            "id": self._id_at(component, raw_start),
            "start": start,
            "end": max(self.aware(raw_end), start),
            **self.zone_fields(raw_start, raw_end),
        }

    def event(self, component: icalendar.Component, *, series: bool = False) -> Event:
        """One VEVENT (an expanded occurrence, or a series' rule when ``series``) as an Event."""
        raw_start = dt(component, "DTSTART")
        fields = self.times(component, raw_start, raw_end_of(component, raw_start))
        uid = str(component.get("UID", ""))
        recurring = uid in self.series_uids
        if series:
            fields["id"] = uid
        return Event(
            title=text(component.get("SUMMARY")) or "(no title)",
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
            **fields,
        )

    def zone_fields(self, raw_start: date | datetime, raw_end: date | datetime) -> dict[str, Any]:
        """The fields saying whether an event is all-day, and in which zone it was written."""
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

    def _original(self, component: icalendar.Component, start: date | datetime) -> date | datetime:
        """The time an occurrence starting at ``start`` had before any override moved it.

        That is its RECURRENCE-ID; recurring-ical-events gives every later occurrence an
        override with RANGE=THISANDFUTURE shifts the override's component, whose
        RECURRENCE-ID is its own: for those the original time is the occurrence's start minus
        the override's shift.
        """
        if "RECURRENCE-ID" not in component:
            return start
        recurrence: Any = component["RECURRENCE-ID"]
        original: date | datetime = recurrence.dt
        if recurrence.params.get("RANGE", "").upper() == "THISANDFUTURE":
            key = (str(component.get("UID", "")), format_rid(original))
            override_start = self.overrides.get(key)
            if override_start is not None:
                original = start - (override_start - original)
        return original


def read_calendar(data: bytes) -> icalendar.Component:
    """Parse a file into one VCALENDAR for reading: bare VEVENTs and several calendars merge.

    This is lenient on purpose (repeated single-valued properties keep the first; an event
    without DTSTART is left for :class:`IcalView` to name); writes parse what they change
    again, strictly (:mod:`ics`).
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


def _unreadable(component: icalendar.Component, zone: ZoneInfo) -> str | None:
    """Why an event cannot be placed in time, or None when it can."""
    if "DTSTART" not in component:
        return "it has no DTSTART"
    try:
        start = dt(component, "DTSTART")
        for value in (start, raw_end_of(component, start)):
            _place(value, zone)
        if "RECURRENCE-ID" in component:
            _place(dt(component, "RECURRENCE-ID"), zone)
    except Exception as exc:  # icalendar's broken values raise many kinds of error
        return printable(exc)
    return None


def _place(value: Any, zone: ZoneInfo) -> None:
    if not isinstance(value, date):
        raise ValueError(f"not a date or time: {value!r}")
    if not isinstance(value, datetime):
        value = datetime.combine(value, time(), tzinfo=zone)
    elif value.tzinfo is None:
        value = value.replace(tzinfo=zone)
    moment = value.astimezone(UTC)
    moment + timedelta(days=2)  # room to expand around it
    moment - timedelta(days=2)
