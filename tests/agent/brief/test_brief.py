import fcntl
import json
from datetime import date
from zoneinfo import ZoneInfo

import pytest

from morrow.agent.app import App
from morrow.agent.cli import main
from morrow.agent.providers.scripted import ScriptedProvider, call, calls, text
from morrow.tools.catalog import all_tools
from morrow.tools.demo import build_demo_workspace

DAY = date(2026, 3, 4)
ZONE = "Europe/Berlin"


@pytest.fixture
def home(tmp_path):
    root = tmp_path / "home"
    build_demo_workspace(root, today=DAY, timezone=ZoneInfo(ZONE))
    (root / "config.toml").write_text(f'[user]\ntimezone = "{ZONE}"\nemail = "alex@example.com"\n')
    return root


def brief(home, *args):
    return main(["--home", str(home), "brief", "--date", DAY.isoformat(), *args])


def test_offline_digest_names_events_conflict_and_waiting_thread(home, capsys):
    assert brief(home) == 0
    out = capsys.readouterr().out
    assert "Offline digest" in out and "No provider is configured" in out
    assert "Team sync" in out
    assert "## Conflicts" in out
    assert "Q3 budget" in out  # the thread whose last message asks the user something
    assert "asks you something" in out
    assert "1:1 with Priya" in out  # tomorrow's first commitment


def test_second_run_same_day_is_done_and_force_runs_again(home, capsys):
    assert brief(home) == 0
    capsys.readouterr()
    assert brief(home) == 0
    assert "already done" in capsys.readouterr().out
    assert brief(home, "--force") == 0
    assert "Briefing for" in capsys.readouterr().out


def test_concurrent_run_exits_75(home, capsys):
    lock = home / "state" / "brief" / "brief.lock"
    lock.parent.mkdir(parents=True)
    with lock.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        assert brief(home) == 75
    assert "another briefing is running" in capsys.readouterr().err


def test_json_format_and_out_file(home, capsys, tmp_path):
    out = tmp_path / "brief.json"
    assert brief(home, "--format", "json", "--out", str(out)) == 0
    payload = json.loads(out.read_text())
    assert payload["date"] == DAY.isoformat()
    assert payload["source"] == "digest"
    assert payload["conflicts"]
    assert (home / "briefings" / f"{DAY.isoformat()}.json").exists()


def test_text_format_has_no_markdown_headings(home, capsys):
    assert brief(home, "--format", "text") == 0
    assert "\n#" not in capsys.readouterr().out


def test_model_writes_the_briefing_with_read_tools_only(home, capsys, monkeypatch):
    provider = ScriptedProvider(
        [
            calls(call("search_emails", unread=True)),
            text("## Your day\nBusy, with a clash at 14:00."),
        ]
    )
    (home / "config.toml").write_text(
        f'[user]\ntimezone = "{ZONE}"\n[[providers]]\nname = "p"\nkind = "openai"\n'
        'model = "m"\nbase_url = "http://127.0.0.1:9/v1"\n'
    )
    monkeypatch.setattr(App, "provider", lambda self, name=None: provider)
    assert brief(home) == 0
    out = capsys.readouterr().out
    assert "Busy, with a clash at 14:00." in out
    assert "Offline digest" not in out
    offered = {t.name for t in provider.requests[0].tools}
    reads = {t.name for t in all_tools() if t.effect == "read"}
    assert offered == reads
    assert {"list_events", "search_emails", "read_email"} <= offered
    assert not offered & {"send_email", "create_event", "draft_email", "cancel_event"}
    request = provider.requests[0].messages[0]
    (data,) = request.data  # the gathered data rides beside the instruction, not as its words
    assert data.source == "briefing-data" and "untrusted_content" in data.text
    assert "untrusted_content" not in request.text and request.user_words == request.text
    provider.assert_done()


def test_unreachable_provider_falls_back_to_digest_exit_0(home, capsys, refused_url):
    (home / "config.toml").write_text(
        f'[user]\ntimezone = "{ZONE}"\n[[providers]]\nname = "down"\nkind = "openai"\n'
        f'model = "m"\nbase_url = "{refused_url}/v1"\ntimeout_seconds = 5\nmax_attempts = 1\n'
    )
    assert brief(home) == 0
    out = capsys.readouterr().out
    assert "Offline digest" in out and "The model could not be used: down:" in out


def test_bad_date_is_a_usage_error(home, capsys):
    assert main(["--home", str(home), "brief", "--date", "tomorrow"]) == 2


# -- cron with a broken environment, and every format on every path (issue 16 items 3, 4) ----


def test_cron_without_its_environment_is_78_not_an_empty_day(tmp_path):
    import os
    import subprocess
    import sys

    bare = tmp_path / "bare"
    bare.mkdir()
    done = subprocess.run(  # env -i HOME="$(mktemp -d)" morrow brief
        [sys.executable, "-m", "morrow.agent.cli", "brief"],
        env={"HOME": str(bare), "PATH": os.environ["PATH"]},
        capture_output=True,
        stdin=subprocess.DEVNULL,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 78, done.stderr
    (line,) = done.stderr.splitlines()
    assert line.startswith("morrow: nothing to brief from: calendar: ") and "touch " in line
    assert "email: " in line and "mkdir -p " in line
    assert done.stdout == ""
    assert not list(bare.rglob("*.done")) and not list(bare.rglob("briefings"))


def test_a_key_not_set_prints_the_digest_exits_78_and_leaves_the_day_open(home, capsys):
    (home / "config.toml").write_text(
        f'[user]\ntimezone = "{ZONE}"\n[[providers]]\nname = "p"\nkind = "anthropic"\n'
        'model = "m"\napi_key_env = "MORROW_UNSET_KEY"\n'
    )
    assert brief(home) == 78
    out, err = capsys.readouterr()
    assert "Offline digest" in out and "MORROW_UNSET_KEY is not set" in out
    assert err.count("\n") == 1 and "MORROW_UNSET_KEY" in err
    assert brief(home) == 78  # not "already done": the next run tries the model again
    assert "already done" not in capsys.readouterr().out


def test_json_is_honoured_when_done_and_on_failure(home, capsys):
    assert brief(home, "--format", "json") == 0
    first = json.loads(capsys.readouterr().out)
    assert brief(home, "--format", "json") == 0
    again = json.loads(capsys.readouterr().out)
    assert again.pop("already_done") is True
    assert again == first  # the saved briefing, as JSON
    (home / "calendar.ics").unlink()
    assert brief(home, "--format", "json", "--force") == 78
    out, err = capsys.readouterr()
    failed = json.loads(out)
    assert failed["exit_code"] == 78 and "calendar: " in failed["error"]
    assert err.count("\n") == 1


def test_a_calendar_that_cannot_be_read_is_one_line_not_an_empty_day(home, capsys):
    (home / "calendar.ics").write_text("BEGIN:VCALENDAR\nthis is not iCalendar\n")
    assert brief(home) == 69
    err = capsys.readouterr().err
    assert err.startswith("morrow: cannot read the calendar or the mailbox: ")
    assert not list((home / "state" / "brief").glob("*.done"))


def test_doctor_names_a_missing_calendar_and_maildir_and_how_to_make_them(tmp_path, capsys):
    bare = tmp_path / "bare"
    bare.mkdir(mode=0o700)
    assert main(["--home", str(bare), "doctor", "--offline"]) == 1
    out = capsys.readouterr().out
    assert f"calendar: ics, MISSING: {bare / 'calendar.ics'} does not exist" in out
    assert f"touch {bare / 'calendar.ics'}" in out
    assert f"email:    maildir, MISSING: {bare / 'Mail'} is not a Maildir" in out
    assert "0 events" not in out and "0 unread" not in out
