"""The iCalendar backend and the calendar tools."""

import json
import os
import shutil
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import icalendar
import pytest

from morrow.tools.calendar.ics import IcsCalendar
from morrow.tools.calendar.tools import get_event, list_events
from morrow.tools.errors import BackendError, NotFoundError

DATA = Path(__file__).parents[1] / "data" / "calendar"
BERLIN = ZoneInfo("Europe/Berlin")
UTC = ZoneInfo("UTC")


def write_ics(path: Path, *events: str, extra: str = "") -> Path:
    body = "".join(f"BEGIN:VEVENT\n{e.strip()}\nEND:VEVENT\n" for e in events)
    text = f"BEGIN:VCALENDAR\nVERSION:2.0\nPRODID:-//test//EN\n{extra}{body}END:VCALENDAR\n"
    path.write_text(text.replace("\n", "\r\n"))
    return path


def day(d: date, zone: ZoneInfo = BERLIN) -> tuple[datetime, datetime]:
    start = datetime.combine(d, time(), tzinfo=zone)
    return start, start + timedelta(days=1)


# -- the backend on small files ---------------------------------------------------------------

WEEKLY = """
UID:weekly
SUMMARY:Team sync
DTSTART;TZID=Europe/Berlin:20250303T100000
DTEND;TZID=Europe/Berlin:20250303T103000
RRULE:FREQ=WEEKLY;COUNT=6
EXDATE;TZID=Europe/Berlin:20250317T100000
"""
MOVED = """
UID:weekly
SUMMARY:Team sync (moved)
RECURRENCE-ID;TZID=Europe/Berlin:20250324T100000
DTSTART;TZID=Europe/Berlin:20250325T150000
DTEND;TZID=Europe/Berlin:20250325T153000
"""
CANCELLED = """
UID:weekly
SUMMARY:Team sync
STATUS:CANCELLED
RECURRENCE-ID;TZID=Europe/Berlin:20250331T100000
DTSTART;TZID=Europe/Berlin:20250331T100000
DTEND;TZID=Europe/Berlin:20250331T103000
"""


@pytest.fixture
def weekly(tmp_path: Path) -> IcsCalendar:
    return IcsCalendar(write_ics(tmp_path / "c.ics", WEEKLY, MOVED, CANCELLED), BERLIN)


def test_rrule_exdate_override_and_cancelled_instance(weekly: IcsCalendar) -> None:
    start = datetime(2025, 3, 1, tzinfo=BERLIN)
    events = sorted(weekly.list_events(start, start + timedelta(days=60)), key=lambda e: e.start)
    starts = [e.start.isoformat() for e in events]
    assert starts == [
        "2025-03-03T10:00:00+01:00",
        "2025-03-10T10:00:00+01:00",
        # 17th removed by EXDATE, 24th moved to the 25th, 31st cancelled
        "2025-03-25T15:00:00+01:00",
        "2025-04-07T10:00:00+02:00",  # after the DST switch: same wall-clock time
    ]
    assert all(e.recurring for e in events)
    assert events[2].title == "Team sync (moved)"
    assert [e.id for e in events] == [
        "weekly@20250303T090000Z",
        "weekly@20250310T090000Z",
        "weekly@20250324T090000Z",  # the original time names the moved occurrence
        "weekly@20250407T080000Z",
    ]


def test_get_event_round_trips_every_listed_id(weekly: IcsCalendar) -> None:
    start = datetime(2025, 3, 1, tzinfo=BERLIN)
    for event in weekly.list_events(start, start + timedelta(days=60)):
        assert weekly.get_event(event.id) == event


def test_get_event_finds_cancelled_instance_and_rejects_unknown(weekly: IcsCalendar) -> None:
    assert weekly.get_event("weekly@20250331T080000Z").status == "cancelled"
    for missing in ("weekly@20250317T090000Z", "weekly@20250304T090000Z", "nope", "weekly@x"):
        with pytest.raises(NotFoundError):
            weekly.get_event(missing)


def test_series_id_names_the_whole_series(weekly: IcsCalendar) -> None:
    start = datetime(2025, 3, 1, tzinfo=BERLIN)
    occurrences = weekly.list_events(start, start + timedelta(days=60))
    assert {e.series_id for e in occurrences} == {"weekly"}
    series = weekly.get_event("weekly")
    assert series.id == "weekly" and series.recurring
    assert series.start == datetime(2025, 3, 3, 10, tzinfo=BERLIN)
    assert series.recurrence == [
        "RRULE:FREQ=WEEKLY;COUNT=6",
        "EXDATE:20250317T100000",
    ]


def test_uid_containing_at_sign(tmp_path: Path) -> None:
    single = "UID:abc@google.com\nSUMMARY:One\nDTSTART:20250303T100000Z\nDTEND:20250303T110000Z"
    series = (
        "UID:def@google.com\nSUMMARY:Many\nDTSTART:20250303T120000Z\nDTEND:20250303T130000Z\n"
        "RRULE:FREQ=DAILY;COUNT=3"
    )
    cal = IcsCalendar(write_ics(tmp_path / "c.ics", single, series), BERLIN)
    assert cal.get_event("abc@google.com").title == "One"
    assert cal.get_event("def@google.com@20250304T120000Z").start == datetime(
        2025, 3, 4, 12, tzinfo=UTC
    )


def test_all_day_and_multi_day_events(tmp_path: Path) -> None:
    holiday = "UID:h\nSUMMARY:Holiday\nDTSTART;VALUE=DATE:20250328\nDTEND;VALUE=DATE:20250329"
    trip = "UID:t\nSUMMARY:Trip\nDTSTART;VALUE=DATE:20250327\nDTEND;VALUE=DATE:20250331"
    cal = IcsCalendar(write_ics(tmp_path / "c.ics", holiday, trip), BERLIN)
    events = {e.id: e for e in cal.list_events(*day(date(2025, 3, 28)))}
    assert set(events) == {"h", "t"}
    assert events["h"].all_day and events["h"].timezone == "floating"
    assert events["h"].start == datetime(2025, 3, 28, tzinfo=BERLIN)
    assert (events["h"].start_date, events["h"].end_date) == (date(2025, 3, 28), date(2025, 3, 29))
    # the trip spans the DST switch: ends at local midnight, +02:00
    assert events["t"].end.isoformat() == "2025-03-31T00:00:00+02:00"
    assert cal.list_events(*day(date(2025, 3, 29)))[0].id == "t"
    assert cal.list_events(*day(date(2025, 3, 31))) == []  # DTEND is exclusive


def test_floating_times_are_read_in_the_user_zone(tmp_path: Path) -> None:
    floating = "UID:f\nSUMMARY:Floating\nDTSTART:20250328T090000\nDTEND:20250328T100000"
    path = write_ics(tmp_path / "c.ics", floating)
    berlin = IcsCalendar(path, BERLIN).list_events(*day(date(2025, 3, 28)))
    tokyo_zone = ZoneInfo("Asia/Tokyo")
    tokyo = IcsCalendar(path, tokyo_zone).list_events(*day(date(2025, 3, 28), tokyo_zone))
    assert berlin[0].start == datetime(2025, 3, 28, 9, tzinfo=BERLIN)
    assert tokyo[0].start == datetime(2025, 3, 28, 9, tzinfo=tokyo_zone)
    assert berlin[0].timezone == "floating"


def test_overlap_is_half_open(tmp_path: Path) -> None:
    meeting = "UID:m\nSUMMARY:M\nDTSTART:20250328T090000Z\nDTEND:20250328T100000Z"
    cal = IcsCalendar(write_ics(tmp_path / "c.ics", meeting), BERLIN)

    def at(hour: int, minute: int = 0) -> datetime:
        return datetime(2025, 3, 28, hour, minute, tzinfo=UTC)

    assert cal.list_events(at(8), at(9)) == []  # ends where the meeting starts
    assert len(cal.list_events(at(8), at(9, 1))) == 1
    assert len(cal.list_events(at(9, 59), at(11))) == 1
    assert cal.list_events(at(10), at(11)) == []  # starts where the meeting ends


def test_missing_file_is_empty_and_garbage_is_a_backend_error(tmp_path: Path) -> None:
    start, end = day(date(2025, 3, 28))
    assert IcsCalendar(tmp_path / "none.ics", BERLIN).list_events(start, end) == []
    with pytest.raises(NotFoundError):
        IcsCalendar(tmp_path / "none.ics", BERLIN).get_event("x")
    bad = tmp_path / "bad.ics"
    bad.write_text("this is not a calendar\n")
    with pytest.raises(BackendError, match=str(bad)):
        IcsCalendar(bad, BERLIN).list_events(start, end)


def test_parsed_calendar_is_cached_until_the_file_changes(tmp_path: Path) -> None:
    path = write_ics(tmp_path / "c.ics", WEEKLY)
    cal = IcsCalendar(path, BERLIN)
    start = datetime(2025, 3, 1, tzinfo=BERLIN)
    for _ in range(3):
        assert len(cal.list_events(start, start + timedelta(days=60))) == 5
    assert cal.index.parses == 1
    write_ics(path, WEEKLY.replace("COUNT=6", "COUNT=2"))
    os.utime(path, ns=(1, 1))  # a different mtime even on coarse file systems
    assert len(cal.list_events(start, start + timedelta(days=60))) == 2
    assert cal.index.parses == 2


# -- real files: the expectations in tests/data/calendar/expectations.json -------------------


def _zone_of(path: Path) -> ZoneInfo:
    """The zone the upstream test reads floating bounds in: X-WR-TIMEZONE or the first TZID."""
    for component in icalendar.Calendar.from_ical(path.read_bytes(), multiple=True):
        if component.get("X-WR-TIMEZONE"):
            return ZoneInfo(str(component["X-WR-TIMEZONE"]))
        for event in component.walk("VEVENT"):
            key = getattr(getattr(event.get("DTSTART"), "dt", None), "tzinfo", None)
            if getattr(key, "key", None):
                return ZoneInfo(key.key)  # type: ignore[union-attr]
    return UTC


def _bound(text: str, zone: ZoneInfo) -> datetime:
    if len(text) == 10:
        return datetime.combine(date.fromisoformat(text), time(), tzinfo=zone)
    value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return value if value.tzinfo else value.replace(tzinfo=zone)


def _span(query: dict[str, str], zone: ZoneInfo) -> tuple[datetime, datetime]:
    kind = query["kind"]
    if kind == "all":
        return datetime(1900, 1, 1, tzinfo=zone), datetime(2100, 1, 1, tzinfo=zone)
    if kind == "between":
        return _bound(query["start"], zone), _bound(query["end"], zone)
    if "date" in query:
        return day(date.fromisoformat(query["date"]), zone)
    if "instant" in query:
        instant = _bound(query["instant"], zone)
        return instant, instant
    if "month" in query:
        year, month = map(int, query["month"].split("-"))
        return datetime(year, month, 1, tzinfo=zone), datetime(
            year + month // 12, month % 12 + 1, 1, tzinfo=zone
        )
    if "year" in query:
        year = int(query["year"])
        return datetime(year, 1, 1, tzinfo=zone), datetime(year + 1, 1, 1, tzinfo=zone)
    unit = "hour" if "hour" in query else "minute"
    text = query[unit] + (":00" if unit == "hour" else "")
    start = datetime.fromisoformat(text).replace(tzinfo=zone)
    return start, start + (timedelta(hours=1) if unit == "hour" else timedelta(minutes=1))


def _entries() -> list[Any]:
    entries = json.loads((DATA / "expectations.json").read_text())["entries"]
    chosen = [e for e in entries if e["query"]["kind"] in ("between", "at", "all")]
    return [
        pytest.param(e, id=f"{Path(e['file']).stem}-{i}")
        for i, e in enumerate(chosen)
        if (DATA / e["file"]).exists()
    ]


@pytest.mark.parametrize("entry", _entries())
def test_expectation(entry: dict[str, Any]) -> None:
    path = DATA / entry["file"]
    zone = _zone_of(path)
    events = sorted(
        IcsCalendar(path, zone).list_events(*_span(entry["query"], zone)), key=lambda e: e.start
    )
    expect = entry["expect"]
    if expect.get("status") == "CANCELLED":
        # Deliberate difference: recurring-ical-events returns a cancelled override; we skip it.
        assert events == []
        return
    if "count" in expect:
        assert len(events) == expect["count"]
    if "start_dates" in expect:
        assert [(e.start_date or e.start.date()).isoformat() for e in events] == expect[
            "start_dates"
        ]
    if "includes_start_dates" in expect:
        got = {e.start.date().isoformat() for e in events}
        assert set(expect["includes_start_dates"]) <= got
    if "summary" in expect:
        assert events[0].title == expect["summary"]
    if "last_summary" in expect:
        assert events[-1].title == expect["last_summary"]
    if "first_start" in expect:
        assert events[0].start.isoformat() == expect["first_start"]
    if "start" in expect:
        assert (events[0].start, events[0].end) == (
            datetime.fromisoformat(expect["start"]),
            datetime.fromisoformat(expect["end"]),
        )
    if "start_time" in expect:
        assert events[0].start.strftime("%H:%M") == expect["start_time"]
        assert events[0].end.strftime("%H:%M") == expect["end_time"]
    if "status" in expect and expect["status"] is None:
        assert events[0].status in (None, "confirmed")


def test_custom_tzid_uses_the_embedded_vtimezone() -> None:
    path = DATA / "icalendar/calendars/america_new_york.ics"
    event = IcsCalendar(path, BERLIN).get_event("noend123")
    assert event.timezone == "custom_America/New_York"
    assert event.start.utcoffset() == timedelta(hours=-4)
    assert event.start.astimezone(UTC) == datetime(2014, 8, 29, 12, tzinfo=UTC)


@pytest.mark.parametrize(
    "name",
    [
        "icalendar/calendars/pacific_fiji.ics",  # DTSTART given twice
        "icalendar/calendars/bom_calendar.ics",
        "icalendar/calendars/issue_722_missing_timezones.ics",  # events without DTSTART
        "icalendar/calendars/big_bad_calendar.ics",  # empty VEVENTs
        "icalendar/events/event_with_recurrence_exdates_on_different_lines.ics",  # bare VEVENT
    ],
)
def test_odd_real_files_are_read(name: str) -> None:
    cal = IcsCalendar(DATA / name, BERLIN)
    events = cal.list_events(datetime(1990, 1, 1, tzinfo=UTC), datetime(2030, 1, 1, tzinfo=UTC))
    for event in events[:20]:
        assert cal.get_event(event.id) == event


def test_every_id_in_a_real_series_is_unique_and_resolvable() -> None:
    # RANGE=THISANDFUTURE: later occurrences carry the override's RECURRENCE-ID
    cal = IcsCalendar(DATA / "python-recurring-ical-events/issue_75_range_parameter.ics", UTC)
    events = cal.list_events(datetime(2024, 9, 1, tzinfo=UTC), datetime(2024, 10, 1, tzinfo=UTC))
    assert len({e.id for e in events}) == len(events)
    for event in events:
        assert cal.get_event(event.id) == event


# -- the tools ---------------------------------------------------------------------------------


@pytest.fixture
def calendar_workspace(tmp_path: Path, workspace_factory: Any) -> Any:
    shutil.copyfile(
        DATA / "python-recurring-ical-events/x_wr_timezone_simple_events_issue_59.ics",
        tmp_path / "x.ics",
    )
    meetings = [
        "UID:a\nSUMMARY:Design review\nDTSTART:20250328T130000Z\nDTEND:20250328T140000Z\n"
        "LOCATION:Room 4\nATTENDEE:mailto:priya@example.com",
        "UID:b\nSUMMARY:Vendor call\nDTSTART:20250328T133000Z\nDTEND:20250328T141500Z\n"
        "DESCRIPTION:Discuss the Northwind contract",
        "UID:c\nSUMMARY:Lunch\nDTSTART:20250328T113000Z\nDTEND:20250328T123000Z",
        "UID:d\nSUMMARY:Holiday\nDTSTART;VALUE=DATE:20250328\nDTEND;VALUE=DATE:20250329",
        "UID:e\nSUMMARY:Back to back\nDTSTART:20250328T141500Z\nDTEND:20250328T150000Z",
    ]
    write_ics(tmp_path / "calendar.ics", *meetings)
    return workspace_factory(tmp_path)


def test_list_events_sorts_localizes_and_marks_conflicts(
    calendar_workspace: Any, call: Any
) -> None:
    events = call(
        list_events,
        calendar_workspace,
        start="2025-03-28T00:00:00+01:00",
        end="2025-03-29T00:00:00+01:00",
    )
    assert [e["id"] for e in events] == ["d", "c", "a", "b", "e"]
    by_id = {e["id"]: e for e in events}
    assert by_id["a"]["start"] == "2025-03-28T14:00:00+01:00"
    assert by_id["a"]["conflicts_with"] == ["b"]
    assert by_id["b"]["conflicts_with"] == ["a"]
    assert by_id["c"]["conflicts_with"] == []
    assert by_id["d"]["conflicts_with"] == []  # all-day events never conflict
    assert by_id["e"]["conflicts_with"] == []  # starts when b ends


def test_list_events_query_filters_case_insensitively(calendar_workspace: Any, call: Any) -> None:
    window = {"start": "2025-03-28T00:00:00+01:00", "end": "2025-03-29T00:00:00+01:00"}
    assert [e["id"] for e in call(list_events, calendar_workspace, query="ROOM 4", **window)] == [
        "a"
    ]
    assert [
        e["id"] for e in call(list_events, calendar_workspace, query="northwind", **window)
    ] == ["b"]
    assert [e["id"] for e in call(list_events, calendar_workspace, query="PRIYA@", **window)] == [
        "a"
    ]


@pytest.mark.parametrize(
    ("start", "end", "message"),
    [
        ("2025-03-28T10:00:00+01:00", "2025-03-28T10:00:00+01:00", "end must be after start"),
        ("2025-03-28T10:00:00+01:00", "2025-03-27T10:00:00+01:00", "end must be after start"),
        ("2025-01-01T00:00:00Z", "2026-01-03T00:00:00Z", "366 days"),
        ("2025-03-28T10:00:00", "2025-03-29T10:00:00+01:00", "add an offset"),
    ],
)
def test_list_events_rejects_bad_windows(
    calendar_workspace: Any, call: Any, start: str, end: str, message: str
) -> None:
    from morrow.tools.errors import ToolRetry

    with pytest.raises(ToolRetry, match=message):
        call(list_events, calendar_workspace, start=start, end=end)


def test_get_event_tool_shows_conflicts_in_user_zone(calendar_workspace: Any, call: Any) -> None:
    event = call(get_event, calendar_workspace, event_id="b")
    assert event["start"] == "2025-03-28T14:30:00+01:00"
    assert event["conflicts_with"] == ["a"]
    with pytest.raises(NotFoundError):
        call(get_event, calendar_workspace, event_id="zzz")
