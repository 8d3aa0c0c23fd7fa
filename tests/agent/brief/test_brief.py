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


def test_unreachable_provider_falls_back_to_digest_exit_0(home, capsys):
    (home / "config.toml").write_text(
        f'[user]\ntimezone = "{ZONE}"\n[[providers]]\nname = "down"\nkind = "openai"\n'
        'model = "m"\nbase_url = "http://127.0.0.1:9/v1"\ntimeout_seconds = 5\n'
    )
    assert brief(home) == 0
    out = capsys.readouterr().out
    assert "Offline digest" in out and "The model could not be used: down:" in out


def test_bad_date_is_a_usage_error(home, capsys):
    assert main(["--home", str(home), "brief", "--date", "tomorrow"]) == 2
