"""Changing iCalendar data in place: create, update, cancel and answer events.

Shared by the local .ics backend (the container is the file's VCALENDAR) and the CalDAV backend
(the container is one calendar object resource). Every edit touches only the components of one
UID and leaves everything else alone, properties morrow does not know included.

Recurring events follow RFC 5545: changing one occurrence writes (or edits) an override with
its RECURRENCE-ID; cancelling one adds an EXDATE to the rule and drops its override; changing
the series edits the rule and, for a time change, moves every occurrence with it (EXDATE, RDATE
and the overrides' RECURRENCE-IDs shift by the same amount; overrides that had been moved keep
their own time). Timestamps (DTSTAMP, LAST-MODIFIED) and SEQUENCE follow every change.
"""

from __future__ import annotations

import copy
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import icalendar

from morrow.tools.calendar.backend import EventChanges, NewEvent, Response
from morrow.tools.calendar.ical import IcalView, address, as_list, dt, raw_end_of
from morrow.tools.calendar.ical_text import split_id
from morrow.tools.errors import BackendError, NotFoundError, ToolError

# A VTIMEZONE morrow added for an event it created; removed again when nothing uses it, so that
# creating and cancelling an event leaves the file as it was.
ADDED_MARK = "X-MORROW-ADDED"
_RULE_ONLY = ("RRULE", "RDATE", "EXDATE", "EXRULE")
_TIMES = ("DTSTART", "DTEND", "DURATION", "RECURRENCE-ID")
_SINGLE_VALUED = ("UID", "DTSTART", "DTEND", "DURATION", "RECURRENCE-ID", "SUMMARY", "SEQUENCE")


class IcalEditor:
    """Edits the VEVENTs of one container (a VCALENDAR).

    Args:
        container: the calendar to change in place (parsed strictly, as it will be written).
        view: the same data parsed for reading, to find occurrences and their times.
        me: the user's address (organizer of what they create, attendee when they answer).
        now: the time of the change, for DTSTAMP and LAST-MODIFIED.
        schedule_by_client: mark attendees SCHEDULE-AGENT=CLIENT when nobody is to be
            notified, so a CalDAV server with scheduling does not email them (RFC 6638).
        used_elsewhere: TZIDs used by events not in ``container`` (a write that edits one
            event of a big file is handed only that event): their VTIMEZONEs are needed.
    """

    def __init__(
        self,
        container: icalendar.Component,
        view: IcalView,
        *,
        me: str | None,
        now: datetime,
        schedule_by_client: bool = False,
        used_elsewhere: frozenset[str] = frozenset(),
    ) -> None:
        self.container = container
        self.used_elsewhere = used_elsewhere
        self.view = view
        self.zone = view.timezone
        self.me = me
        self.now = now.astimezone(UTC).replace(microsecond=0)
        self.schedule_by_client = schedule_by_client

    def components(self, uid: str) -> list[icalendar.Component]:
        """The VEVENTs with this UID: the rule or single event, and the overrides."""
        return [
            c
            for c in self.container.subcomponents
            if c.name == "VEVENT" and str(c.get("UID", "")) == uid
        ]

    # -- create ----------------------------------------------------------------------------

    def create(self, new: NewEvent, *, notify: bool) -> bool:
        """Add the event; False when its UID is already there (a repeated create)."""
        if self.components(new.uid):
            return False
        zone = new.start.tzinfo if isinstance(new.start.tzinfo, ZoneInfo) else self.zone
        event = icalendar.Event()
        event.add("UID", new.uid)
        event.add("DTSTAMP", self.now)
        event.add("CREATED", self.now)
        event.add("SEQUENCE", 0)
        event.add("SUMMARY", new.title)
        event.add("DTSTART", new.start.astimezone(zone))
        event.add("DTEND", new.end.astimezone(zone))
        if new.location:
            event.add("LOCATION", new.location)
        if new.description:
            event.add("DESCRIPTION", new.description)
        if new.attendees and self.me:
            event.add("ORGANIZER", icalendar.vCalAddress(f"mailto:{self.me}"))
        for attendee in new.attendees:
            event.add("ATTENDEE", self._attendee(attendee, notify=notify))
        self._ensure_timezone(zone)
        self.container.add_component(event)
        return True

    def _attendee(self, email: str, *, notify: bool) -> icalendar.vCalAddress:
        value = icalendar.vCalAddress(f"mailto:{email}")
        value.params.update({"ROLE": "REQ-PARTICIPANT", "PARTSTAT": "NEEDS-ACTION"})
        value.params["RSVP"] = "TRUE"
        if self.schedule_by_client and not notify:
            value.params["SCHEDULE-AGENT"] = "CLIENT"
        return value

    def _ensure_timezone(self, zone: Any) -> None:
        key = getattr(zone, "key", None)
        if not key or key == "UTC":
            return
        known = {str(tz.get("TZID")) for tz in self.container.walk("VTIMEZONE")}
        if key in known or key in self._used_tzids():
            return  # a file that names IANA zones without VTIMEZONEs keeps its convention
        timezone = icalendar.Timezone.from_tzid(key)
        timezone.add(ADDED_MARK, "TRUE")
        self.container.subcomponents.insert(0, timezone)

    def _used_tzids(self) -> set[str]:
        used: set[str] = set(self.used_elsewhere)
        for component in self.container.walk():
            for _, value in component.property_items(recursive=False, sorted=False):
                tzid = getattr(value, "params", {}).get("TZID")
                if tzid:
                    used.add(str(tzid))
        return used

    def prune_timezones(self) -> None:
        """Drop VTIMEZONEs morrow added that no event uses any more."""
        used = self._used_tzids()
        self.container.subcomponents = [
            c
            for c in self.container.subcomponents
            if not (c.name == "VTIMEZONE" and ADDED_MARK in c and str(c.get("TZID")) not in used)
        ]

    # -- update ----------------------------------------------------------------------------

    def update(self, event_id: str, changes: EventChanges, *, notify: bool) -> None:
        """Change one occurrence, a single event, or a whole series (by its UID)."""
        uid, rid = split_id(event_id)
        if rid is not None:
            targets = [self.occurrence(uid, rid)]
        else:
            master = self._master(uid)
            overrides = [c for c in self.components(uid) if c is not master]
            if changes.start is not None or changes.end is not None:
                self._move_series(master, overrides, changes)
                changes = changes.model_copy(update={"start": None, "end": None})
            self._follow_master(master, overrides, changes, notify=notify)
            targets = [master]
        for target in targets:
            self._apply(target, changes, notify=notify)

    def occurrence(self, uid: str, rid: str) -> icalendar.Component:
        """The override of one occurrence; written from the rule when there is none yet."""
        occurrence = self.view.get_event(f"{uid}@{rid}")  # NotFoundError for a wrong id
        master = None
        for component in self.components(uid):
            if "RECURRENCE-ID" not in component:
                master = component
            elif self._rid_matches(component, rid):
                _check_single_valued(component, uid)
                return component
        if master is None:
            raise NotFoundError(f"no event with id {uid}@{rid!r}")
        _check_single_valued(master, uid)
        override = icalendar.Event()
        for name, value in master.property_items(recursive=False, sorted=False)[1:-1]:
            if name not in _RULE_ONLY + _TIMES:
                override.add(name, copy.deepcopy(value), encode=False)
        override.subcomponents = [copy.deepcopy(c) for c in master.subcomponents]
        start_value = dt(master, "DTSTART")
        override.add("RECURRENCE-ID", self._like(start_value, self.view.parse_rid(rid)))
        override.add("DTSTART", self._like(start_value, occurrence.start))
        override.add("DTEND", self._like(start_value, occurrence.end))
        self.container.add_component(override)
        return override

    def _rid_matches(self, component: icalendar.Component, rid: str) -> bool:
        value = dt(component, "RECURRENCE-ID")
        return bool(self.view.aware(value) == self.view.parse_rid(rid))

    def _master(self, uid: str) -> icalendar.Component:
        for component in self.components(uid):
            if "RECURRENCE-ID" not in component:
                _check_single_valued(component, uid)
                return component
        raise NotFoundError(f"no event with id {uid!r}")

    def _apply(
        self, component: icalendar.Component, changes: EventChanges, *, notify: bool
    ) -> None:
        if changes.title is not None:
            _set(component, "SUMMARY", changes.title)
        for name, value in (("LOCATION", changes.location), ("DESCRIPTION", changes.description)):
            if value is not None:
                _set(component, name, value or None)
        if changes.start is not None or changes.end is not None:
            self._retime(component, changes.start, changes.end)
        self._change_attendees(component, changes, notify=notify)
        self.schedule(component, notify=notify)
        self._touch(component)

    def schedule(self, component: icalendar.Component, *, notify: bool) -> None:
        """Let a scheduling CalDAV server email the attendees about this change, or not."""
        if not self.schedule_by_client:
            return
        for attendee in as_list(component.get("ATTENDEE")):
            if notify:
                attendee.params.pop("SCHEDULE-AGENT", None)
            else:
                attendee.params["SCHEDULE-AGENT"] = "CLIENT"

    def quiet(self, uid: str) -> None:
        """Mark every attendee of the event SCHEDULE-AGENT=CLIENT (see :meth:`schedule`)."""
        for component in self.components(uid):
            self.schedule(component, notify=False)

    def _retime(
        self, component: icalendar.Component, start: datetime | None, end: datetime | None
    ) -> None:
        old_start = dt(component, "DTSTART")
        old_end = raw_end_of(component, old_start)
        begin = start or self.view.aware(old_start)
        finish = end or begin + (
            _instant(self.view.aware(old_end)) - _instant(self.view.aware(old_start))
        )
        if (
            not isinstance(old_start, datetime)
            and _is_midnight(begin, self.zone)
            and _is_midnight(finish, self.zone)
        ):
            new_start: date | datetime = begin.astimezone(self.zone).date()
            new_end: date | datetime = finish.astimezone(self.zone).date()
        else:
            template = old_start if isinstance(old_start, datetime) else None
            new_start = self._in_zone(begin, template, start)
            new_end = self._in_zone(finish, template, start)
        component.pop("DTSTART")
        component.add("DTSTART", new_start)
        if "DURATION" in component:
            component.pop("DURATION")
            component.add("DURATION", _instant_diff(new_start, new_end, self.view))
        else:
            component.pop("DTEND", None)
            component.add("DTEND", new_end)
        if isinstance(new_start, datetime) and isinstance(new_start.tzinfo, ZoneInfo):
            self._ensure_timezone(new_start.tzinfo)

    def _in_zone(
        self, value: datetime, template: datetime | None, given: datetime | None
    ) -> datetime:
        """An instant in the zone the event is kept in: a zone the model named, else the old."""
        if given is not None and isinstance(given.tzinfo, ZoneInfo):
            return value.astimezone(given.tzinfo)
        if template is None:
            return value.astimezone(self.zone)
        if template.tzinfo is None:  # floating stays floating, read in the user's zone
            return value.astimezone(self.zone).replace(tzinfo=None)
        return value.astimezone(template.tzinfo)

    def _move_series(
        self,
        master: icalendar.Component,
        overrides: list[icalendar.Component],
        changes: EventChanges,
    ) -> None:
        """Move the rule; EXDATE, RDATE and overrides follow by the same shift."""
        old_start = dt(master, "DTSTART")
        self._retime(master, changes.start, changes.end)
        move = _WallClockShift(old_start, dt(master, "DTSTART"))
        if not move.shift and move.same_zone:
            return
        for name in ("EXDATE", "RDATE"):
            values = as_list(master.get(name))
            if values:
                master.pop(name)
                for value in values:
                    master.add(name, [move(d.dt) for d in value.dts])
        for override in overrides:
            recurrence = dt(override, "RECURRENCE-ID")
            unmoved = _instant_diff(recurrence, dt(override, "DTSTART"), self.view) == timedelta()
            _replace_time(override, "RECURRENCE-ID", move(recurrence))
            if unmoved:
                self._retime(override, self.view.aware(move(recurrence)), None)

    def _follow_master(
        self,
        master: icalendar.Component,
        overrides: list[icalendar.Component],
        changes: EventChanges,
        *,
        notify: bool,
    ) -> None:
        """Overrides that still had the series' text get the new text as well."""
        for override in overrides:
            for name, value in (
                ("SUMMARY", changes.title),
                ("LOCATION", changes.location),
                ("DESCRIPTION", changes.description),
            ):
                if value is not None and str(override.get(name, "")) == str(master.get(name, "")):
                    _set(override, name, value or None)
            self._change_attendees(override, changes, notify=notify)
            self._touch(override)

    def _change_attendees(
        self, component: icalendar.Component, changes: EventChanges, *, notify: bool
    ) -> None:
        if not (changes.add_attendees or changes.remove_attendees):
            return
        removed = {a.casefold() for a in changes.remove_attendees}
        kept = [
            a
            for a in as_list(component.get("ATTENDEE"))
            if (address(a) or "").casefold() not in removed
        ]
        present = {(address(a) or "").casefold() for a in kept}
        for email in changes.add_attendees:
            if email.casefold() not in present:
                kept.append(self._attendee(email, notify=notify))
                present.add(email.casefold())
        component.pop("ATTENDEE", None)
        for attendee in kept:
            component.add("ATTENDEE", attendee, encode=False)
        if kept and "ORGANIZER" not in component and self.me:
            component.add("ORGANIZER", icalendar.vCalAddress(f"mailto:{self.me}"))

    def _touch(self, component: icalendar.Component) -> None:
        sequence = int(str(component.get("SEQUENCE", 0)) or 0)
        _set(component, "SEQUENCE", sequence + 1)
        for name in ("DTSTAMP", "LAST-MODIFIED"):
            component.pop(name, None)
            component.add(name, self.now)

    # -- cancel ----------------------------------------------------------------------------

    def cancel(self, event_id: str, *, notify: bool = False) -> None:
        """Remove a single event or series (by UID), or exclude one occurrence."""
        uid, rid = split_id(event_id)
        doomed = self.components(uid)
        if not doomed:
            raise NotFoundError(f"no event with id {event_id!r}")
        if rid is not None:
            self.view.get_event(event_id)  # NotFoundError for an occurrence that never was
            doomed = [c for c in doomed if "RECURRENCE-ID" in c and self._rid_matches(c, rid)]
            for master in self.components(uid):
                if "RECURRENCE-ID" not in master:
                    _check_single_valued(master, uid)
                    start = dt(master, "DTSTART")
                    master.add("EXDATE", self._like(start, self.view.parse_rid(rid)))
                    self.schedule(master, notify=notify)
                    self._touch(master)
        ids = {id(c) for c in doomed}
        self.container.subcomponents = [c for c in self.container.subcomponents if id(c) not in ids]
        self.prune_timezones()

    # -- respond ---------------------------------------------------------------------------

    def respond(self, event_id: str, response: Response, comment: str | None) -> None:
        """Set the user's PARTSTAT (and a COMMENT) on the occurrence, event or series."""
        if not self.me:
            raise ToolError("your email address is not configured ([user] email): cannot answer")
        uid, rid = split_id(event_id)
        targets = [self.occurrence(uid, rid)] if rid is not None else self.components(uid)
        if not targets:
            raise NotFoundError(f"no event with id {event_id!r}")
        for target in targets:
            mine = [
                a
                for a in as_list(target.get("ATTENDEE"))
                if (address(a) or "").casefold() == self.me.casefold()
            ]
            if not mine:
                raise ToolError(f"you ({self.me}) are not invited to this event")
            for attendee in mine:
                attendee.params["PARTSTAT"] = response.upper()
                attendee.params.pop("RSVP", None)
            if comment:
                _set(target, "COMMENT", comment)
            self._touch(target)

    # -- helpers ---------------------------------------------------------------------------

    def _like(self, template: date | datetime, instant: datetime) -> date | datetime:
        """An instant written the way ``template`` is (date, floating, or in its zone)."""
        if not isinstance(template, datetime):
            return instant.astimezone(self.zone).date()
        if template.tzinfo is None:
            return instant.astimezone(self.zone).replace(tzinfo=None)
        return instant.astimezone(template.tzinfo)


def _check_single_valued(component: icalendar.Component, uid: str) -> None:
    for name in _SINGLE_VALUED:
        if isinstance(component.get(name), list):
            raise BackendError(
                f"event {uid!r} has {name} more than once; morrow will not rewrite it "
                "(fix the event in another calendar program)"
            )


def _set(component: icalendar.Component, name: str, value: Any) -> None:
    component.pop(name, None)
    if value is not None:
        component.add(name, value)


def _replace_time(component: icalendar.Component, name: str, value: date | datetime) -> None:
    params = {k: str(v) for k, v in component[name].params.items() if k not in ("TZID", "VALUE")}
    component.pop(name)
    component.add(name, value, parameters=params)


def _instant(value: datetime) -> datetime:
    return value.astimezone(UTC)


def _instant_diff(a: date | datetime, b: date | datetime, view: IcalView) -> timedelta:
    """``b - a`` in elapsed time (aware arithmetic in one zone would be wall-clock time)."""
    if not isinstance(a, datetime) and not isinstance(b, datetime):
        return b - a
    return _instant(view.aware(b)) - _instant(view.aware(a))


class _WallClockShift:
    """Moves times of a series the way its DTSTART moved, in wall-clock time.

    Occurrences of a rule are wall-clock times in the rule's zone, so an EXDATE in summer follows
    a winter DTSTART moved from 10:00 to 11:00 to 11:00 summer time, not by elapsed hours.
    """

    def __init__(self, old: date | datetime, new: date | datetime) -> None:
        self.old_zone = old.tzinfo if isinstance(old, datetime) else None
        self.new_zone = new.tzinfo if isinstance(new, datetime) else None
        self.same_zone = self.old_zone is self.new_zone
        self.shift = _wall(new) - _wall(old)

    def __call__(self, value: date | datetime) -> date | datetime:
        if not isinstance(value, datetime):
            return value + timedelta(days=self.shift.days)
        if value.tzinfo is not None and self.old_zone is not None:
            value = value.astimezone(self.old_zone)
        return (value.replace(tzinfo=None) + self.shift).replace(tzinfo=self.new_zone)


def _wall(value: date | datetime) -> datetime:
    if not isinstance(value, datetime):
        return datetime.combine(value, time())
    return value.replace(tzinfo=None)


def _is_midnight(value: datetime, zone: ZoneInfo) -> bool:
    return value.astimezone(zone).time() == time()
