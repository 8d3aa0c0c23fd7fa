"""Fuzzing the command line with hostile .ics and .eml files (issue 15, "Done means").

Whatever a calendar file or a mail message holds, ``morrow tools call`` answers with JSON
(exit 0) or with one line on stderr and exit 1 (the job failed): never a traceback, never an
internal error, never a control character from the file on the user's terminal. A write that
is refused leaves the file as it was.
"""

import contextlib
import io
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from morrow.agent.cli import main

DATA = Path(__file__).parents[1] / "data"
CALENDARS = sorted(
    p.read_bytes() for p in (DATA / "calendar").rglob("*.ics") if p.stat().st_size < 20_000
)[:40]
MESSAGES = sorted(
    p.read_bytes() for p in (DATA / "email").rglob("*") if p.suffix in (".eml", ".txt")
)[:60]
FUZZ = settings(
    max_examples=20, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck)
)
WEEK = '{"start": "2025-03-10T00:00:00+01:00", "end": "2025-03-17T00:00:00+01:00"}'
ICS_PIECES = [
    b"DTSTART:notadate\r\n",
    b"DTSTART:99991231T235959Z\r\n",
    b"DTSTART;VALUE=DATE:00010101\r\n",
    b"RRULE:FREQ=SECONDLY\r\n",
    b"RRULE:FREQ=MINUTELY;BYSECOND=0,1,2,3\r\n",
    b"RRULE:FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=30\r\n",
    b"EXDATE:garbage\r\n",
    b"END:VEVENT\r\n",
    b"BEGIN:VEVENT\r\n",
    b"END:VCALENDAR\r\n",
    b"BEGIN:VCALENDAR\r\n",
    b"RECURRENCE-ID;RANGE=THISANDFUTURE:20250311T100000Z\r\n",
    b"DTSTART;TZID=Nowhere/Land:20250311T100000\r\n",
    b"X-WR-TIMEZONE:Not/AZone\r\n",
    b"\x00\x1b[2J\x07\xff\xfe\r\n",
    b"\r\n ",
    b"SUMMARY:\xe2\x80\xae\x1b]0;owned\x07\r\n",
]


@contextlib.contextmanager
def home() -> Iterator[Path]:
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        (root / "config.toml").write_text('[user]\ntimezone = "Europe/Berlin"\n')
        for sub in ("cur", "new", "tmp"):
            (root / "Mail" / sub).mkdir(parents=True)
        yield root


@pytest.fixture(scope="module")
def shared() -> Iterator[Path]:
    """One home for every example (its store opened once); each example writes its files."""
    with home() as root:
        yield root


def morrow(root: Path, *argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(["--home", str(root), *argv])
    return code, out.getvalue(), err.getvalue()


def assert_one_clean_line(code: int, out: str, err: str) -> None:
    assert code in (0, 1), (code, err)
    if code == 0:
        json.loads(out)
        return
    if err.startswith("morrow: approved (--approve):"):  # the action approved, then the error
        err = err.splitlines(keepends=True)[-1]
    assert err.count("\n") == 1 and err.startswith("morrow: "), err
    assert "internal error" not in err and "Traceback" not in err, err
    assert not any((ord(c) < 32 and c != "\n") or 0x7F <= ord(c) < 0xA0 for c in err), err


@st.composite
def mutated(draw: st.DrawFn, sources: list[bytes], pieces: list[bytes]) -> bytes:
    data = bytearray(draw(st.sampled_from(sources)))
    for _ in range(draw(st.integers(1, 6))):
        at = draw(st.integers(0, max(len(data) - 1, 0)))
        action = draw(st.sampled_from(["insert", "flip", "cut", "drop", "dup"]))
        if action == "insert":
            data[at:at] = draw(st.sampled_from(pieces))
        elif action == "flip" and data:
            data[at] = draw(st.integers(0, 255))
        elif action == "cut":
            del data[at:]
        elif action == "drop":
            del data[at : at + draw(st.integers(1, 120))]
        else:
            data[at:at] = data[at : at + draw(st.integers(1, 300))]
    return bytes(data)


calendars = st.one_of(st.binary(max_size=400), mutated(CALENDARS, ICS_PIECES))


@FUZZ
@given(data=calendars)
def test_any_calendar_file(shared: Path, data: bytes) -> None:
    (shared / "calendar.ics").write_bytes(data)
    assert_one_clean_line(*morrow(shared, "tools", "call", "list_events", "--args", WEEK))
    new = '{"title": "T", "start": "2025-03-11T09:00:00+01:00", "end": "2025-03-11T10:00:00+01:00"}'
    code, out, err = morrow(shared, "tools", "call", "create_event", "--approve", "--args", new)
    assert_one_clean_line(code, out, err)
    if code != 0:
        assert (shared / "calendar.ics").read_bytes() == data  # refused: nothing written
    else:
        listed = morrow(shared, "tools", "call", "list_events", "--args", WEEK)
        assert_one_clean_line(*listed)
        assert '"title": "T"' in listed[1]


@FUZZ
@given(data=st.one_of(st.binary(max_size=400), mutated(MESSAGES, [b"\r\n--", b"\x00\x1b[2J"])))
def test_any_mail_message(shared: Path, data: bytes) -> None:
    message = shared / "Mail" / "cur" / "1:2,S"
    message.unlink(missing_ok=True)  # a new file (a new inode): the index sees a new message
    message.write_bytes(data)
    code, out, err = morrow(shared, "tools", "call", "search_emails", "--args", "{}")
    assert_one_clean_line(code, out, err)
    assert code == 0 and len(json.loads(out)) == 1
    read = morrow(shared, "tools", "call", "read_email", "--args", '{"email_id": "INBOX/1"}')
    assert_one_clean_line(*read)


def test_a_huge_search_is_one_line_at_once(tmp_path: Path) -> None:
    with home() as root:
        args = json.dumps({"query": "x" * 5_000_000})
        code, out, err = morrow(root, "tools", "call", "search_emails", "--args", args)
        assert code == 1 and "5,000,000 characters" in err
        assert_one_clean_line(code, out, err)


@pytest.mark.parametrize(
    "command", [["brief", "--force", "--date", "2025-03-11"], ["doctor", "--offline"]]
)
def test_a_hostile_calendar_and_mailbox_do_not_stop_brief_or_doctor(command: list[str]) -> None:
    hostile = (DATA / "calendar" / "icalendar" / "calendars").glob("*.ics")
    with home() as root:
        tick = (
            b"BEGIN:VEVENT\r\nUID:tick\r\nDTSTART:20250101T000000Z\r\nRRULE:FREQ=SECONDLY\r\n"
            b"END:VEVENT\r\n"
        )
        bad = (
            b"BEGIN:VEVENT\r\nUID:bad\r\nSUMMARY:\x1b[31mBad\r\nDTSTART:notadate\r\nEND:VEVENT\r\n"
        )
        text = b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\n" + tick + bad + b"END:VCALENDAR\r\n"
        (root / "calendar.ics").write_bytes(text)
        for index, path in enumerate(sorted(hostile)[:5]):
            (root / "Mail" / "cur" / f"{index}:2,S").write_bytes(path.read_bytes())
        os.symlink("/etc/hostname", root / "Mail" / "cur" / "link:2,S")
        code, out, err = morrow(root, *command)
        assert "Traceback" not in err and "internal error" not in err
        assert code in (0, 1)
        assert "repeats every second" in out and "skipped event" in out
        assert "\x1b" not in out
