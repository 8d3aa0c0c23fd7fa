"""The calendar tools' contract, effects, argument checks, and the CLI round trip on an .ics."""

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import icalendar
import pytest

from morrow.agent.cli import main
from morrow.tools.calendar.tools import CALENDAR_TOOLS, create_event, update_event
from morrow.tools.errors import ToolRetry

CONTRACT = {
    "list_events": ["start", "end", "query"],
    "get_event": ["event_id"],
    "find_free_slots": ["duration_minutes", "start", "end", "attendees"],
    "create_event": [
        "title",
        "start",
        "end",
        "attendees",
        "location",
        "description",
        "send_invitations",
    ],
    "update_event": [
        "event_id",
        "title",
        "start",
        "end",
        "location",
        "description",
        "add_attendees",
        "remove_attendees",
        "send_updates",
    ],
    "cancel_event": ["event_id", "notify"],
    "respond_to_event": ["event_id", "response", "comment"],
}


def test_names_arguments_and_order_follow_the_contract() -> None:
    assert [t.name for t in CALENDAR_TOOLS] == list(CONTRACT)
    for tool in CALENDAR_TOOLS:
        assert list(tool.parameters["properties"]) == CONTRACT[tool.name], tool.name
        assert all(p.get("description") for p in tool.parameters["properties"].values())
        assert len(tool.description) < 600, tool.name  # sent on every request
    respond = next(t for t in CALENDAR_TOOLS if t.name == "respond_to_event")
    assert respond.parameters["properties"]["response"]["enum"] == [
        "accepted",
        "declined",
        "tentative",
    ]


WHEN = {"start": "2025-03-10T09:00:00+01:00", "end": "2025-03-10T10:00:00+01:00"}


@pytest.mark.parametrize(
    ("tool_name", "arguments", "effect"),
    [
        ("list_events", WHEN, "read"),
        ("create_event", {"title": "x", **WHEN}, "write"),
        ("create_event", {"title": "x", **WHEN, "attendees": ["a@b.example"]}, "write"),
        (
            "create_event",
            {"title": "x", **WHEN, "attendees": ["a@b.example"], "send_invitations": True},
            "send",
        ),
        ("create_event", {"title": "x", **WHEN, "send_invitations": True}, "write"),
        ("update_event", {"event_id": "e", "title": "y"}, "write"),
        ("update_event", {"event_id": "e", "title": "y", "send_updates": True}, "send"),
        ("cancel_event", {"event_id": "e"}, "write"),
        ("cancel_event", {"event_id": "e", "notify": True}, "send"),
        ("respond_to_event", {"event_id": "e", "response": "accepted"}, "send"),
    ],
)
def test_effects_say_when_someone_is_emailed(
    tool_name: str, arguments: dict[str, Any], effect: str
) -> None:
    tool = next(t for t in CALENDAR_TOOLS if t.name == tool_name)
    assert tool.effect_for(tool.validate(arguments)) == effect


def test_a_bracketed_zone_keeps_the_event_in_it() -> None:
    args: Any = create_event.validate(
        {
            "title": "Call",
            "start": "2025-03-10T09:00:00-04:00[America/New_York]",
            "end": "2025-03-10T10:00:00-04:00",
        }
    )
    assert args.start.tzinfo == ZoneInfo("America/New_York")
    assert args.start.astimezone(UTC) == datetime(2025, 3, 10, 13, tzinfo=UTC)


@pytest.mark.parametrize(
    ("start", "message"),
    [
        ("2025-03-10T09:00:00", "timezone"),
        ("2025-03-10T09:00:00-04:00[America/Nowhere]", "unknown time zone 'America/Nowhere'"),
        ("2025-03-10T09:00:00+01:00[America/New_York]", "not UTC\\+0100"),
        ("2025-03-10T09:00:00[Europe/Berlin]", "needs an offset"),
        ("tomorrow at 9[Europe/Berlin]", "not an ISO 8601"),
    ],
)
def test_naive_times_and_unknown_zones_go_back_to_the_model(start: str, message: str) -> None:
    with pytest.raises(ToolRetry, match=message):
        update_event.validate({"event_id": "e", "start": start})


# -- the command line on an .ics -----------------------------------------------------------

ICS = """BEGIN:VCALENDAR\r
VERSION:2.0\r
PRODID:-//test//EN\r
BEGIN:VEVENT\r
UID:standup\r
DTSTAMP:20250101T000000Z\r
SUMMARY:Standup\r
DTSTART;TZID=Europe/Berlin:20250310T093000\r
DTEND;TZID=Europe/Berlin:20250310T094500\r
RRULE:FREQ=DAILY;COUNT=5\r
X-KEEP:yes\r
END:VEVENT\r
BEGIN:VEVENT\r
UID:review\r
DTSTAMP:20250101T000000Z\r
SUMMARY:Design review\r
DTSTART:20250311T130000Z\r
DTEND:20250311T140000Z\r
ATTENDEE:mailto:sam@example.org\r
END:VEVENT\r
BEGIN:VTODO\r
UID:todo\r
SUMMARY:Keep me\r
END:VTODO\r
END:VCALENDAR\r
"""


@pytest.fixture
def home(_isolated_home: Path) -> Path:
    (_isolated_home / "calendar.ics").write_text(ICS, newline="")
    (_isolated_home / "config.toml").write_text(
        '[user]\ntimezone = "Europe/Berlin"\nemail = "me@example.com"\n\n'
        '[calendar]\nbackend = "ics"\npath = "calendar.ics"\n'
    )
    return _isolated_home


def cli(capsys: pytest.CaptureFixture[str], name: str, *extra: str, **arguments: Any) -> Any:
    code = main(["tools", "call", name, "--args", json.dumps(arguments), *extra])
    out, err = capsys.readouterr()
    return code, (json.loads(out) if code == 0 else err)


def parsed(path: Path) -> dict[tuple[str, str], bytes]:
    calendar = icalendar.Calendar.from_ical(path.read_bytes())
    return {
        (str(c.get("UID", c.name)), str(c.get("RECURRENCE-ID", ""))): c.to_ical()
        for c in calendar.subcomponents
        if "X-MORROW-ADDED" not in c
    }


def test_listed_ids_work_with_get_update_and_cancel(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, events = cli(
        capsys, "list_events", start="2025-03-10T00:00:00+01:00", end="2025-03-17T00:00:00+01:00"
    )
    assert code == 0
    ids = [e["id"] for e in events]
    assert ids[:3] == ["standup@20250310T083000Z", "standup@20250311T083000Z", "review"]
    for event_id in ids:
        assert cli(capsys, "get_event", event_id=event_id)[1]["id"] == event_id

    before = parsed(home / "calendar.ics")
    code, err = cli(capsys, "update_event", event_id="review", title="Review")
    assert code == 1 and "write effect" in err and "--approve" in err
    assert parsed(home / "calendar.ics") == before

    code, result = cli(capsys, "update_event", "--approve", event_id="review", title="Review")
    assert code == 0 and result["event"]["title"] == "Review"
    after = parsed(home / "calendar.ics")
    changed = {key for key in before if after.get(key) != before[key]}
    assert changed == {("review", "")} and set(after) == set(before)

    code, result = cli(capsys, "cancel_event", "--approve", event_id="standup@20250312T083000Z")
    assert code == 0 and result["action"] == "cancelled"
    final = parsed(home / "calendar.ics")
    assert {key for key in before if final.get(key) != after[key]} == {("standup", "")}
    assert b"X-KEEP:yes" in final[("standup", "")]
    code, events = cli(
        capsys, "list_events", start="2025-03-10T00:00:00+01:00", end="2025-03-17T00:00:00+01:00"
    )
    assert "standup@20250312T083000Z" not in [e["id"] for e in events]


def test_a_wrong_id_is_a_clear_error(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, err = cli(capsys, "cancel_event", "--approve", event_id="nope")
    assert code == 1 and "no event with id 'nope'" in err
