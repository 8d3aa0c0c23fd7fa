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
from morrow.tools.errors import BackendError, NotFoundError, ToolError

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


# -- several calendars: CalDAV, Google and an .ics file as one (issue 19) ----------------------


def _google(*bodies: Any) -> tuple[Any, Any]:
    """A GoogleCalendar on the static discovery document, its HTTP scripted."""
    import json

    from googleapiclient.discovery import build
    from googleapiclient.http import HttpMockSequence

    from morrow.tools.calendar.google import GoogleCalendar

    http = HttpMockSequence([({"status": "200"}, json.dumps(body)) for body in bodies])
    service = build("calendar", "v3", http=http, static_discovery=True)
    return GoogleCalendar(lambda: service, BERLIN, calendar_id="family@example.com"), http


def test_three_backends_as_one_calendar_set(
    backend: CalDavCalendar, tmp_path: Any, calendar_name: str
) -> None:
    import asyncio
    import json
    import re

    from morrow.tools.calendar.backend import CalendarSet, Member
    from morrow.tools.calendar.ics import IcsCalendar
    from morrow.tools.catalog import all_tools
    from morrow.tools.context import ToolContext
    from morrow.tools.workspace import Workspace

    piano = {
        "id": "piano1",
        "status": "confirmed",
        "summary": "Piano lesson",
        "start": {"dateTime": "2025-03-05T16:00:00+01:00", "timeZone": "Europe/Berlin"},
        "end": {"dateTime": "2025-03-05T17:00:00+01:00", "timeZone": "Europe/Berlin"},
    }
    week = {"timeZone": "Europe/Berlin", "items": [piano]}
    google, http = _google(week, week)
    personal = IcsCalendar(tmp_path / "personal.ics", BERLIN, clock=lambda: NOW)
    calendars = CalendarSet(
        [
            Member("team", backend, read_only=True),
            Member("family", google),
            Member("personal", personal, colour="#cc3366"),
        ],
        default="personal",
    )
    workspace = Workspace(calendar=calendars, mail=None, timezone=BERLIN, clock=lambda: NOW)  # type: ignore[arg-type]
    tools = {t.name: t for t in all_tools(calendars=(["family", "personal"], "personal"))}

    def call(name: str, **arguments: Any) -> Any:
        tool = tools[name]
        result = asyncio.run(tool.run(ToolContext(workspace), tool.validate(arguments)))
        return json.loads(result)

    created = call(
        "create_event",
        title="Dentist",
        start="2025-03-04T08:00:00+01:00",
        end="2025-03-04T09:00:00+01:00",
    )
    assert (
        created["event"]["id"].startswith("personal:")
        and created["event"]["calendar"] == "personal"
    )
    assert b"SUMMARY:Dentist" in (tmp_path / "personal.ics").read_bytes()

    listed = call("list_events", start="2025-03-03T00:00:00+01:00", end="2025-03-10T00:00:00+01:00")
    by_calendar = {(e["calendar"], re.sub(r"<[^>]*>", "", e["title"]).strip()) for e in listed}
    assert {("team", "Standup"), ("family", "Piano lesson"), ("personal", "Dentist")} <= by_calendar
    standup = next(e for e in listed if "Standup" in e["title"])
    assert (
        standup["id"] == "team:standup@20250303T083000Z" and standup["series_id"] == "team:standup"
    )

    # the team calendar is read-only: a change there is refused and nothing is written
    with pytest.raises(ToolError, match="read-only"):
        calendars.update_event(standup["id"], EventChanges(title="x"), notify=False)
    assert backend.get_event("standup").title == "Standup"

    # free time reads all three: the piano lesson and the standup block the 5th
    slots = call(
        "find_free_slots",
        duration_minutes=30,
        start="2025-03-05T00:00:00+01:00",
        end="2025-03-06T00:00:00+01:00",
    )
    assert [(s["start"][11:16], s["end"][11:16]) for s in slots["slots"]] == [
        ("09:00", "09:30"),
        ("09:45", "16:00"),
    ]
    events = "https://www.googleapis.com/calendar/v3/calendars/family%40example.com/events"
    tail = "singleEvents=true&orderBy=startTime&maxResults=250&alt=json"
    assert [(method, uri) for uri, method, _, _ in http.request_sequence] == [
        (
            "GET",
            f"{events}?timeMin=2025-03-02T23%3A00%3A00Z&timeMax=2025-03-09T23%3A00%3A00Z&{tail}",
        ),
        (
            "GET",
            f"{events}?timeMin=2025-03-04T23%3A00%3A00Z&timeMax=2025-03-05T23%3A00%3A00Z&{tail}",
        ),
    ]
