"""The Google Calendar backend on the static discovery document, with HttpMockSequence.

Every test asserts the exact requests (method, URI, JSON body) the tools make.
"""

import asyncio
import json
import re
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from googleapiclient.discovery import build
from googleapiclient.http import HttpMockSequence

from morrow.tools.base import Tool
from morrow.tools.calendar.google import GoogleCalendar
from morrow.tools.calendar.tools import (
    cancel_event,
    create_event,
    find_free_slots,
    get_event,
    list_events,
    respond_to_event,
    update_event,
)
from morrow.tools.context import ToolContext
from morrow.tools.errors import BackendError, NotFoundError, ToolError
from morrow.tools.workspace import Workspace

BERLIN = ZoneInfo("Europe/Berlin")
NOW = datetime(2025, 3, 9, 12, 0, tzinfo=UTC)
EVENTS = "https://www.googleapis.com/calendar/v3/calendars/primary/events"
WEEK = "timeMin=2025-03-09T23%3A00%3A00Z&timeMax=2025-03-16T23%3A00%3A00Z"
LIST_WEEK = f"{EVENTS}?{WEEK}&singleEvents=true&orderBy=startTime&maxResults=250"


def timed(event_id: str, start: str, end: str, zone: str = "Europe/Berlin", **more: Any) -> Any:
    return {
        "id": event_id,
        "status": "confirmed",
        "summary": more.pop("summary", event_id),
        "start": {"dateTime": start, "timeZone": zone},
        "end": {"dateTime": end, "timeZone": zone},
        **more,
    }


STANDUP = timed(
    "standup_20250310T080000Z",
    "2025-03-10T09:00:00+01:00",
    "2025-03-10T09:15:00+01:00",
    recurringEventId="standup",
    summary="Standup",
)
NY_CALL = timed(
    "nycall", "2025-03-11T09:00:00-04:00", "2025-03-11T10:00:00-04:00", zone="America/New_York"
)
OFFSITE = {
    "id": "offsite",
    "status": "confirmed",
    "summary": "Offsite",
    "start": {"date": "2025-03-12"},
    "end": {"date": "2025-03-14"},
    "transparency": "transparent",
}
INVITE = timed(
    "invite1",
    "2025-03-13T15:00:00+01:00",
    "2025-03-13T16:00:00+01:00",
    organizer={"email": "boss@example.com"},
    attendees=[
        {"email": "boss@example.com", "organizer": True, "responseStatus": "accepted"},
        {"email": "me@example.com", "self": True, "responseStatus": "needsAction"},
        {"email": "sam@example.org", "responseStatus": "tentative"},
    ],
)
MINE = timed(
    "mine1",
    "2025-03-14T10:00:00+01:00",
    "2025-03-14T11:00:00+01:00",
    organizer={"email": "me@example.com", "self": True},
    attendees=[
        {"email": "me@example.com", "self": True, "responseStatus": "accepted"},
        {"email": "sam@example.org", "responseStatus": "accepted"},
    ],
)


def ok(body: Any) -> tuple[dict[str, str], str]:
    return {"status": "200"}, json.dumps(body)


def error(status: int, reason: str, message: str) -> tuple[dict[str, str], str]:
    body = {"error": {"code": status, "message": message, "errors": [{"reason": reason}]}}
    return {"status": str(status)}, json.dumps(body)


class Google:
    """A workspace on a GoogleCalendar whose HTTP is a scripted HttpMockSequence."""

    def __init__(self, *responses: tuple[dict[str, str], str]) -> None:
        self.http = HttpMockSequence(list(responses))
        service = build("calendar", "v3", http=self.http, static_discovery=True)
        self.backend = GoogleCalendar(lambda: service, BERLIN)
        self.workspace = Workspace(
            calendar=self.backend,
            mail=None,  # type: ignore[arg-type]
            timezone=BERLIN,
            clock=lambda: NOW,
            user_email="me@example.com",
        )

    def call(self, tool: Tool, **arguments: Any) -> Any:
        args = tool.validate(arguments)
        return json.loads(asyncio.run(tool.run(ToolContext(self.workspace), args)))

    def requests(self) -> list[tuple[str, str, Any]]:
        """(method, uri, decoded body) of every request, in order."""
        return [
            (method, uri, json.loads(body) if body else None)
            for uri, method, body, _ in self.http.request_sequence
        ]

    def done(self) -> None:
        assert self.http._iterable == [], "scripted responses left unused"


def test_list_events_reads_every_page_and_maps_zones_series_and_all_day() -> None:
    google = Google(
        ok({"timeZone": "Europe/Berlin", "items": [STANDUP, NY_CALL], "nextPageToken": "p2"}),
        ok({"items": [OFFSITE, {**INVITE, "id": "gone", "status": "cancelled"}, INVITE]}),
    )
    events = google.call(
        list_events, start="2025-03-10T00:00:00+01:00", end="2025-03-17T00:00:00+01:00"
    )
    assert google.requests() == [
        ("GET", f"{LIST_WEEK}&alt=json", None),
        ("GET", f"{LIST_WEEK}&pageToken=p2&alt=json", None),
    ]
    google.done()
    by_id = {e["id"]: e for e in events}
    assert list(by_id) == ["standup_20250310T080000Z", "nycall", "offsite", "invite1"]
    assert by_id["standup_20250310T080000Z"]["series_id"] == "standup"
    call = by_id["nycall"]
    assert call["start"] == "2025-03-11T14:00:00+01:00"  # the user's local time
    assert call["timezone"] == "America/New_York"
    assert call["zone_start"] == "2025-03-11T09:00:00-04:00"  # the event's own zone
    offsite = by_id["offsite"]
    assert offsite["all_day"] and offsite["free"]
    assert (offsite["start_date"], offsite["end_date"]) == ("2025-03-12", "2025-03-14")
    assert by_id["invite1"]["my_response"] == "needs-action"


def test_get_event_fetches_it_and_its_neighbours_for_conflicts() -> None:
    overlapping = timed("other", "2025-03-13T15:30:00+01:00", "2025-03-13T17:00:00+01:00")
    google = Google(ok(INVITE), ok({"items": [INVITE, overlapping]}))
    event = google.call(get_event, event_id="invite1")
    span = "timeMin=2025-03-13T14%3A00%3A00Z&timeMax=2025-03-13T15%3A00%3A00Z"
    assert google.requests() == [
        ("GET", f"{EVENTS}/invite1?alt=json", None),
        (
            "GET",
            f"{EVENTS}?{span}&singleEvents=true&orderBy=startTime&maxResults=250&alt=json",
            None,
        ),
    ]
    assert event["conflicts_with"] == ["other"]
    assert event["attendees"] == ["boss@example.com", "me@example.com", "sam@example.org"]


def test_get_event_404_and_410_are_not_found_with_a_clear_message() -> None:
    google = Google(error(404, "notFound", "Not Found"), error(410, "deleted", "Resource gone"))
    with pytest.raises(NotFoundError, match="no event with id 'nope' in Google Calendar primary"):
        google.call(get_event, event_id="nope")
    with pytest.raises(NotFoundError, match="'old' was deleted"):
        google.call(get_event, event_id="old")


def test_forbidden_tells_the_user_how_to_grant_access() -> None:
    google = Google(error(403, "forbidden", "Insufficient Permission"))
    with pytest.raises(BackendError, match=r"HTTP 403.*morrow auth google"):
        google.backend.get_event("x")


def test_find_free_slots_asks_freebusy_for_the_attendees() -> None:
    busy = {
        "calendars": {
            "sam@example.org": {
                "busy": [{"start": "2025-03-10T09:00:00Z", "end": "2025-03-10T12:00:00Z"}]
            },
            "ext@other.example": {"errors": [{"domain": "global", "reason": "notFound"}]},
        }
    }
    google = Google(ok({"items": [STANDUP]}), ok(busy))
    found = google.call(
        find_free_slots,
        duration_minutes=60,
        start="2025-03-10T00:00:00+01:00",
        end="2025-03-11T00:00:00+01:00",
        attendees=["sam@example.org", "ext@other.example"],
    )
    day = "timeMin=2025-03-09T23%3A00%3A00Z&timeMax=2025-03-10T23%3A00%3A00Z"
    assert google.requests() == [
        (
            "GET",
            f"{EVENTS}?{day}&singleEvents=true&orderBy=startTime&maxResults=250&alt=json",
            None,
        ),
        (
            "POST",
            "https://www.googleapis.com/calendar/v3/freeBusy?alt=json",
            {
                "timeMin": "2025-03-09T23:00:00Z",
                "timeMax": "2025-03-10T23:00:00Z",
                "items": [{"id": "ext@other.example"}, {"id": "sam@example.org"}],
            },
        ),
    ]
    assert found["slots"] == [
        {"start": "2025-03-10T13:00:00+01:00", "end": "2025-03-10T17:00:00+01:00"}
    ]
    assert "notFound" in found["unknown_availability"]["ext@other.example"]


def test_create_event_inserts_with_a_client_chosen_id_and_invitations() -> None:
    google = Google(({"status": "200"}, "echo_request_body"))  # the event as Google stores it
    result = google.call(
        create_event,
        title="Lunch",
        start="2025-03-11T12:00:00-04:00[America/New_York]",
        end="2025-03-11T13:00:00-04:00",
        attendees=["sam@example.org"],
        location="Deli",
        send_invitations=True,
    )
    ((method, uri, body),) = google.requests()
    assert (method, uri) == ("POST", f"{EVENTS}?sendUpdates=all&alt=json")
    assert re.fullmatch(r"[0-9a-v]{5,1024}", body.pop("id"))  # valid base32hex
    assert body == {
        "summary": "Lunch",
        "start": {"dateTime": "2025-03-11T12:00:00-04:00", "timeZone": "America/New_York"},
        "end": {"dateTime": "2025-03-11T13:00:00-04:00", "timeZone": "America/New_York"},
        "location": "Deli",
        "attendees": [{"email": "sam@example.org"}],
    }
    assert result["notified"] == ["sam@example.org"]
    assert result["event"]["zone_start"] == "2025-03-11T12:00:00-04:00"


def test_create_event_409_means_an_earlier_try_succeeded() -> None:
    existing = timed("fixedid1", "2025-03-11T12:00:00+01:00", "2025-03-11T13:00:00+01:00")
    google = Google(
        error(409, "duplicate", "The requested identifier already exists."), ok(existing)
    )
    from morrow.tools.calendar.backend import NewEvent

    new = NewEvent(
        uid="fixedid1",
        title="fixedid1",
        start=datetime(2025, 3, 11, 12, tzinfo=BERLIN),
        end=datetime(2025, 3, 11, 13, tzinfo=BERLIN),
    )
    change = google.backend.create_event(new, notify=False)
    assert [(m, u) for m, u, _ in google.requests()] == [
        ("POST", f"{EVENTS}?sendUpdates=none&alt=json"),
        ("GET", f"{EVENTS}/fixedid1?alt=json"),
    ]
    assert change.event.id == "fixedid1"


def test_update_event_patches_one_occurrence_keeping_its_length_and_zone() -> None:
    moved = {**STANDUP, "start": {"dateTime": "2025-03-10T10:00:00+01:00"}}
    google = Google(ok(STANDUP), ok(STANDUP), ok(moved | {"end": STANDUP["end"]}))
    google.call(
        update_event, event_id="standup_20250310T080000Z", start="2025-03-10T10:00:00+01:00"
    )
    occurrence = f"{EVENTS}/standup_20250310T080000Z"
    assert google.requests() == [
        ("GET", f"{occurrence}?alt=json", None),
        ("GET", f"{occurrence}?alt=json", None),
        (
            "PATCH",
            f"{occurrence}?sendUpdates=none&alt=json",
            {
                "start": {"dateTime": "2025-03-10T10:00:00+01:00", "timeZone": "Europe/Berlin"},
                "end": {"dateTime": "2025-03-10T10:15:00+01:00", "timeZone": "Europe/Berlin"},
            },
        ),
    ]


def test_update_event_on_the_series_id_with_attendee_changes_and_updates() -> None:
    series = {**MINE, "id": "series1", "recurrence": ["RRULE:FREQ=WEEKLY"]}
    google = Google(ok(series), ok(series), ok(series))
    result = google.call(
        update_event,
        event_id="series1",
        title="Weekly 1:1",
        add_attendees=["ann@example.org"],
        remove_attendees=["sam@example.org"],
        send_updates=True,
    )
    assert google.requests()[2] == (
        "PATCH",
        f"{EVENTS}/series1?sendUpdates=all&alt=json",
        {
            "summary": "Weekly 1:1",
            "attendees": [
                {"email": "me@example.com", "self": True, "responseStatus": "accepted"},
                {"email": "ann@example.org"},
            ],
        },
    )
    assert result["notified"] == ["sam@example.org", "ann@example.org"]
    assert result["event"]["recurrence"] == ["RRULE:FREQ=WEEKLY"]


def test_update_event_moves_an_all_day_event_by_dates() -> None:
    google = Google(ok(OFFSITE), ok(OFFSITE), ok(OFFSITE))
    google.call(update_event, event_id="offsite", start="2025-03-19T00:00:00+01:00")
    assert google.requests()[2][2] == {
        "start": {"date": "2025-03-19"},
        "end": {"date": "2025-03-21"},
    }


def test_cancel_event_deletes_with_notifications_and_410_is_not_found() -> None:
    google = Google(ok(MINE), ({"status": "204"}, ""), ok(MINE), error(410, "deleted", "Gone"))
    result = google.call(cancel_event, event_id="mine1", notify=True)
    assert result["action"] == "cancelled" and result["notified"] == ["sam@example.org"]
    with pytest.raises(NotFoundError, match="was deleted"):
        google.call(cancel_event, event_id="mine1")
    assert [(m, u) for m, u, _ in google.requests()] == [
        ("GET", f"{EVENTS}/mine1?alt=json"),
        ("DELETE", f"{EVENTS}/mine1?sendUpdates=all"),
        ("GET", f"{EVENTS}/mine1?alt=json"),
        ("DELETE", f"{EVENTS}/mine1?sendUpdates=none"),
    ]


def test_respond_to_event_sets_only_my_answer_and_tells_the_organizer() -> None:
    google = Google(ok(INVITE), ok(INVITE))
    result = google.call(
        respond_to_event, event_id="invite1", response="declined", comment="On leave"
    )
    method, uri, body = google.requests()[1]
    assert (method, uri) == ("PATCH", f"{EVENTS}/invite1?sendUpdates=all&alt=json")
    assert body == {
        "attendees": [
            {"email": "boss@example.com", "organizer": True, "responseStatus": "accepted"},
            {
                "email": "me@example.com",
                "self": True,
                "responseStatus": "declined",
                "comment": "On leave",
            },
            {"email": "sam@example.org", "responseStatus": "tentative"},
        ]
    }
    assert result["notified"] == ["boss@example.com"]


def test_respond_to_an_event_i_am_not_invited_to_is_refused() -> None:
    google = Google(ok(NY_CALL))
    with pytest.raises(ToolError, match="not among the attendees"):
        google.call(respond_to_event, event_id="nycall", response="accepted")
    assert len(google.requests()) == 1  # nothing was written
