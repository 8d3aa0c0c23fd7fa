"""find_free_slots: working hours in the user's zone, DST weeks, all-day and multi-day events."""

import asyncio
import json
from datetime import UTC, datetime, time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from morrow.tools.calendar.ics import IcsCalendar
from morrow.tools.calendar.tools import find_free_slots
from morrow.tools.context import ToolContext
from morrow.tools.errors import ToolRetry
from morrow.tools.workspace import Workspace

BERLIN = ZoneInfo("Europe/Berlin")


def workspace(tmp_path: Path, *events: str, now: datetime, zone: ZoneInfo = BERLIN) -> Workspace:
    body = "".join(f"BEGIN:VEVENT\r\nDTSTAMP:20250101T000000Z\r\n{e}END:VEVENT\r\n" for e in events)
    path = tmp_path / "c.ics"
    path.write_text(f"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:x\r\n{body}END:VCALENDAR\r\n")
    return Workspace(
        calendar=IcsCalendar(path, zone, me="me@example.com"),
        mail=None,  # type: ignore[arg-type]
        timezone=zone,
        clock=lambda: now,
    )


def slots(ws: Workspace, **arguments: Any) -> Any:
    args = find_free_slots.validate(arguments)
    return json.loads(asyncio.run(find_free_slots.run(ToolContext(ws), args)))


def spans(result: Any) -> list[tuple[str, str]]:
    return [(s["start"], s["end"]) for s in result["slots"]]


def test_a_dst_week_keeps_local_working_hours(tmp_path: Path) -> None:
    # Europe/Berlin switches to summer time on Sunday 2025-03-30.
    ws = workspace(tmp_path, now=datetime(2025, 3, 20, tzinfo=UTC))
    result = slots(
        ws, duration_minutes=60, start="2025-03-28T00:00:00+01:00", end="2025-04-01T00:00:00+02:00"
    )
    assert spans(result) == [
        ("2025-03-28T09:00:00+01:00", "2025-03-28T17:00:00+01:00"),  # Friday, winter time
        ("2025-03-31T09:00:00+02:00", "2025-03-31T17:00:00+02:00"),  # Monday, summer time
    ]
    assert result["working_hours"] == "Mon,Tue,Wed,Thu,Fri 09:00-17:00 Europe/Berlin"


def test_busy_events_split_the_day_and_the_past_is_skipped(tmp_path: Path) -> None:
    meeting = (
        "UID:m\r\nSUMMARY:M\r\nDTSTART;TZID=Europe/Berlin:20250310T130000\r\n"
        "DTEND;TZID=Europe/Berlin:20250310T140000\r\n"
    )
    declined = (
        "UID:d\r\nSUMMARY:D\r\nDTSTART;TZID=Europe/Berlin:20250310T150000\r\n"
        "DTEND;TZID=Europe/Berlin:20250310T160000\r\n"
        "ATTENDEE;PARTSTAT=DECLINED:mailto:me@example.com\r\n"
    )
    ws = workspace(tmp_path, meeting, declined, now=datetime(2025, 3, 10, 9, 7, tzinfo=UTC))
    result = slots(
        ws, duration_minutes=30, start="2025-03-10T00:00:00+01:00", end="2025-03-11T00:00:00+01:00"
    )
    assert spans(result) == [
        ("2025-03-10T10:15:00+01:00", "2025-03-10T13:00:00+01:00"),  # from now, rounded up
        ("2025-03-10T14:00:00+01:00", "2025-03-10T17:00:00+01:00"),  # a declined event is free
    ]


def test_all_day_events_block_unless_they_show_as_free(tmp_path: Path) -> None:
    holiday = (
        "UID:h\r\nSUMMARY:Holiday\r\nDTSTART;VALUE=DATE:20250310\r\nDTEND;VALUE=DATE:20250311\r\n"
    )
    birthday = (
        "UID:b\r\nSUMMARY:Birthday\r\nDTSTART;VALUE=DATE:20250311\r\n"
        "DTEND;VALUE=DATE:20250312\r\nTRANSP:TRANSPARENT\r\n"
    )
    ws = workspace(tmp_path, holiday, birthday, now=datetime(2025, 3, 1, tzinfo=UTC))
    result = slots(
        ws, duration_minutes=60, start="2025-03-10T00:00:00+01:00", end="2025-03-12T00:00:00+01:00"
    )
    assert spans(result) == [("2025-03-11T09:00:00+01:00", "2025-03-11T17:00:00+01:00")]


def test_a_multi_day_event_blocks_every_day_it_spans(tmp_path: Path) -> None:
    conference = (
        "UID:c\r\nSUMMARY:Conference\r\nDTSTART;TZID=Europe/Berlin:20250310T150000\r\n"
        "DTEND;TZID=Europe/Berlin:20250312T110000\r\n"
    )
    ws = workspace(tmp_path, conference, now=datetime(2025, 3, 1, tzinfo=UTC))
    result = slots(
        ws, duration_minutes=120, start="2025-03-10T00:00:00+01:00", end="2025-03-13T00:00:00+01:00"
    )
    assert spans(result) == [
        ("2025-03-10T09:00:00+01:00", "2025-03-10T15:00:00+01:00"),
        ("2025-03-12T11:00:00+01:00", "2025-03-12T17:00:00+01:00"),
    ]


def test_working_hours_and_days_come_from_the_workspace(tmp_path: Path) -> None:
    tokyo = ZoneInfo("Asia/Tokyo")
    ws = workspace(tmp_path, now=datetime(2025, 3, 1, tzinfo=UTC), zone=tokyo)
    ws.work_start, ws.work_end, ws.work_days = time(10), time(12), frozenset({5})  # Saturdays
    result = slots(
        ws, duration_minutes=90, start="2025-03-03T00:00:00+09:00", end="2025-03-10T00:00:00+09:00"
    )
    assert spans(result) == [("2025-03-08T10:00:00+09:00", "2025-03-08T12:00:00+09:00")]


def test_attendees_without_free_busy_are_reported_as_unknown(tmp_path: Path) -> None:
    ws = workspace(tmp_path, now=datetime(2025, 3, 1, tzinfo=UTC))
    result = slots(
        ws,
        duration_minutes=30,
        start="2025-03-10T09:00:00+01:00",
        end="2025-03-10T10:00:00+01:00",
        attendees=["sam@example.org"],
    )
    assert spans(result) == [("2025-03-10T09:00:00+01:00", "2025-03-10T10:00:00+01:00")]
    assert "cannot see" in result["unknown_availability"]["sam@example.org"]


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"start": "2025-03-10T09:00:00", "end": "2025-03-11T09:00:00+01:00"}, "timezone"),
        ({"start": "2025-03-11T09:00:00+01:00", "end": "2025-03-10T09:00:00+01:00"}, "after"),
        ({"start": "2025-03-01T09:00:00+01:00", "end": "2025-06-01T09:00:00+01:00"}, "62 days"),
        ({"duration_minutes": 0}, "duration_minutes"),
        ({"attendees": ["Sam"]}, "not one valid email address"),
    ],
)
def test_bad_arguments_go_back_to_the_model(
    tmp_path: Path, arguments: dict[str, Any], message: str
) -> None:
    ws = workspace(tmp_path, now=datetime(2025, 3, 1, tzinfo=UTC))
    base = {
        "duration_minutes": 30,
        "start": "2025-03-10T00:00:00+01:00",
        "end": "2025-03-11T00:00:00+01:00",
    }
    with pytest.raises(ToolRetry, match=message):
        slots(ws, **(base | arguments))
