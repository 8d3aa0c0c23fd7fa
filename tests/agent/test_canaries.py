"""Secrets never reach logs, trajectories or error output; bodies never reach info logs.

Every test runs with canary keys and tokens in its environment (tests/conftest.py), and the
session fails if any log or trajectory written under pytest's temporary folder holds one. These
tests push canaries down the paths most likely to leak them.
"""

import asyncio
import json
import stat
from pathlib import Path

from support import canaries
from support.safety_world import CONTACT, build

from morrow.agent import logs
from morrow.agent.cli import main
from morrow.agent.loop import run_turn
from morrow.agent.messages import Message
from morrow.agent.providers.scripted import ScriptedProvider, call, calls, text
from morrow.agent.safety.gate import ApprovalGate
from morrow.evals.trajectory import load_trajectory
from morrow.tools.base import ToolRegistry
from morrow.tools.catalog import all_tools
from morrow.tools.google_auth import write_token

CORE = Path(__file__).parents[2] / "evals" / "suites" / "core" / "trajectories"


def test_canaries_are_in_the_environment_of_every_test():
    import os

    assert os.environ["MORROW_CANARY_API_KEY"] == canaries.API_KEY


def test_error_output_is_scrubbed(tmp_path, capsys, monkeypatch):
    build(tmp_path)
    (tmp_path / "config.toml").write_text(
        '[user]\ntimezone = "Europe/Berlin"\n[calendar]\nbackend = "ics"\npath = "calendar.ics"\n'
        '[email]\nbackend = "maildir"\npath = "Mail"\n'
    )
    monkeypatch.setenv("MORROW_HOME", str(tmp_path))
    for secret in canaries.SECRETS:  # an id that happens to be a secret is echoed in the error
        args = json.dumps({"email_id": f"INBOX/{secret}"})
        assert main(["tools", "call", "read_email", "--args", args]) != 0
        err = capsys.readouterr().err
        assert "[redacted]" in err and secret not in err
    assert canaries.leaks(tmp_path) == []


def test_trajectories_are_scrubbed(tmp_path):
    trajectory = load_trajectory(CORE / "agenda-today.json")
    turn = trajectory.turns[0]
    turn.answer = f"token {canaries.REFRESH_TOKEN} and key {canaries.API_KEY}"
    target = tmp_path / "leaky.json"
    trajectory.save(target)
    saved = target.read_text()
    assert canaries.REFRESH_TOKEN not in saved and canaries.API_KEY not in saved
    assert "token [redacted] and key [redacted]" in saved
    assert canaries.leaks(tmp_path) == []


def test_message_bodies_are_not_logged_at_info(tmp_path):
    world = build(tmp_path / "w")
    tools = ToolRegistry(all_tools())
    provider = ScriptedProvider(
        [
            calls(call("search_emails", query="lunch")),
            calls(
                call("send_email", to=[CONTACT], subject="Re", body=f"Yes {canaries.BODY_MARKER}")
            ),
            text(f"Sent: {canaries.BODY_MARKER}"),
        ]
    )
    logs.configure(level="critical", file_level="debug", log_dir=tmp_path / "logs")
    try:
        asyncio.run(
            run_turn(
                [],
                f"reply to Sam: yes {canaries.BODY_MARKER}",
                provider=provider,
                tools=tools,
                tool_context=world,
                gate=ApprovalGate(mode="allow"),
                system="s",
                stream=False,
            )
        )
    finally:
        logs.close()
    written = (tmp_path / "logs" / "morrow.jsonl").read_text()
    assert "tool_call" in written and canaries.BODY_MARKER not in written
    assert canaries.leaks(tmp_path) == []


def test_token_files_are_private(tmp_path):
    token = tmp_path / "google-token.json"
    write_token(token, json.dumps({"refresh_token": canaries.REFRESH_TOKEN}))
    assert stat.S_IMODE(token.stat().st_mode) == 0o600


def test_the_finish_check_finds_a_leak(tmp_path):
    (tmp_path / "logs").mkdir()
    (tmp_path / "logs" / "x.jsonl").write_text(json.dumps({"body": canaries.BODY_MARKER}))
    leaky = Message.user(canaries.API_KEY).model_dump_json()
    (tmp_path / "t.json").write_text('{"format": "morrow.trajectory", "m": ' + leaky + "}")
    found = canaries.leaks(tmp_path)
    assert len(found) == 2
    for path in (tmp_path / "logs" / "x.jsonl", tmp_path / "t.json"):
        path.unlink()  # the session-wide check must not fail on this test's own plants
