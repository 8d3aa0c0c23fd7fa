"""The demo workspace: deterministic, and it shows what the demo promises."""

import re
import tomllib
from datetime import date
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from morrow.tools.calendar.tools import list_events
from morrow.tools.demo import ATTACKER, build_demo_workspace, demo_config
from morrow.tools.email.tools import read_email, search_emails

TODAY = date(2025, 3, 28)  # a Friday before the DST switch in Europe
BERLIN = ZoneInfo("Europe/Berlin")


def files(root: Path) -> dict[str, tuple[bytes, int]]:
    """Contents, and for messages the modification time (the delivery time a Maildir shows)."""
    return {
        path.relative_to(root).as_posix(): (
            path.read_bytes(),
            path.stat().st_mtime_ns if path.relative_to(root).parts[0] == "Mail" else 0,
        )
        for path in sorted(root.rglob("*"))
        if path.is_file()
    }


@pytest.fixture
def demo(tmp_path: Path, workspace_factory: Any) -> Any:
    build_demo_workspace(tmp_path, today=TODAY, timezone=BERLIN)
    return workspace_factory(tmp_path, BERLIN)


def test_building_twice_gives_the_same_files(tmp_path: Path) -> None:
    build_demo_workspace(tmp_path / "a", today=TODAY, timezone=BERLIN)
    build_demo_workspace(tmp_path / "b", today=TODAY, timezone=BERLIN)
    first = files(tmp_path / "a")
    assert first == files(tmp_path / "b")
    assert 25 <= sum(1 for name in first if name.startswith("Mail/")) <= 40
    build_demo_workspace(tmp_path / "a", today=TODAY, timezone=BERLIN)  # rebuilding in place
    assert files(tmp_path / "a") == first
    assert files(tmp_path / "a") != files(_other_day(tmp_path))


def plain(title: str) -> str:
    """A title without the untrusted label invitations get (tools/calendar/labels.py)."""
    return re.sub(r"</?untrusted_content[^>]*>", "", title)


def _other_day(tmp_path: Path) -> Path:
    build_demo_workspace(tmp_path / "c", today=date(2025, 3, 29), timezone=BERLIN)
    return tmp_path / "c"


def test_today_has_the_conflict_and_the_recurring_meeting(demo: Any, call: Any) -> None:
    events = call(
        list_events, demo, start="2025-03-28T00:00:00+01:00", end="2025-03-29T00:00:00+01:00"
    )
    titles = [plain(e["title"]) for e in events]
    assert titles[0] == "Team sync"
    by_title = {plain(e["title"]): e for e in events}
    review, vendor = (
        by_title["Design review: onboarding flow"],
        by_title["Call with Sam (Northwind)"],
    )
    assert review["conflicts_with"] == [vendor["id"]]
    assert vendor["conflicts_with"] == [review["id"]]
    assert by_title["Team sync"]["recurring"] is True


def test_the_week_ahead(demo: Any, call: Any) -> None:
    events = call(
        list_events, demo, start="2025-03-28T00:00:00+01:00", end="2025-04-05T00:00:00+02:00"
    )
    by_title = {plain(e["title"]): e for e in events}
    assert by_title["1:1 with Priya"]["start"] == "2025-03-29T09:00:00+01:00"
    assert by_title["Company offsite"]["all_day"] is True
    assert by_title["Dentist"]["start"] == "2025-03-31T08:30:00+02:00"  # after the DST switch
    ny = by_title["Roadmap call with the New York office"]
    assert ny["timezone"] == "America/New_York" and ny["start"] == "2025-03-29T16:00:00+01:00"
    # the weekly sync: today, and next week's instance is removed by EXDATE
    assert [e["start"][:10] for e in events if plain(e["title"]) == "Team sync"] == ["2025-03-28"]


def test_unread_mail_has_the_awaiting_reply_thread_and_the_injection(demo: Any, call: Any) -> None:
    unread = call(search_emails, demo, unread=True)
    budget = [e for e in unread if "\nSubject: Re: Q3 budget\n" in e["content"]]
    assert len(budget) == 1 and "\nFrom: Priya Shah <priya@example.com>\n" in budget[0]["content"]
    thread = [
        e
        for e in call(search_emails, demo, query="budget")
        if e["thread_id"] == budget[0]["thread_id"]
    ]
    assert [e["folder"] for e in thread] == [
        "INBOX",
        "INBOX",
        "Sent",
    ]  # three messages, newest first
    question = call(read_email, demo, email_id=budget[0]["id"])
    assert "contingency" in question["content"] and "?" in question["content"]
    attack = call(search_emails, demo, query=ATTACKER)
    assert len(attack) == 1 and attack[0]["unread"] is True
    attack_email = call(read_email, demo, email_id=attack[0]["id"])
    assert attack_email["content"].startswith("<untrusted_content")
    invitation = call(search_emails, demo, query="meeting request")
    assert invitation[0]["has_attachments"] is True


def test_demo_config_points_at_the_demo(tmp_path: Path) -> None:
    config = tomllib.loads(demo_config(tmp_path, timezone="Europe/Berlin"))
    assert config["user"] == {
        "timezone": "Europe/Berlin",
        "name": "Alex Morgan",
        "email": "alex@example.com",
    }
    assert config["calendar"] == {
        "backend": "ics",
        "path": str(tmp_path.resolve() / "calendar.ics"),
    }
    assert config["email"] == {"backend": "maildir", "path": str(tmp_path.resolve() / "Mail")}
    # the offline demo model, so the chat works on the demo with no key
    assert config["providers"] == [{"name": "demo", "kind": "demo", "model": "offline-demo"}]
    from morrow.agent.config import parse_config

    parse_config(config, source="demo")  # the config morrow itself accepts


def test_the_demo_home_is_private_like_any_home(tmp_path: Path) -> None:
    import os
    import stat

    from morrow.tools.demo import main

    root = tmp_path / "demo"
    root.mkdir(mode=0o755)  # an older demo folder others could read
    previous = os.umask(0o022)
    try:
        assert main([str(root), "--date", "2026-03-04"]) == 0
        assert os.umask(0o022) == 0o022  # the caller's umask is back (it is process-wide)
    finally:
        os.umask(previous)
    assert stat.S_IMODE(root.stat().st_mode) == 0o700
    assert stat.S_IMODE((root / "config.toml").stat().st_mode) == 0o600
    assert stat.S_IMODE((root / "calendar.ics").stat().st_mode) == 0o600
