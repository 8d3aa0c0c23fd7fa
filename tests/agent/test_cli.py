"""The command line end to end: a real ``morrow`` process talking real HTTP to a scripted server."""

import json
import os
import subprocess
import sys
from datetime import date
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from support.cli import morrow, run
from support.fake_api import Call, Say, serve

from morrow.agent.cli import main
from morrow.tools.demo import build_demo_workspace

DAY = date(2026, 3, 4)  # a Wednesday
ZONE = "Europe/Berlin"
WINDOW = {"start": "2026-03-05T00:00:00+01:00", "end": "2026-03-06T00:00:00+01:00"}


@pytest.fixture
def home(tmp_path):
    root = tmp_path / "home"
    build_demo_workspace(root, today=DAY, timezone=ZoneInfo(ZONE))
    return root


def configure(home: Path, kind: str, url: str, *, stream: bool = True) -> None:
    base = url + "/v1" if kind == "openai" else url
    (home / "config.toml").write_text(
        f'[user]\ntimezone = "{ZONE}"\nemail = "alex@example.com"\n\n'
        f'[[providers]]\nname = "local"\nkind = "{kind}"\nmodel = "test-model"\n'
        f'base_url = "{base}"\n\n'
        f"[agent]\nstream = {'true' if stream else 'false'}\n"
    )


SCRIPT = [
    [Say("Let me check."), Call("list_events", WINDOW)],
    [Say("Tomorrow you have a 1:1 with Priya at 09:00.")],
]


@pytest.mark.parametrize("kind", ["openai", "anthropic"])
@pytest.mark.parametrize("stream", [True, False])
def test_ask_runs_the_tool_the_model_calls_and_prints_the_answer(home, kind, stream):
    with serve(SCRIPT) as server:
        configure(home, kind, server.url, stream=stream)
        # one combination as a real process (what cron runs), the others in-process: cheaper
        runner = morrow if (kind, stream) == ("openai", True) else run
        done = runner(home, "ask", "what is on my calendar tomorrow?")
    assert done.returncode == 0, done.stderr
    assert "1:1 with Priya at 09:00" in done.stdout
    assert len(server.api.requests) == 2
    first, second = server.api.requests
    assert bool(first.get("stream")) is stream
    names = {t["function"]["name"] if kind == "openai" else t["name"] for t in first["tools"]}
    assert {"list_events", "search_emails", "read_email"} <= names
    result = json.dumps(second["messages"][-1])
    assert "1:1 with Priya" in result  # the tool's real output was sent back


def test_ask_json(home):
    with serve(SCRIPT) as server:
        configure(home, "openai", server.url)
        done = morrow(home, "ask", "what is on my calendar tomorrow?", "--json")
    assert done.returncode == 0, done.stderr
    payload = json.loads(done.stdout)
    assert payload["answer"] == "Let me check.Tomorrow you have a 1:1 with Priya at 09:00." or (
        payload["answer"] == "Tomorrow you have a 1:1 with Priya at 09:00."
    )
    assert payload["tool_calls"] == [
        {"name": "list_events", "arguments": WINDOW, "is_error": False}
    ]
    assert payload["provider"] == "local" and payload["model"] == "test-model"
    assert payload["usage"]["input_tokens"] == 200


def test_two_tools_in_one_step_come_back_in_one_request(home):
    script = [
        [Call("list_events", WINDOW), Call("search_emails", {"unread": True, "limit": 3})],
        [Say("Done.")],
    ]
    with serve(script) as server:
        configure(home, "openai", server.url)
        done = morrow(home, "ask", "agenda and mail?")
    assert done.returncode == 0, done.stderr
    follow_up = server.api.requests[1]["messages"]
    tool_messages = [m for m in follow_up if m["role"] == "tool"]
    assert len(tool_messages) == 2
    assert len(server.api.requests) == 2


def test_unreachable_provider_exits_69(home, refused_url):
    (home / "config.toml").write_text(
        '[[providers]]\nname = "gone"\nkind = "openai"\nmodel = "m"\n'
        f'base_url = "{refused_url}/v1"\ntimeout_seconds = 5\nmax_attempts = 1\n'
    )
    done = morrow(home, "ask", "hello")
    assert done.returncode == 69, done.stderr
    assert done.stderr.startswith("morrow: gone:")
    assert "Traceback" not in done.stderr


def test_tools_list_and_call(home, capsys):
    assert main(["--home", str(home), "tools", "list", "--json"]) == 0
    listing = json.loads(capsys.readouterr().out)
    by_name = {t["name"]: t for t in listing}
    assert by_name["list_events"]["effect"] == "read"
    assert by_name["list_events"]["parameters"]["required"] == ["start", "end"]
    (home / "config.toml").write_text(f'[user]\ntimezone = "{ZONE}"\n')
    code = main(["--home", str(home), "tools", "call", "list_events", "--args", json.dumps(WINDOW)])
    events = json.loads(capsys.readouterr().out)
    assert code == 0
    assert any("Priya" in e["title"] for e in events)


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["tools", "call", "nope"], 2, "unknown tool 'nope'"),
        (["tools", "call", "list_events", "--args", "{"], 2, "--args is not valid JSON"),
        (
            ["tools", "call", "list_events", "--args", '{"start": "2026-03-05T00:00:00"}'],
            2,
            "invalid arguments",
        ),
    ],
)
def test_tools_call_errors(home, capsys, args, code, message):
    assert main(["--home", str(home), *args]) == code
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def test_help_lists_commands(capsys):
    with pytest.raises(SystemExit) as info:
        main(["--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    for command in ("chat", "ask", "brief", "tools", "doctor"):
        assert command in out


def test_doctor(home, capsys):
    (home / "config.toml").write_text(
        f'[user]\ntimezone = "{ZONE}"\n[[providers]]\nname = "p"\nkind = "anthropic"\n'
        'model = "m"\napi_key_env = "MORROW_TEST_KEY"\n'
    )
    code = main(["--home", str(home), "doctor"])
    out = capsys.readouterr().out
    assert code == 1
    assert "MISSING key: $MORROW_TEST_KEY is not set" in out
    assert "calendar: ics" in out and "email:    maildir" in out


def test_doctor_never_prints_the_password_of_a_base_url(home, capsys):
    (home / "config.toml").write_text(
        f'[user]\ntimezone = "{ZONE}"\n[[providers]]\nname = "p"\nkind = "openai"\n'
        'model = "m"\nbase_url = "http://alex:hunter2-basic@127.0.0.1:9/v1"\n'
    )
    main(["--home", str(home), "doctor"])
    out = capsys.readouterr().out
    assert "hunter2-basic" not in out and "alex:" not in out
    assert "http://[redacted]@127.0.0.1:9/v1" in out  # where it points, without the user info


def test_logs_are_json_lines_without_secrets(home, monkeypatch):
    monkeypatch.setenv("MORROW_CANARY_API_KEY", "sk-canary-0123456789abcdef")
    with serve(SCRIPT) as server:
        configure(home, "openai", server.url)
        (home / "config.toml").write_text(
            (home / "config.toml")
            .read_text()
            .replace("base_url", 'api_key_env = "MORROW_CANARY_API_KEY"\nbase_url')
        )
        env_home = home
        done = subprocess.run(
            [sys.executable, "-m", "morrow.agent.cli", "--log-level", "info", "ask", "hi"],
            capture_output=True,
            stdin=subprocess.DEVNULL,
            text=True,
            timeout=60,
            check=False,
            env={**os.environ, "MORROW_HOME": str(env_home)},
        )
    assert done.returncode == 0, done.stderr
    lines = (home / "logs" / "morrow.jsonl").read_text().splitlines()
    events = [json.loads(line) for line in lines]
    steps = [e for e in events if e["event"] == "model_step"]
    assert steps and all(
        {"run_id", "step", "provider", "model", "latency_ms", "input_tokens"} <= e.keys()
        for e in steps
    )
    everything = "\n".join(lines) + done.stderr + done.stdout
    assert "sk-canary-0123456789abcdef" not in everything
    assert "1:1 with Priya" not in "\n".join(lines)  # no tool output or answer at info level
