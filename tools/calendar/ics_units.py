"""Reading the units of an .ics file (one UID's components each) into rows of the index.

A plain single event is read from its text (:func:`~morrow.tools.calendar.ical_text.read_plain`);
every other unit (a series, an event in a zone only its VTIMEZONE defines, anything odd) is
parsed by icalendar, all of them in one calendar made of the file's header, its VTIMEZONEs
and their components. A unit that breaks that parse is parsed alone, so one bad event costs
only itself: it is left out, and its note names it.

A series is expanded from its start to the horizon (at most :data:`MAX_STORED` occurrences);
each occurrence row holds its id, times and zones, and the fields its component gives all its
occurrences (title, attendees ...) are stored once, as a template.
"""

from __future__ import annotations

import json
import math
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from morrow.memory.calendar_index import UnitRows
from morrow.tools.calendar import ical_text
from morrow.tools.calendar.ical import IcalView, address, dt, format_rid, text, zone_name
from morrow.tools.calendar.ical_text import Chunk, Plain, Snapshot
from morrow.tools.calendar.recurrence import cut_note, describe, estimate, expand
from morrow.tools.errors import BackendError, printable

if TYPE_CHECKING:
    import icalendar

EAGER = 30_000  # occurrences indexed at once; more, and the past of old series waits
MAX_STORED = 10_000  # occurrences of one series kept in the index (27 years of a daily one)
_FAR_PAST = datetime(1000, 1, 1, tzinfo=UTC)
_TIME_KEYS = ("id", "start", "end", "all_day", "start_date", "end_date", "timezone")
_TIME_KEYS += ("zone_start", "zone_end")  # type: ignore[assignment]


class UnitReader:
    """Reads units of one snapshot of a file into index rows.

    Args:
        timezone: the user's zone.
        me: the user's address.
        snap: the file.
        horizon: series are expanded up to this instant (seconds since 1970).
        floor: a series begun before this instant is stored from it on; its past is
            stored when a question first reaches it (:meth:`past`).
    """

    def __init__(
        self,
        timezone: ZoneInfo,
        me: str | None,
        snap: Snapshot,
        horizon: float,
        floor: float | None = None,
    ) -> None:
        self.timezone = timezone
        self.me = me
        self.snap = snap
        self.horizon = datetime.fromtimestamp(horizon, UTC)
        self.floor = _FAR_PAST if floor is None else datetime.fromtimestamp(floor, UTC)
        header = snap.layout.header(snap.data)
        self.prefix = (
            b"BEGIN:VCALENDAR\r\n"
            + header
            + b"".join(
                snap.data[c.start : c.stop] for c in snap.layout.chunks if c.name == "VTIMEZONE"
            )
        )
        self.x_wr = _x_wr_zone(header)
        self.plain_view = IcalView.empty(timezone, me)

    def read(self, units: dict[str, list[Chunk]], hashes: dict[str, str]) -> list[UnitRows]:
        """The rows of each unit."""
        rows: list[UnitRows] = []
        slow: dict[str, list[Chunk]] = {}
        for unit, chunks in units.items():
            plain = self._plain(unit, chunks, hashes[unit])
            if plain is None:
                slow[unit] = chunks
            else:
                rows.append(plain)
        if slow:
            rows += self._parsed(slow, hashes)
        return rows

    # -- plain events, without icalendar ---------------------------------------------------

    def _plain(self, unit: str, chunks: list[Chunk], digest: str) -> UnitRows | None:
        if unit.startswith("#"):
            return None
        rows = UnitRows(unit, digest)
        for chunk in chunks:
            own = ical_text.own_text(self.snap.data, chunk)
            if ical_text.is_series(own):
                return None
            plain = ical_text.read_plain(own, self.x_wr)
            if plain is None or plain.uid != unit:
                return None
            try:
                fields = self._plain_fields(plain)
                begin = fields["start"].astimezone(UTC).timestamp()
                stop = max(fields["end"].astimezone(UTC).timestamp(), begin)
                (fields["start"] - timedelta(days=2), fields["end"] + timedelta(days=2))
            except (OverflowError, ValueError):  # near the end of time: icalendar's path names it
                return None
            rows.events.append((begin, stop, unit, None, json_doc(fields)))
        return rows

    def _plain_fields(self, plain: Plain) -> dict[str, Any]:
        """What :meth:`IcalView.event` makes of the same event."""
        props, view = plain.props, self.plain_view
        attendees = [(address(value), partstat) for value, partstat in props["ATTENDEE"]]
        mine = None
        if self.me:
            for found, partstat in attendees:
                if (found or "").casefold() == self.me.casefold():
                    mine = str(partstat or "NEEDS-ACTION").lower()
                    break
        status, transp = props.get("STATUS"), props.get("TRANSP")
        start = view.aware(plain.start)
        return {
            "id": plain.uid,
            "title": text(props.get("SUMMARY")) or "(no title)",
            "start": start,
            "end": max(view.aware(plain.end), start),
            "location": text(props.get("LOCATION")),
            "description": text(props.get("DESCRIPTION")),
            "organizer": address(props.get("ORGANIZER")),
            "attendees": [found for found, _ in attendees if found],
            "my_response": mine,
            "status": status.lower() if status else None,
            "free": True if transp and transp.lower() == "transparent" else None,
            **view.zone_fields(plain.start, plain.end),
        }

    # -- everything else, with icalendar ---------------------------------------------------

    def view(self, units: dict[str, list[Chunk]]) -> IcalView | None:
        """The units parsed together (None when there are none)."""
        if not units:
            return None
        return self._parse([c for chunks in units.values() for c in chunks])

    def _parse(self, chunks: list[Chunk]) -> IcalView:
        body = b"".join(self.snap.data[c.start : c.stop] for c in chunks)
        data = self.prefix + body + b"END:VCALENDAR\r\n"
        return IcalView.parse(data, self.timezone, self.me, source="")

    def _parsed(self, units: dict[str, list[Chunk]], hashes: dict[str, str]) -> list[UnitRows]:
        named = {u: cs for u, cs in units.items() if not u.startswith("#")}
        together: IcalView | None = None
        if named:
            try:
                together = self.view(named)
            except BackendError:
                together = None  # some unit breaks the parse: each alone, to find which
        if together is not None and self.floor > _FAR_PAST:
            expected = sum(
                estimate(master, self.timezone, self.horizon)
                for _, master in together.series.values()
            )
            if expected <= EAGER:  # a few years of series: all of it now, none deferred
                self.floor = _FAR_PAST
        rows = []
        for unit, chunks in units.items():
            view = together if unit in named else None
            try:
                view = view or self._parse(chunks)
            except BackendError as exc:
                note = f"skipped event UID {printable(unit, limit=80)}: {exc}"
                rows.append(UnitRows(unit, hashes[unit], notes=[(note, None)]))
                continue
            rows.append(self._rows(view, unit, hashes[unit]))
        return rows

    def _rows(self, view: IcalView, unit: str, digest: str) -> UnitRows:
        rows = UnitRows(unit, digest)
        alone = unit.startswith("#")
        rows.notes = [(note, None) for uid, note in view.problems if alone or uid == unit]
        for begin, end, component in view.singles:
            if alone or str(component.get("UID", "")) == unit:
                fields = view.event(component).model_dump(exclude_none=True)
                rows.events.append(
                    (begin.timestamp(), end.timestamp(), fields["id"], None, json_doc(fields))
                )
        for key, (series, master) in view.series.items():
            if key == unit or (alone and key.startswith("#")):
                self._series(view, series, master, rows)
        return rows

    def past(self, units: dict[str, list[Chunk]], below: dict[str, float]) -> list[UnitRows]:
        """The occurrences of these series before ``below[unit]``, not stored until now."""
        named = self.view({u: cs for u, cs in units.items() if not u.startswith("#")})
        found = []
        for unit, chunks in units.items():
            rows = UnitRows(unit, "")
            view = named if not unit.startswith("#") else self._parse(chunks)
            stop = datetime.fromtimestamp(below[unit], UTC)
            if view is not None:
                for key, (series, master) in view.series.items():
                    if key == unit or unit.startswith("#"):
                        self._expand_into(view, series, master, rows, _FAR_PAST, stop)
            found.append(rows)
        return found

    def _series(
        self, view: IcalView, series: Any, master: icalendar.Component | None, rows: UnitRows
    ) -> None:
        start = _FAR_PAST
        try:
            if self.floor > _FAR_PAST and _earliest(view, master, series) < self.floor:
                start, rows.below = self.floor, self.floor.timestamp()
            expansion = self._expand_into(view, series, master, rows, start, self.horizon)
        except Exception as exc:  # one series the library cannot expand costs only itself
            rows.events.clear()
            rows.below = None
            rows.notes.append((f"skipped {describe(master)}: {printable(exc)}", None))
            return
        if master is not None:
            uid = str(master.get("UID", ""))
            if uid:
                rows.series = view.event(master, series=True).model_dump_json(exclude_none=True)
        if expansion.cut_at is not None:
            note = cut_note(master, expansion.cut_at, self.timezone)
            rows.notes.append((note, expansion.cut_at.timestamp()))
        else:
            rows.open_end = _goes_on(series, master, self.horizon, self.timezone)

    def _expand_into(
        self,
        view: IcalView,
        series: Any,
        master: icalendar.Component | None,
        rows: UnitRows,
        start: datetime,
        stop: datetime,
    ) -> Any:
        """Add the occurrences starting in ``[start, stop)`` to ``rows``; the expansion."""
        expansion = expand(
            series, master, start, stop, self.timezone, cap=MAX_STORED, steps=2 * MAX_STORED
        )
        shapes: dict[int, _Shape] = {}
        low = start.timestamp() if start > _FAR_PAST else -math.inf
        high = stop.timestamp()
        for occurrence in expansion.occurrences:
            component = occurrence._adapter._component  # the rule, or an override
            shape = shapes.get(id(component))
            if shape is None:
                shape = shapes[id(component)] = _Shape(view, component, len(rows.templates))
                rows.templates.append(_template(view, component))
            row = shape.row(occurrence.start, occurrence.end)
            if low <= row[0] < high:  # one that began before ``start`` is stored with its past
                rows.events.append(row)
        return expansion


def _earliest(view: IcalView, master: icalendar.Component | None, series: Any) -> datetime:
    """When the series' first component starts (its rule, or its earliest override)."""
    starts = [c.start for c in series.components] if hasattr(series, "components") else []
    moments = [view.aware(s) for s in starts]
    if master is not None:
        moments.append(view.aware(dt(master, "DTSTART")))
    return min(moments, default=_FAR_PAST)


class _Shape:
    """What the occurrences of one component (a rule or an override) share, worked out once.

    Each occurrence row is then its id (UID and original start) and times: as
    :meth:`IcalView.times` gives them, without looking the component up again.
    """

    def __init__(self, view: IcalView, component: icalendar.Component, index: int) -> None:
        self.view, self.component, self.index = view, component, index
        self.zones: dict[int, str] = {}
        uid = str(component.get("UID", ""))
        self.prefix: str | None = f"{uid}@" if uid else None  # None: ids the generic way
        self.fixed: Any = None  # an override's own RECURRENCE-ID
        self.shift: Any = None  # THISANDFUTURE: how far later occurrences moved
        if "RECURRENCE-ID" in component:
            recurrence: Any = component["RECURRENCE-ID"]
            original = recurrence.dt
            moved = view.overrides.get((uid, format_rid(original)))
            if recurrence.params.get("RANGE", "").upper() == "THISANDFUTURE" and moved is not None:
                self.shift = moved - original
            else:
                self.fixed = original

    def row(self, start: Any, end: Any) -> tuple[float, float, str, int | None, str]:
        """(start, stop, id, template, document) of the occurrence at ``start``-``end``."""
        timed = isinstance(start, datetime) and isinstance(end, datetime)
        if self.prefix is None or not timed:
            fields = self.view.times(self.component, start, end)
            begin = fields["start"].astimezone(UTC).timestamp()
            stop = max(fields["end"].astimezone(UTC).timestamp(), begin)
            return begin, stop, fields["id"], self.index, json_doc(fields)
        original = self.fixed if self.fixed is not None else start
        if self.shift is not None:
            original = start - self.shift
        event_id = self.prefix + format_rid(original)
        zone = self.view.timezone
        first = start if start.tzinfo is not None else start.replace(tzinfo=zone)
        raw_end = end if end.tzinfo is not None else end.replace(tzinfo=zone)
        last = raw_end if raw_end >= first else first
        name = self.zones.get(id(start.tzinfo))
        if name is None:
            name = self.zones[id(start.tzinfo)] = zone_name(start)
        doc = (
            f'{{"id":{json.dumps(event_id, ensure_ascii=False)},"start":"{first.isoformat()}",'
            f'"end":"{last.isoformat()}","timezone":{json.dumps(name, ensure_ascii=False)}'
        )
        if name not in ("floating", "UTC", zone.key):
            doc += f',"zone_start":"{start.isoformat()}","zone_end":"{raw_end.isoformat()}"'
        begin = first.timestamp()
        return begin, max(last.timestamp(), begin), event_id, self.index, doc + "}"


def _template(view: IcalView, component: icalendar.Component) -> str:
    """The fields every occurrence of ``component`` shares."""
    fields = view.event(component).model_dump(exclude_none=True)
    return json_doc({k: v for k, v in fields.items() if k not in _TIME_KEYS})


def _goes_on(
    series: Any, master: icalendar.Component | None, horizon: datetime, zone: ZoneInfo
) -> bool:
    """Whether a series has occurrences after the horizon."""
    rules = master.get("RRULE") if master is not None else None
    for rule in rules if isinstance(rules, list) else [rules] if rules is not None else []:
        if not rule.get("COUNT") and not rule.get("UNTIL"):
            return True
    later = expand(series, master, horizon, horizon + timedelta(days=3660), zone, cap=1)
    return bool(later.occurrences) or later.cut_at is not None


def _x_wr_zone(header: bytes) -> ZoneInfo | None:
    """The calendar's X-WR-TIMEZONE, as the x-wr-timezone package reads it."""
    for line in header.splitlines():
        name, sep, value = line.partition(b":")
        if sep and name.strip().upper() == b"X-WR-TIMEZONE":
            try:
                return ZoneInfo(value.strip().decode("utf-8"))
            except (ValueError, KeyError, OSError, UnicodeDecodeError):
                return None
    return None


def json_doc(fields: dict[str, Any]) -> str:
    """Event fields as stored: JSON, without the empty ones."""
    return json.dumps(
        {k: _jsonable(v) for k, v in fields.items() if v not in (None, [], False)},
        ensure_ascii=False,
        separators=(",", ":"),
    )


def _jsonable(value: Any) -> Any:
    if isinstance(value, date):
        return value.isoformat()
    return value
