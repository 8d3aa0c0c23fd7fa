"""iCalendar text without a parser: components found by their lines, and plain events read fast.

A calendar file is a VCALENDAR holding components (VEVENT, VTIMEZONE, VTODO ...). Their
``BEGIN:``/``END:`` lines are found with one regular expression (:func:`split`), so the file
can be handled component by component: the index re-reads only the components whose text
changed, and a write replaces the text of one event and leaves every other byte of the file
as it was (:func:`splice`).

:func:`read_plain` reads the most common kind of event, a single one (no recurrence) with
well-formed dates, straight from its text, as icalendar would, at a fraction of the cost
(parsing a 5,000-event file with icalendar takes about a second). Anything unusual (a
recurrence, a zone that is not an IANA name, a property given twice, a value it does not
recognise) returns None, and the caller parses that event with icalendar instead
(:mod:`morrow.tools.calendar.ical`). ``tests/tools/test_ics_index.py`` checks that both ways
give the same events.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

_MARK = re.compile(
    rb"^(?:\xef\xbb\xbf)?[ \t]*(BEGIN|END)[ \t]*:[ \t]*([A-Za-z0-9-]+)[ \t]*(?:\r?\n|\Z)",
    re.M | re.I,
)
_UID = re.compile(rb"^UID[ \t]*(?:;[^:\r\n]*)?:([^\r\n]*(?:\r?\n[ \t][^\r\n]*)*)", re.M | re.I)
_UFOLD = re.compile(r"(?:(?<!\n)\r\n|(?<![\r\n])\n)(?:\r?\n)*[ \t]")
_NEWLINE = re.compile(r"\r?\n")
_UNESCAPE = re.compile(r"\\([\\,;:nN])")
_SERIES = re.compile(rb"^(RRULE|RDATE|EXDATE|EXRULE|RECURRENCE-ID)[ \t]*[;:]", re.M | re.I)
_DATE = re.compile(r"(\d{4})(\d{2})(\d{2})")
_DATETIME = re.compile(r"(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})(Z?)")
_TZID_LINE = re.compile(rb"^TZID[^:\r\n]*:([^\r\n]*)", re.M | re.I)
_TZID_PARAM = re.compile(rb";TZID=(\"[^\"]*\"|[^;:\r\n]*)", re.I)
_DURATION = re.compile(r"([+-])?P(?:(\d+)W)?(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?)?")
_WANTED = {"UID", "DTSTART", "DTEND", "DURATION", "SUMMARY", "LOCATION", "DESCRIPTION"}
_WANTED |= {"ORGANIZER", "ATTENDEE", "STATUS", "TRANSP", "RRULE", "RDATE", "RECURRENCE-ID"}
_ONCE = _WANTED - {"ATTENDEE"}
BOM = b"\xef\xbb\xbf"
RID_SHAPE = re.compile(r"\d{8}(T\d{6}Z?)?")


@dataclass(frozen=True)
class Chunk:
    """One component of a file, by its byte range (its BEGIN line to its END line, inclusive).

    Attributes:
        name: the component's name, upper case (VEVENT, VTIMEZONE, VTODO ...).
        start: the offset of its BEGIN line.
        stop: the offset after its END line.
        calendar: the index of the VCALENDAR it is in; -1 outside of any (a bare component).
        own: the byte ranges of its own lines (those of nested components left out).
    """

    name: str
    start: int
    stop: int
    calendar: int
    own: tuple[tuple[int, int], ...]


@dataclass(frozen=True)
class Layout:
    """Where the components of a file are.

    Attributes:
        chunks: the components, in file order (those inside a VCALENDAR, and bare ones).
        calendars: the byte range of each VCALENDAR.
        closes: where the END line of each VCALENDAR starts.
        broken: what was wrong with the BEGIN/END lines, or None when they match.
        crlf: whether the file ends its lines with CRLF (the first line decides).
    """

    chunks: tuple[Chunk, ...]
    calendars: tuple[tuple[int, int], ...]
    closes: tuple[int, ...]
    broken: str | None
    crlf: bool

    def header(self, data: bytes) -> bytes:
        """The first VCALENDAR's own lines (its properties), without its BEGIN and END lines."""
        if not self.calendars:
            return b""
        begin, end = self.calendars[0]
        inner = [c for c in self.chunks if c.calendar == 0]
        first_line = data.index(b"\n", begin) + 1 if b"\n" in data[begin:end] else end
        last_line = data.rfind(b"\n", begin, end - 1) + 1
        parts, cursor = [], first_line
        for chunk in inner:
            parts.append(data[cursor : chunk.start])
            cursor = chunk.stop
        parts.append(data[cursor:last_line])
        return b"".join(parts)


def split(data: bytes) -> Layout:
    """Find the components of iCalendar text by their BEGIN and END lines."""
    names: list[bytes] = []  # the open components, outermost first
    starts: list[int] = []
    nested: list[list[int]] = []  # the child ranges of the open chunk-level component
    chunks: list[Chunk] = []
    calendars: list[tuple[int, int]] = []
    closes: list[int] = []
    broken: str | None = None
    for mark in _MARK.finditer(data):
        word, name = mark.group(1, 2)
        name = name.upper()
        level = 1 if names and names[0] == b"VCALENDAR" else 0  # where chunks are
        if word[0] in b"Bb":
            if len(names) == level + 1:  # a child of a chunk-level component
                nested.append([mark.start(), -1])
            names.append(name)
            starts.append(mark.start())
            continue
        if name not in names:
            broken = broken or f"END:{name.decode()} without its BEGIN"
            continue
        while names[-1] != name:
            broken = broken or f"BEGIN:{names[-1].decode()} without its END"
            names.pop(), starts.pop()
        names.pop()
        begin, stop = starts.pop(), mark.end()
        depth = len(names)
        if depth == level + 1 and nested:  # a child of a chunk-level component closed
            nested[-1][1] = stop
        elif depth == 0 and name == b"VCALENDAR":
            calendars.append((begin, stop))
            closes.append(mark.start())
        elif depth == level:
            calendar = len(calendars) if level else -1
            chunks.append(Chunk(name.decode(), begin, stop, calendar, _own(begin, stop, nested)))
            nested = []
    if names:
        broken = broken or f"BEGIN:{names[-1].decode()} without its END"
    first = data.find(b"\n")
    crlf = first <= 0 or data[first - 1 : first] == b"\r"
    return Layout(tuple(chunks), tuple(calendars), tuple(closes), broken, crlf)


def _own(begin: int, stop: int, nested: list[list[int]]) -> tuple[tuple[int, int], ...]:
    """A chunk's own byte ranges: itself, less its children."""
    if not nested:
        return ((begin, stop),)
    own, cursor = [], begin
    for inner_start, inner_stop in nested:
        own.append((cursor, inner_start))
        cursor = inner_stop if inner_stop > 0 else stop
    own.append((cursor, stop))
    return tuple(own)


def split_id(event_id: str) -> tuple[str, str | None]:
    """``"<UID>@<RID>"`` -> ``(UID, RID)``; a bare UID -> ``(UID, None)``.

    The RECURRENCE-ID part is recognised by its shape (UIDs may contain ``@`` themselves).
    """
    if "@" in event_id:
        uid, rid = event_id.rsplit("@", 1)
        if RID_SHAPE.fullmatch(rid):
            return uid, rid
    return event_id, None


def own_text(data: bytes, chunk: Chunk) -> bytes:
    """The lines of a component that are its own (without its nested components)."""
    return b"".join(data[a:b] for a, b in chunk.own)


def uid_of(data: bytes, chunk: Chunk) -> str:
    """A component's UID, or "" when it has none."""
    for start, stop in chunk.own:
        found = _UID.search(data, start, stop)
        if found:
            raw = re.sub(rb"\r?\n[ \t]", b"", found.group(1))
            return _UNESCAPE.sub(_unescaped, raw.decode("utf-8", "replace"))
    return ""


def is_series(text: bytes) -> bool:
    """Whether a component's own lines make it part of a recurring series."""
    return _SERIES.search(text) is not None


def digest(*parts: bytes) -> str:
    """A short content hash (hex)."""
    hasher = hashlib.sha256()
    for part in parts:
        hasher.update(len(part).to_bytes(8, "big"))
        hasher.update(part)
    return hasher.hexdigest()[:32]


def splice(data: bytes, cuts: list[tuple[int, int, bytes]]) -> bytes:
    """``data`` with each ``(start, stop, text)`` range replaced (ranges must not overlap)."""
    out, cursor = [], 0
    for start, stop, text in sorted(cuts, key=lambda cut: (cut[0], cut[1])):
        out.append(data[cursor:start])
        out.append(text)
        cursor = stop
    out.append(data[cursor:])
    return b"".join(out)


def with_newlines(text: bytes, crlf: bool) -> bytes:
    """Text from icalendar (CRLF) with the file's own line ends."""
    return text if crlf else text.replace(b"\r\n", b"\n")


@dataclass(frozen=True)
class Snapshot:
    """The file as read for the index: its bytes, their layout and its stat."""

    data: bytes
    layout: Layout
    stat: tuple[int, int, int, int]


def unit_hashes(snap: Snapshot, units: dict[str, list[Chunk]], context: str) -> dict[str, str]:
    """The hash of each unit: its text, the calendar's header and the VTIMEZONEs it names.

    A VTIMEZONE added for one zone changes only the units whose events use that zone.
    """
    data = snap.data
    zones: dict[bytes, bytes] = {}
    for chunk in snap.layout.chunks:
        if chunk.name == "VTIMEZONE":
            found = _TZID_LINE.search(data, chunk.start, chunk.stop)
            if found:
                zones[found.group(1).strip()] = data[chunk.start : chunk.stop]
    salt = context.encode()
    hashes = {}
    for unit, chunks in units.items():
        texts = [data[c.start : c.stop] for c in chunks]
        named = sorted({t.strip(b'"') for text in texts for t in _TZID_PARAM.findall(text)})
        hashes[unit] = digest(salt, *texts, *(zones.get(n, b"") for n in named))
    return hashes


def units_of(snap: Snapshot) -> dict[str, list[Chunk]]:
    """The VEVENTs grouped by UID (an event without one is a unit of its own)."""
    units: dict[str, list[Chunk]] = {}
    for chunk in snap.layout.chunks:
        if chunk.name != "VEVENT":
            continue
        uid = uid_of(snap.data, chunk)
        key = uid or "#" + digest(snap.data[chunk.start : chunk.stop])
        units.setdefault(key, []).append(chunk)
    return units


# -- reading a plain event ------------------------------------------------------------------


@dataclass(frozen=True)
class Plain:
    """A single event read from its text: its raw times and properties as icalendar gives them.

    Attributes:
        uid: the UID.
        start: DTSTART (a date, a naive or an aware datetime).
        end: DTEND, DTSTART + DURATION, or the RFC 5545 default.
        props: the other properties read (name -> unescaped text), and ``ATTENDEE`` as a list
            of ``(value, PARTSTAT or None)``.
    """

    uid: str
    start: date | datetime
    end: date | datetime
    props: dict[str, Any]


def read_plain(text: bytes, x_wr_zone: ZoneInfo | None) -> Plain | None:
    """Read a single, plain VEVENT from its own lines; None when icalendar should read it.

    Args:
        text: the event's own lines (:func:`own_text`), BEGIN and END included.
        x_wr_zone: the calendar's X-WR-TIMEZONE: UTC and floating times are read in it, as
            the x-wr-timezone package does for icalendar.
    """
    try:
        lines = _UFOLD.sub("", text.decode("utf-8")).split("\n")
    except UnicodeDecodeError:
        return None
    props: dict[str, Any] = {"ATTENDEE": []}
    for line in lines[1:-1]:
        parsed = _content_line(line.rstrip("\r") if line.endswith("\r") else line)
        if parsed is None:
            return None
        name, params, value = parsed
        if name not in _WANTED:
            continue
        if name in ("RRULE", "RDATE", "RECURRENCE-ID") or (name in _ONCE and name in props):
            return None
        if name == "ATTENDEE":
            props["ATTENDEE"].append((value, params.get("PARTSTAT")))
        elif name in ("DTSTART", "DTEND"):
            moment = _moment(value, params, x_wr_zone)
            if moment is None:
                return None
            props[name] = moment
        else:
            if params and name in ("DURATION",):
                return None
            props[name] = value
    try:
        return _plain(props)
    except (OverflowError, ValueError):  # a time at the end of the calendar: let icalendar say
        return None


def _plain(props: dict[str, Any]) -> Plain | None:
    start = props.pop("DTSTART", None)
    if start is None or "UID" not in props or not props["UID"]:
        return None
    end = props.pop("DTEND", None)
    duration = props.pop("DURATION", None)
    if end is None and duration is not None:
        delta = _duration(duration)
        if delta is None:
            return None
        end = start + delta
    elif end is None:
        end = start if isinstance(start, datetime) else start + timedelta(days=1)
    if isinstance(start, datetime) != isinstance(end, datetime):
        return None  # a date with a time: icalendar's comparisons decide, let it
    return Plain(props.pop("UID"), start, end, props)


def _content_line(line: str) -> tuple[str, dict[str, str], str] | None:
    """``NAME;PARAM=V:value`` -> (NAME, params, unescaped value); None for an odd line."""
    if not line:
        return "", {}, ""
    value_at = line.find(":")
    name_at = line.find(";", 0, value_at) if value_at > 0 else -1
    if '"' in line[:value_at]:  # a quoted parameter may hold ":" or ";": walk it
        value_at, name_at = _separators(line)
    if value_at <= 0 or name_at == 0:
        return None
    head = line[: name_at if 0 < name_at < value_at else value_at]
    name = (re.sub(r"[ \t]+", "", head) if " " in head or "\t" in head else head).upper()
    params: dict[str, str] = {}
    if 0 < name_at < value_at:
        for part in line[name_at + 1 : value_at].split(";"):
            key, sep, raw = part.partition("=")
            raw = raw.strip()
            if not sep or "\\" in raw or "^" in raw or raw.count('"') not in (0, 2):
                return None
            params[key.strip().upper()] = raw.strip('"')
    return name, params, _UNESCAPE.sub(_unescaped, line[value_at + 1 :])


def _separators(line: str) -> tuple[int, int]:
    """Where the value starts and the parameters start, quotes respected (-1: none)."""
    quoted, value_at, name_at = False, -1, -1
    for index, char in enumerate(line):
        if char == '"':
            quoted = not quoted
        elif not quoted and char == ";" and name_at < 0:
            name_at = index
        elif not quoted and char == ":":
            value_at = index
            break
    return value_at, name_at


def _unescaped(match: re.Match[str]) -> str:
    char = match.group(1)
    return "\n" if char in "nN" else char


def _moment(value: str, params: dict[str, str], x_wr_zone: ZoneInfo | None) -> Any:
    """A DATE or DATE-TIME value as icalendar reads it; None for anything else."""
    kind = params.get("VALUE", "").upper()
    value = value.strip()
    if set(params) - {"VALUE", "TZID"} or kind not in ("", "DATE", "DATE-TIME"):
        return None
    try:
        if len(value) == 8 and kind in ("", "DATE") and "TZID" not in params:
            found = _DATE.fullmatch(value)
            return date(*map(int, found.groups())) if found else None
        found = _DATETIME.fullmatch(value)
        if found is None or kind == "DATE":
            return None
        year, month, day, hour, minute, second, utc = found.groups()
        numbers = (int(year), int(month), int(day), int(hour), int(minute), int(second))
        naive = datetime(*numbers)  # noqa: DTZ001  (floating: the zone is decided below)
    except ValueError:
        return None
    if utc:
        if "TZID" in params:
            return None
        moment = naive.replace(tzinfo=_zone("UTC"))
        return moment.astimezone(x_wr_zone) if x_wr_zone is not None else moment
    if "TZID" in params:
        zone = _zone(params["TZID"])
        if zone is None:
            return None
        moment = naive.replace(tzinfo=zone)
        if x_wr_zone is not None and (moment.tzname() or "").upper() == "UTC":
            return moment.astimezone(x_wr_zone)
        return moment
    return naive.replace(tzinfo=x_wr_zone) if x_wr_zone is not None else naive


@lru_cache(maxsize=256)
def _zone(name: str) -> ZoneInfo | None:
    """An IANA zone by name; None for anything else (icalendar maps those itself)."""
    if not re.fullmatch(r"[A-Za-z][A-Za-z0-9_+/-]*", name) or ".." in name:
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return None


def _duration(value: str) -> timedelta | None:
    found = _DURATION.fullmatch(value.strip())
    if found is None or not any(found.groups()[1:]):
        return None
    sign, weeks, days, hours, minutes, seconds = found.groups()
    delta = timedelta(
        weeks=int(weeks or 0),
        days=int(days or 0),
        hours=int(hours or 0),
        minutes=int(minutes or 0),
        seconds=int(seconds or 0),
    )
    return -delta if sign == "-" else delta


def epoch(value: date | datetime, zone: ZoneInfo) -> float:
    """Seconds since 1970 of a DTSTART/DTEND value (dates and floating times in ``zone``)."""
    if not isinstance(value, datetime):
        value = datetime.combine(value, time(), tzinfo=zone)
    elif value.tzinfo is None:
        value = value.replace(tzinfo=zone)
    return value.astimezone(UTC).timestamp()
