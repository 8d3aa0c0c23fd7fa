"""The CalDAV backend against a real Radicale server on 127.0.0.1 (started and stopped here)."""

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import caldav
import pytest
from support.dav_server import run_radicale

from morrow.tools.calendar.backend import EventChanges, NewEvent
from morrow.tools.calendar.caldav import CalDavCalendar
from morrow.tools.errors import BackendError, NotFoundError

BERLIN = ZoneInfo("Europe/Berlin")
NOW = datetime(2025, 3, 1, 8, 0, tzinfo=UTC)
WEEKLY = b"""BEGIN:VCALENDAR\r
VERSION:2.0\r
PRODID:-//test//EN\r
BEGIN:VEVENT\r
UID:standup\r
DTSTAMP:20250101T000000Z\r
SUMMARY:Standup\r
DTSTART;TZID=Europe/Berlin:20250303T093000\r
DTEND;TZID=Europe/Berlin:20250303T094500\r
RRULE:FREQ=DAILY;COUNT=5\r
ATTENDEE;PARTSTAT=NEEDS-ACTION:mailto:me@example.com\r
ORGANIZER:mailto:boss@example.com\r
X-CUSTOM:kept\r
END:VEVENT\r
END:VCALENDAR\r
"""


@pytest.fixture(scope="module")
def radicale(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with run_radicale(tmp_path_factory.mktemp("radicale")) as url:
        yield url


def _client(url: str) -> Any:
    return caldav.DAVClient(url=url, username="me", password="secret")


@pytest.fixture
def calendar_name(request: pytest.FixtureRequest) -> str:
    return request.node.name[:40]  # one calendar per test on the shared server


@pytest.fixture
def backend(radicale: str, calendar_name: str) -> Iterator[CalDavCalendar]:
    with _client(radicale) as client:
        work = client.principal().make_calendar(name=calendar_name)
        work.save_event(WEEKLY.decode())
    cal = CalDavCalendar(
        lambda: _client(radicale),
        BERLIN,
        calendar_name=calendar_name,
        me="me@example.com",
        clock=lambda: NOW,
    )
    yield cal
    cal.close()


def _week(backend: CalDavCalendar) -> list[Any]:
    start = datetime(2025, 3, 3, tzinfo=BERLIN)
    return sorted(backend.list_events(start, start + timedelta(days=7)), key=lambda e: e.start)


def test_create_list_move_cancel_against_radicale(backend: CalDavCalendar) -> None:
    listed = _week(backend)
    standups = [e for e in listed if e.title == "Standup"]
    assert [e.id for e in standups] == [f"standup@202503{d:02d}T083000Z" for d in range(3, 8)]
    assert all(e.series_id == "standup" and e.my_response == "needs-action" for e in standups)

    new = NewEvent(
        uid="lunch-1",
        title="Lunch with Sam",
        start=datetime(2025, 3, 4, 12, tzinfo=BERLIN),
        end=datetime(2025, 3, 4, 13, tzinfo=BERLIN),
        attendees=["sam@example.org"],
    )
    created = backend.create_event(new, notify=False)
    assert created.event.id == "lunch-1" and created.note is None
    assert backend.create_event(new, notify=False).event == created.event  # no duplicate
    assert [e.id for e in _week(backend)].count("lunch-1") == 1

    moved = backend.update_event(
        "lunch-1",
        EventChanges(start=datetime(2025, 3, 5, 12, 30, tzinfo=BERLIN)),
        notify=False,
    )
    assert moved.event.start == datetime(2025, 3, 5, 12, 30, tzinfo=BERLIN)
    assert moved.event.end == datetime(2025, 3, 5, 13, 30, tzinfo=BERLIN)

    one = backend.update_event(
        "standup@20250305T083000Z", EventChanges(title="Standup (long)"), notify=False
    )
    assert one.event.title == "Standup (long)"
    titles = [e.title for e in _week(backend) if e.series_id == "standup"]
    assert titles == ["Standup", "Standup", "Standup (long)", "Standup", "Standup"]

    backend.cancel_event("standup@20250306T083000Z", notify=False)
    assert "standup@20250306T083000Z" not in [e.id for e in _week(backend)]
    backend.cancel_event("lunch-1", notify=False)
    assert "lunch-1" not in [e.id for e in _week(backend)]
    with pytest.raises(NotFoundError):
        backend.get_event("lunch-1")


def test_unknown_properties_survive_and_answers_are_recorded(
    backend: CalDavCalendar, radicale: str, calendar_name: str
) -> None:
    answered = backend.respond_to_event("standup@20250304T083000Z", "accepted", "see you")
    assert answered.event.my_response == "accepted"
    with _client(radicale) as client:
        raw = client.principal().calendar(name=calendar_name).get_object_by_uid("standup").data
    assert "X-CUSTOM:kept" in raw and "PARTSTAT=ACCEPTED" in raw and "COMMENT:see you" in raw
    assert backend.get_event("standup@20250303T083000Z").my_response == "needs-action"


def test_silent_changes_tell_a_scheduling_server_to_stay_quiet(
    backend: CalDavCalendar, radicale: str, calendar_name: str
) -> None:
    backend.update_event("standup", EventChanges(add_attendees=["ann@example.org"]), notify=False)
    with _client(radicale) as client:
        raw = client.principal().calendar(name=calendar_name).get_object_by_uid("standup").data
    assert "SCHEDULE-AGENT=CLIENT" in raw.replace("\r\n ", "")


def test_unknown_calendar_name_is_a_clear_error(radicale: str) -> None:
    with _client(radicale) as client:
        client.principal().make_calendar(name="Home")
    cal = CalDavCalendar(lambda: _client(radicale), BERLIN, calendar_name="Nope")
    try:
        with pytest.raises(BackendError, match=r"no CalDAV calendar named 'Nope'.*Home"):
            cal.list_events(NOW, NOW + timedelta(days=1))
    finally:
        cal.close()
