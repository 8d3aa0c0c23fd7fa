"""Writing the local .ics calendar: semantics, preservation, refusals, and properties."""

import os
import shutil
import stat
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import icalendar
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from morrow.tools.calendar.backend import EventChanges, NewEvent
from morrow.tools.calendar.ics import IcsCalendar
from morrow.tools.errors import BackendError, NotFoundError, ToolError

DATA = Path(__file__).parents[1] / "data" / "calendar"
BERLIN = ZoneInfo("Europe/Berlin")
NOW = datetime(2025, 3, 1, 8, 0, tzinfo=UTC)
TIMESTAMPS = ("DTSTAMP", "LAST-MODIFIED", "CREATED")

BASE = """BEGIN:VCALENDAR\r
VERSION:2.0\r
PRODID:-//test//EN\r
X-WR-CALNAME:Work\r
BEGIN:VTODO\r
UID:todo-1\r
SUMMARY:File taxes\r
END:VTODO\r
BEGIN:VEVENT\r
UID:weekly\r
DTSTAMP:20250101T000000Z\r
SUMMARY:Team sync\r
DTSTART;TZID=Europe/Berlin:20250303T100000\r
DTEND;TZID=Europe/Berlin:20250303T103000\r
RRULE:FREQ=WEEKLY;COUNT=6\r
EXDATE;TZID=Europe/Berlin:20250317T100000\r
ATTENDEE;CN=Me;PARTSTAT=NEEDS-ACTION:mailto:me@example.com\r
ORGANIZER:mailto:boss@example.com\r
X-APPLE-TRAVEL-ADVISORY-BEHAVIOR:AUTOMATIC\r
BEGIN:VALARM\r
ACTION:DISPLAY\r
TRIGGER:-PT10M\r
DESCRIPTION:Reminder\r
END:VALARM\r
END:VEVENT\r
BEGIN:VEVENT\r
UID:weekly\r
DTSTAMP:20250101T000000Z\r
SUMMARY:Team sync (moved)\r
RECURRENCE-ID;TZID=Europe/Berlin:20250324T100000\r
DTSTART;TZID=Europe/Berlin:20250325T150000\r
DTEND;TZID=Europe/Berlin:20250325T153000\r
END:VEVENT\r
BEGIN:VEVENT\r
UID:dentist\r
DTSTAMP:20250101T000000Z\r
SUMMARY:Dentist\r
DTSTART:20250305T130000Z\r
DTEND:20250305T140000Z\r
X-CUSTOM;X-PARAM=1:keep me\r
END:VEVENT\r
END:VCALENDAR\r
"""


def components(path: Path) -> list[icalendar.Component]:
    return list(icalendar.Calendar.from_ical(path.read_bytes()).subcomponents)


def by_uid(path: Path, uid: str) -> list[icalendar.Component]:
    return [c for c in components(path) if str(c.get("UID", "")) == uid]


def others(path: Path, uid: str) -> list[bytes]:
    """Every component but those of ``uid`` and the VTIMEZONEs morrow added for them."""
    return [
        c.to_ical()
        for c in components(path)
        if str(c.get("UID", "")) != uid and "X-MORROW-ADDED" not in c
    ]


@pytest.fixture
def ics(tmp_path: Path) -> IcsCalendar:
    path = tmp_path / "calendar.ics"
    path.write_text(BASE, newline="")
    return IcsCalendar(path, BERLIN, me="me@example.com", clock=lambda: NOW)


def week(cal: IcsCalendar, day: int = 3, days: int = 7) -> list[Any]:
    start = datetime(2025, 3, day, tzinfo=BERLIN)
    return sorted(cal.list_events(start, start + timedelta(days=days)), key=lambda e: e.start)


def lunch(uid: str = "lunch-1", **more: Any) -> NewEvent:
    fields = {
        "uid": uid,
        "title": "Lunch",
        "start": datetime(2025, 3, 4, 12, tzinfo=BERLIN),
        "end": datetime(2025, 3, 4, 13, tzinfo=BERLIN),
    }
    return NewEvent(**(fields | more))


# -- create --------------------------------------------------------------------------------


def test_create_keeps_every_other_component_and_is_idempotent(ics: IcsCalendar) -> None:
    before = others(ics.path, "lunch-1")
    change = ics.create_event(lunch(attendees=["sam@example.org"]), notify=True)
    assert change.event.organizer == "me@example.com"
    assert change.note and "nobody was notified" in change.note
    assert others(ics.path, "lunch-1") == before
    assert ics.create_event(lunch(), notify=False).event.id == "lunch-1"
    assert len(by_uid(ics.path, "lunch-1")) == 1


def test_create_in_a_named_zone_adds_its_vtimezone_once(ics: IcsCalendar) -> None:
    ny = ZoneInfo("America/New_York")
    ics.create_event(
        lunch(
            "a", start=datetime(2025, 3, 4, 9, tzinfo=ny), end=datetime(2025, 3, 4, 10, tzinfo=ny)
        ),
        notify=False,
    )
    ics.create_event(
        lunch(
            "b", start=datetime(2025, 3, 5, 9, tzinfo=ny), end=datetime(2025, 3, 5, 10, tzinfo=ny)
        ),
        notify=False,
    )
    zones = [c for c in components(ics.path) if c.name == "VTIMEZONE"]
    assert [str(z["TZID"]) for z in zones].count("America/New_York") == 1
    event = ics.get_event("a")
    assert event.timezone == "America/New_York"
    assert event.zone_start == datetime(2025, 3, 4, 9, tzinfo=ny)


def test_a_new_file_is_created_private(tmp_path: Path) -> None:
    cal = IcsCalendar(tmp_path / "new" / "c.ics", BERLIN, clock=lambda: NOW)
    cal.create_event(lunch(), notify=False)
    assert stat.S_IMODE(cal.path.stat().st_mode) == 0o600
    assert [e.id for e in week(cal)] == ["lunch-1"]


def test_writes_keep_the_file_mode_and_leave_no_temporary_file(ics: IcsCalendar) -> None:
    os.chmod(ics.path, 0o640)
    ics.create_event(lunch(), notify=False)
    assert stat.S_IMODE(ics.path.stat().st_mode) == 0o640
    names = sorted(p.name for p in ics.path.parent.iterdir() if "calendar" in p.name)
    assert names == [".calendar.ics.lock", "calendar.ics"]


# -- update --------------------------------------------------------------------------------


def test_updating_one_occurrence_writes_an_override_only_for_it(ics: IcsCalendar) -> None:
    change = ics.update_event(
        "weekly@20250310T090000Z",
        EventChanges(start=datetime(2025, 3, 10, 11, tzinfo=BERLIN), location="Room 2"),
        notify=False,
    )
    assert change.event.start == datetime(2025, 3, 10, 11, tzinfo=BERLIN)
    assert change.event.end == datetime(2025, 3, 10, 11, 30, tzinfo=BERLIN)
    listed = {e.id: e for e in week(ics, days=35)}
    assert listed["weekly@20250310T090000Z"].location == "Room 2"
    assert listed["weekly@20250303T090000Z"].location is None
    override = [c for c in by_uid(ics.path, "weekly") if "RECURRENCE-ID" in c]
    assert len(override) == 2  # the new one and the one the file had
    new = next(c for c in override if c["RECURRENCE-ID"].dt.day == 10)
    assert "VALARM" in [s.name for s in new.subcomponents]  # copied from the rule
    assert str(new["X-APPLE-TRAVEL-ADVISORY-BEHAVIOR"]) == "AUTOMATIC"
    assert int(new["SEQUENCE"]) == 1
    assert others(ics.path, "weekly") == others_of_base("weekly")


def others_of_base(uid: str) -> list[bytes]:
    calendar = icalendar.Calendar.from_ical(BASE)
    return [c.to_ical() for c in calendar.subcomponents if str(c.get("UID", "")) != uid]


def test_updating_the_series_moves_exdates_and_unmoved_overrides_along(
    ics: IcsCalendar,
) -> None:
    ics.update_event("weekly@20250310T090000Z", EventChanges(title="Planning"), notify=False)
    ics.update_event(
        "weekly", EventChanges(start=datetime(2025, 3, 3, 9, 30, tzinfo=BERLIN)), notify=False
    )
    listed = [
        (e.title, e.start.strftime("%m-%d %H:%M"))
        for e in week(ics, days=42)
        if e.series_id == "weekly"
    ]
    assert listed == [
        ("Team sync", "03-03 09:30"),
        ("Planning", "03-10 09:30"),  # an override that had not been moved moves along
        # 03-17 is still excluded (its EXDATE moved with the rule)
        ("Team sync (moved)", "03-25 15:00"),  # a moved occurrence keeps its own time
        ("Team sync", "03-31 09:30"),
        ("Team sync", "04-07 09:30"),  # summer time: same wall-clock time
    ]


def test_renaming_the_series_renames_overrides_that_had_its_title(ics: IcsCalendar) -> None:
    ics.update_event("weekly@20250310T090000Z", EventChanges(location="Room 1"), notify=False)
    ics.update_event("weekly", EventChanges(title="Sync"), notify=False)
    titles = sorted({e.title for e in week(ics, days=42) if e.series_id == "weekly"})
    assert titles == ["Sync", "Team sync (moved)"]


def test_attendees_are_added_and_removed_case_insensitively(ics: IcsCalendar) -> None:
    ics.update_event(
        "dentist",
        EventChanges(add_attendees=["Ann@Example.org"], remove_attendees=[]),
        notify=False,
    )
    ics.update_event(
        "dentist",
        EventChanges(add_attendees=["ann@example.org"], remove_attendees=[]),
        notify=False,
    )
    assert ics.get_event("dentist").attendees == ["Ann@Example.org"]
    ics.update_event("dentist", EventChanges(remove_attendees=["ANN@example.org"]), notify=False)
    assert ics.get_event("dentist").attendees == []


def test_moving_an_all_day_event_keeps_it_all_day(tmp_path: Path) -> None:
    path = tmp_path / "c.ics"
    path.write_text(
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:x\r\nBEGIN:VEVENT\r\nUID:trip\r\n"
        "DTSTAMP:20250101T000000Z\r\nSUMMARY:Trip\r\nDTSTART;VALUE=DATE:20250310\r\n"
        "DTEND;VALUE=DATE:20250313\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
    )
    cal = IcsCalendar(path, BERLIN, clock=lambda: NOW)
    event = cal.update_event(
        "trip", EventChanges(start=datetime(2025, 3, 17, tzinfo=BERLIN)), notify=False
    ).event
    assert event.all_day
    assert (str(event.start_date), str(event.end_date)) == ("2025-03-17", "2025-03-20")


# -- cancel and respond --------------------------------------------------------------------


def test_cancelling_an_occurrence_excludes_it_and_drops_its_override(ics: IcsCalendar) -> None:
    ics.cancel_event("weekly@20250324T090000Z", notify=False)
    ids = [e.id for e in week(ics, days=42)]
    assert "weekly@20250324T090000Z" not in ids and "weekly@20250331T080000Z" in ids
    assert [c for c in by_uid(ics.path, "weekly") if "RECURRENCE-ID" in c] == []
    with pytest.raises(NotFoundError):
        ics.cancel_event("weekly@20250304T090000Z", notify=False)  # never an occurrence


def test_cancelling_the_series_removes_all_of_it(ics: IcsCalendar) -> None:
    ics.cancel_event("weekly", notify=False)
    assert by_uid(ics.path, "weekly") == []
    assert others(ics.path, "weekly") == others_of_base("weekly")


def test_respond_records_my_answer_on_that_occurrence_only(ics: IcsCalendar) -> None:
    change = ics.respond_to_event("weekly@20250310T090000Z", "tentative", "maybe late")
    assert change.event.my_response == "tentative"
    assert change.note and "nobody was notified" in change.note
    assert ics.get_event("weekly@20250303T090000Z").my_response == "needs-action"
    with pytest.raises(ToolError, match="not invited"):
        ics.respond_to_event("dentist", "accepted", None)


# -- refusals: nothing is lost -------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        (BASE.replace("SUMMARY:Dentist\r\n", "SUMMARY:Dentist\r\nthis is not a line\r\n"), "lost"),
        (BASE + BASE.replace("X-WR-CALNAME:Work", "X-WR-CALNAME:Home"), "exactly one"),
        (BASE.replace("END:VTODO\r\n", ""), "unmatched"),
    ],
)
def test_a_write_that_would_lose_data_is_refused(tmp_path: Path, text: str, reason: str) -> None:
    path = tmp_path / "c.ics"
    path.write_text(text, newline="")
    before = path.read_bytes()
    cal = IcsCalendar(path, BERLIN, clock=lambda: NOW)
    with pytest.raises(BackendError, match=reason):
        cal.update_event("dentist", EventChanges(title="x"), notify=False)
    assert path.read_bytes() == before


def test_a_write_leaves_every_other_event_as_it_was_byte_for_byte(tmp_path: Path) -> None:
    # a line icalendar cannot read, in another event, no longer blocks a write: it is kept
    text = BASE.replace("SUMMARY:Dentist\r\n", "SUMMARY:Dentist\r\nthis is not a line\r\n")
    path = tmp_path / "c.ics"
    path.write_text(text, newline="")
    cal = IcsCalendar(path, BERLIN, clock=lambda: NOW)
    cal.create_event(lunch(), notify=False)
    after = path.read_bytes()
    assert after.startswith(text.encode()[: text.index("END:VCALENDAR")])
    cal.cancel_event("lunch-1", notify=False)
    assert path.read_bytes() == text.encode()


def test_a_file_with_lf_line_ends_keeps_them(tmp_path: Path) -> None:
    path = tmp_path / "c.ics"
    path.write_text(BASE.replace("\r\n", "\n"), newline="")
    cal = IcsCalendar(path, BERLIN, clock=lambda: NOW)
    cal.create_event(lunch(), notify=False)
    cal.update_event("dentist", EventChanges(title="Dentist (moved)"), notify=False)
    assert b"\r" not in path.read_bytes()
    assert {e.title for e in week(cal)} >= {"Lunch", "Dentist (moved)"}


def test_an_event_with_a_repeated_dtstart_is_not_rewritten(tmp_path: Path) -> None:
    path = tmp_path / "c.ics"
    path.write_text(
        BASE.replace(
            "DTSTART:20250305T130000Z\r\n",
            "DTSTART:20250305T130000Z\r\nDTSTART:20250305T150000Z\r\n",
        ),
        newline="",
    )
    before = path.read_bytes()
    cal = IcsCalendar(path, BERLIN, clock=lambda: NOW)
    with pytest.raises(BackendError, match="DTSTART more than once"):
        cal.update_event("dentist", EventChanges(title="x"), notify=False)
    assert path.read_bytes() == before


# -- properties ----------------------------------------------------------------------------

ZONES = ["Europe/Berlin", "America/New_York", "Asia/Kolkata", "Pacific/Chatham", "UTC"]
REAL_FILES = [
    p
    for p in sorted(DATA.glob("**/*.ics"))
    if p.name in {"issue_62_moved_event.ics", "each_week_but_one_deleted.ics", "rdate.ics"}
]
titles = st.text(
    alphabet=st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="\r"),
    min_size=1,
    max_size=40,
).filter(lambda t: bool(t.strip()))
moments = st.datetimes(
    min_value=datetime.fromisoformat("2024-01-01T00:00"),  # hypothesis wants naive bounds
    max_value=datetime.fromisoformat("2026-12-31T00:00"),
    timezones=st.just(UTC),
).map(lambda d: d.replace(second=0, microsecond=0))
originals = st.sampled_from([None, *REAL_FILES])


def _fresh(original: Path | None, folder: Path) -> Path:
    path = folder / "calendar.ics"
    if original is None:
        path.write_text(BASE, newline="")
    else:
        shutil.copyfile(original, path)
    return path


@settings(max_examples=40, suppress_health_check=[HealthCheck.too_slow])
@given(
    original=originals,
    title=titles,
    start=moments,
    minutes=st.integers(min_value=5, max_value=3 * 24 * 60),
    zone=st.sampled_from(ZONES),
    location=st.none() | titles,
)
def test_create_then_list_finds_it_and_cancel_restores_the_file(
    original: Path | None,
    title: str,
    start: datetime,
    minutes: int,
    zone: str,
    location: str | None,
) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = _fresh(original, Path(folder))
        before = icalendar.Calendar.from_ical(path.read_bytes())
        cal = IcsCalendar(path, BERLIN, clock=lambda: NOW)
        local = start.astimezone(ZoneInfo(zone))
        end = local + timedelta(minutes=minutes)
        new = NewEvent(uid="prop-1", title=title, start=local, end=end, location=location)
        cal.create_event(new, notify=False)

        found = [e for e in cal.list_events(local, end) if e.id == "prop-1"]
        assert len(found) == 1
        event = found[0]
        # compare instants: Python calls aware datetimes of different zones unequal when
        # either falls in a repeated (DST fall-back) hour
        assert event.title == title.strip()
        assert (event.start.timestamp(), event.end.timestamp()) == (
            local.timestamp(),
            end.timestamp(),
        )
        assert event.location == (location.strip() if location else None)
        # in a Google export (X-WR-TIMEZONE) UTC times are shown in the calendar's zone
        calendar_zone = str(before.get("X-WR-TIMEZONE", "")) or None
        assert event.timezone == (calendar_zone if zone == "UTC" and calendar_zone else zone)

        cal.cancel_event("prop-1", notify=False)
        after = icalendar.Calendar.from_ical(path.read_bytes())
        assert _without_timestamps(after) == _without_timestamps(before)


def _without_timestamps(calendar: icalendar.Component) -> bytes:
    for component in calendar.walk():
        for name in TIMESTAMPS:
            component.pop(name, None)
    return bytes(calendar.to_ical())
