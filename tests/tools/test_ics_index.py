"""The parsed .ics index in the store, and calendars that fight back (issue 19, issue 15 6-9)."""

import json
import os
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from morrow.memory.store import Store
from morrow.tools.calendar.backend import EventChanges, NewEvent
from morrow.tools.calendar.ical import IcalView
from morrow.tools.calendar.ics import IcsCalendar

DATA = Path(__file__).parents[1] / "data" / "calendar"
BERLIN = ZoneInfo("Europe/Berlin")
NOW = datetime(2025, 3, 1, 8, tzinfo=UTC)
WEEK = (datetime(2025, 3, 10, tzinfo=BERLIN), datetime(2025, 3, 17, tzinfo=BERLIN))


def ics(*events: str, extra: str = "") -> bytes:
    body = "".join(f"BEGIN:VEVENT\n{e.strip()}\nEND:VEVENT\n" for e in events)
    text = f"BEGIN:VCALENDAR\nVERSION:2.0\nPRODID:-//test//EN\n{extra}{body}END:VCALENDAR\n"
    return text.replace("\n", "\r\n").encode()


def event(uid: str, start: str = "20250311T100000Z", title: str = "", more: str = "") -> str:
    end = start[:9] + "11" + start[11:]
    return f"UID:{uid}\nSUMMARY:{title or uid}\nDTSTART:{start}\nDTEND:{end}\n{more}"


def calendar(path: Path, store: Store | None = None) -> IcsCalendar:
    return IcsCalendar(path, BERLIN, clock=lambda: NOW, store=store)


def titles(cal: IcsCalendar, span: tuple[datetime, datetime] = WEEK) -> list[str]:
    return sorted(e.title for e in cal.list_events(*span))


# -- the index is kept in the store and parsed once ----------------------------------------------


def test_a_new_process_reads_the_index_without_parsing(tmp_path: Path) -> None:
    path = tmp_path / "c.ics"
    path.write_bytes(ics(event("a"), event("b"), event("weekly", more="RRULE:FREQ=WEEKLY")))
    with Store.open(tmp_path / "m.sqlite") as store:
        first = calendar(path, store)
        assert titles(first) == ["a", "b", "weekly"]
        assert first.index.parses == 3
    os.utime(path, ns=(1, 1))  # the stat is old: trusted without reading the file
    with Store.open(tmp_path / "m.sqlite") as store:
        again = calendar(path, store)
        assert titles(again) == ["a", "b", "weekly"]
        assert again.get_event("weekly").recurrence == ["RRULE:FREQ=WEEKLY"]
        assert again.index.parses == 0


def test_a_file_changed_by_another_program_is_read_again_never_served_stale(
    tmp_path: Path,
) -> None:
    path = tmp_path / "c.ics"
    path.write_bytes(ics(event("a", title="Lunch"), event("b")))
    cal = calendar(path)
    assert titles(cal) == ["Lunch", "b"]
    stat = path.stat()
    # another writer: same size, mtime put back (a sync tool preserving times)
    path.write_bytes(ics(event("a", title="Lurch"), event("b")))
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert path.stat().st_size == stat.st_size
    assert titles(cal) == ["Lurch", "b"]
    assert cal.index.parses == 3  # a, b, then only a again


def test_only_the_event_that_changed_is_parsed_again(tmp_path: Path) -> None:
    path = tmp_path / "c.ics"
    events = [event(f"e{i}", start=f"202503{11 + i % 5}T100000Z") for i in range(40)]
    path.write_bytes(ics(*events))
    cal = calendar(path)
    assert len(cal.list_events(*WEEK)) == 40
    events[7] = event("e7", title="changed")
    path.write_bytes(ics(*events, event("e40")))
    assert "changed" in titles(cal)
    assert cal.index.parses == 40 + 2


def test_a_touched_file_is_not_parsed_again(tmp_path: Path) -> None:
    path = tmp_path / "c.ics"
    path.write_bytes(ics(event("a")))
    cal = calendar(path)
    titles(cal)
    os.utime(path, ns=(5, 5))
    assert titles(cal) == ["a"]
    assert cal.index.parses == 1


def test_writes_keep_the_index_current_and_parse_only_the_event_written(tmp_path: Path) -> None:
    path = tmp_path / "c.ics"
    path.write_bytes(ics(*(event(f"e{i}") for i in range(20))))
    cal = calendar(path)
    titles(cal)
    start = datetime(2025, 3, 12, 9, tzinfo=BERLIN)
    cal.create_event(
        NewEvent(uid="new", title="New", start=start, end=start + timedelta(hours=1)), notify=False
    )
    cal.update_event("e3", EventChanges(title="Three"), notify=False)
    assert {"New", "Three"} <= set(titles(cal))
    assert cal.index.parses == 20 + 2


@pytest.mark.parametrize(
    "name", sorted(p.relative_to(DATA).as_posix() for p in DATA.rglob("*.ics"))
)
def test_the_index_lists_what_icalendar_reads(name: str) -> None:
    """The fast reader and the index give the events the icalendar path gives, real files."""
    data = (DATA / name).read_bytes()
    try:
        view = IcalView.parse(data, BERLIN, "me@example.com", source=name)
    except Exception:
        return  # not iCalendar at all: the index says so too (tested elsewhere)
    start, end = datetime(2000, 1, 1, tzinfo=UTC), datetime(2026, 1, 1, tzinfo=UTC)
    expected = _by_id(view.list_events(start, end))
    store = Store.in_memory()
    cal = IcsCalendar(DATA / name, BERLIN, me="me@example.com", clock=lambda: NOW, store=store)
    assert _by_id(cal.index.list_events(start, end)) == expected


def _by_id(events: list[Any]) -> list[tuple[Any, ...]]:
    """Events as comparable facts: instants, not wall times in a zone."""
    return sorted(
        (
            e.id,
            e.title,
            e.start.timestamp(),
            e.end.timestamp(),
            json.dumps(
                e.model_dump(mode="json", exclude={"start", "end", "zone_start", "zone_end"}),
                sort_keys=True,
            ),
            e.zone_start.timestamp() if e.zone_start else None,
        )
        for e in events
    )


texts = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\r\n"), max_size=30
)


@settings(
    max_examples=60,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(
    title=texts,
    location=texts,
    start=st.sampled_from(["20250311T100000Z", "20250311T100000", "20250311", "20251026T023000"]),
    zone=st.sampled_from(["", ";TZID=Europe/Berlin", ";TZID=America/New_York", ";VALUE=DATE"]),
    more=st.sampled_from(
        [
            "",
            "TRANSP:TRANSPARENT",
            "STATUS:Cancelled",
            "DURATION:PT90M",
            "ATTENDEE;PARTSTAT=ACCEPTED:mailto:me@example.com",
        ]
    ),
    x_wr=st.sampled_from(["", "X-WR-TIMEZONE:Asia/Tokyo\n"]),
)
def test_the_fast_reader_agrees_with_icalendar(
    tmp_path: Path, title: str, location: str, start: str, zone: str, more: str, x_wr: str
) -> None:
    escaped = title.replace("\\", "\\\\").replace(",", "\\,").replace(";", "\\;")
    body = f"UID:x\nSUMMARY:{escaped}\nLOCATION:{location}\nDTSTART{zone}:{start}\n{more}"
    data = ics(body, extra=x_wr)
    path = tmp_path / f"{abs(hash(data))}.ics"
    path.write_bytes(data)
    view = IcalView.parse(data, BERLIN, "me@example.com", source="x")
    span = (datetime(2025, 1, 1, tzinfo=UTC), datetime(2026, 1, 1, tzinfo=UTC))
    cal = IcsCalendar(path, BERLIN, me="me@example.com", clock=lambda: NOW)
    assert _by_id(cal.index.list_events(*span)) == _by_id(view.list_events(*span))


# -- calendars that fight back -----------------------------------------------------------------

TICK = (
    "UID:tick\nSUMMARY:Tick\nDTSTART:20250101T000000Z\nDTEND:20250101T000001Z\nRRULE:FREQ=SECONDLY"
)


def test_a_rule_repeating_every_second_is_cut_and_the_cut_is_said(tmp_path: Path) -> None:
    path = tmp_path / "c.ics"
    path.write_bytes(ics(TICK, event("ok", title="Fine")))
    cal = calendar(path)
    listed = cal.list_events(*WEEK)
    assert [e.title for e in listed] == ["Fine"]
    (note,) = listed.notes
    assert "'Tick' (UID tick) repeats every second" in note and "not listed" in note
    first_hour = cal.list_events(
        datetime(2025, 1, 1, tzinfo=UTC), datetime(2025, 1, 1, 1, tzinfo=UTC)
    )
    assert len(first_hour) == 2000  # at most this many of one series in one answer
    assert any("only its first 2000" in n for n in first_hour.notes)


def test_the_cut_also_holds_for_a_calendar_read_whole(tmp_path: Path) -> None:
    """CalDAV reads through IcalView directly: the same limits apply."""
    view = IcalView.parse(ics(TICK, event("ok")), BERLIN, None, source="x")
    listed = view.list_events(*WEEK)
    assert [e.id for e in listed] == ["ok"]
    assert "repeats every second" in listed.notes[0]


@pytest.mark.parametrize(
    ("bad", "reason"),
    [
        ("UID:bad\nSUMMARY:Bad\nDTSTART:notadate", "notadate"),
        ("UID:bad\nSUMMARY:Bad\nDTSTART:99991231T100000Z\nRRULE:FREQ=DAILY", "out of range"),
        ("UID:bad\nSUMMARY:Bad\nDTSTART;VALUE=DATE:99991231", "out of range"),
        ("UID:bad\nSUMMARY:Bad", "no DTSTART"),
        ("UID:bad\nSUMMARY:Bad\nDTSTART:2025\x00\x1b[31m0311", "\\x00\\x1b[31m"),
    ],
)
def test_one_bad_event_is_skipped_and_named_and_the_rest_served(
    tmp_path: Path, bad: str, reason: str
) -> None:
    path = tmp_path / "c.ics"
    path.write_bytes(ics(event("ok", title="Fine"), bad, event("ok2", title="Also fine")))
    listed = calendar(path).list_events(*WEEK)
    assert [e.title for e in listed] == ["Fine", "Also fine"]
    (note,) = listed.notes
    assert note.startswith("skipped event 'Bad' (UID bad)") and reason in note
    assert not any(ord(c) < 32 for c in note)


def test_binary_garbage_is_one_line_without_control_characters(tmp_path: Path) -> None:
    path = tmp_path / "c.ics"
    path.write_bytes(b"\x00\x1b[2J\x07\xff\xfe binary \r\n\x85 junk")
    with pytest.raises(Exception) as info:
        calendar(path).list_events(*WEEK)
    text = str(info.value)
    assert "\n" not in text and not any(ord(c) < 32 or 0x7F <= ord(c) < 0xA0 for c in text)
    assert str(path) in text


def test_a_symlinked_calendar_is_written_through_the_link(tmp_path: Path) -> None:
    real = tmp_path / "synced" / "calendar.ics"
    real.parent.mkdir()
    real.write_bytes(ics(event("a")))
    link = tmp_path / "dotfiles" / "calendar.ics"
    link.parent.mkdir()
    link.symlink_to(real)
    cal = calendar(link)
    start = datetime(2025, 3, 12, 9, tzinfo=BERLIN)
    cal.create_event(
        NewEvent(uid="n", title="New", start=start, end=start + timedelta(hours=1)), notify=False
    )
    assert link.is_symlink() and os.readlink(link) == str(real)
    assert b"SUMMARY:New" in real.read_bytes()
    assert titles(cal) == ["New", "a"]
    assert sorted(p.name for p in link.parent.iterdir()) == ["calendar.ics"]  # no lock, no temp


def test_temporary_files_a_killed_write_left_are_cleaned_up(tmp_path: Path) -> None:
    path = tmp_path / "calendar.ics"
    path.write_bytes(ics(event("a")))
    leftovers = [tmp_path / ".calendar.ics.0badf00d.tmp", tmp_path / ".calendar.ics.deadbeef.tmp"]
    unrelated = [tmp_path / ".calendar.ics.notours.tmp", tmp_path / ".other.ics.0badf00d.tmp"]
    for leftover in [*leftovers, *unrelated]:
        leftover.write_bytes(b"half a calendar")
    calendar(path).update_event("a", EventChanges(title="A"), notify=False)
    assert not any(p.exists() for p in leftovers)
    assert all(p.exists() for p in unrelated)


def test_a_question_past_the_horizon_expands_the_open_series(tmp_path: Path) -> None:
    path = tmp_path / "c.ics"
    path.write_bytes(
        ics(event("weekly", start="20250303T090000Z", more="RRULE:FREQ=WEEKLY;BYDAY=MO"))
    )
    cal = calendar(path)
    later = (datetime(2031, 6, 2, tzinfo=UTC), datetime(2031, 6, 9, tzinfo=UTC))
    (found,) = cal.list_events(*later)
    assert found.id == "weekly@20310602T090000Z"
    assert cal.get_event(found.id) == found


# -- a folder of .ics files (one per event) ----------------------------------------------------


def test_a_folder_calendar_reads_every_file_and_writes_one_per_event(tmp_path: Path) -> None:
    folder = tmp_path / "family"
    folder.mkdir()
    (folder / "a.ics").write_bytes(ics(event("a", title="Alpha")))
    (folder / "b.ics").write_bytes(ics(event("b", title="Beta")))
    secret = tmp_path / "secret.ics"
    secret.write_bytes(ics(event("s", title="Secret")))
    (folder / "link.ics").symlink_to(secret)  # a link out of the folder is not read
    cal = calendar(folder)
    assert titles(cal) == ["Alpha", "Beta"]
    start = datetime(2025, 3, 12, 9, tzinfo=BERLIN)
    cal.create_event(
        NewEvent(uid="n@x", title="New", start=start, end=start + timedelta(hours=1)), notify=False
    )
    assert (folder / "n@x.ics").exists()
    cal.update_event("a", EventChanges(title="Alpha 2"), notify=False)
    assert b"Alpha 2" in (folder / "a.ics").read_bytes()
    cal.cancel_event("b", notify=False)
    assert not (folder / "b.ics").exists()
    assert titles(cal) == ["Alpha 2", "New"]
    shutil.rmtree(folder)
    assert titles(cal) == []


def test_purge_all_deletes_the_calendar_index_and_it_is_rebuilt(tmp_path: Path) -> None:
    from morrow.memory.export import export

    path = tmp_path / "c.ics"
    path.write_bytes(ics(event("a", title="Secret meeting")))
    with Store.open(tmp_path / "m.sqlite") as store:
        cal = calendar(path, store)
        assert titles(cal) == ["Secret meeting"]
        assert export(store)["calendar_index"] == [{"path": str(path), "events": 1}]
        store.purge()
        assert store.rows("SELECT count(*) AS n FROM calendar_events")[0]["n"] == 0
        stored = b"".join(p.read_bytes() for p in tmp_path.glob("m.sqlite*") if p.is_file())
        assert b"Secret meeting" not in stored  # the bytes are gone from the file too
        assert titles(cal) == ["Secret meeting"]  # the index is read from the file again


def test_the_past_of_old_series_is_stored_when_a_question_first_reaches_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A big calendar's old series are indexed from last year on; their past on demand."""
    from morrow.tools.calendar import ics_units

    monkeypatch.setattr(ics_units, "EAGER", 0)  # as for ten years of weekly series
    weekly = event("weekly", start="20200106T090000Z", more="RRULE:FREQ=WEEKLY;BYDAY=MO")
    moved = "UID:weekly\nSUMMARY:moved\nRECURRENCE-ID:20210104T090000Z\nDTSTART:20210105T090000Z"
    path = tmp_path / "c.ics"
    path.write_bytes(ics(weekly, moved))
    with Store.open(tmp_path / "m.sqlite") as store:
        cal = calendar(path, store)
        assert len(cal.list_events(*WEEK)) == 1  # 2025: stored at once
        old = cal.index.tables.store.rows("SELECT count(*) AS n FROM calendar_events")[0]["n"]
    with Store.open(tmp_path / "m.sqlite") as store:
        again = calendar(path, store)
        span = (datetime(2021, 1, 4, tzinfo=UTC), datetime(2021, 1, 11, tzinfo=UTC))
        assert [e.title for e in again.list_events(*span)] == ["moved"]
        assert again.get_event("weekly@20200113T090000Z").start == datetime(
            2020, 1, 13, 9, tzinfo=UTC
        )
        stored = again.index.tables.store.rows("SELECT count(*) AS n FROM calendar_events")[0]
        assert stored["n"] > old and again.index.tables.below([1]) == {}  # stored once, for good


def test_with_the_past_deferred_the_index_still_lists_what_icalendar_reads(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from morrow.tools.calendar import ics_units

    monkeypatch.setattr(ics_units, "EAGER", 0)
    start, end = datetime(2000, 1, 1, tzinfo=UTC), datetime(2026, 1, 1, tzinfo=UTC)
    for path in sorted((DATA / "python-recurring-ical-events").glob("*.ics")):
        data = path.read_bytes()
        try:
            view = IcalView.parse(data, BERLIN, None, source=path.name)
        except Exception:
            continue
        cal = IcsCalendar(path, BERLIN, clock=lambda: NOW, store=Store.in_memory())
        assert _by_id(cal.index.list_events(start, end)) == _by_id(view.list_events(start, end)), (
            path.name
        )
