"""``morrow ask`` like ``llm``, and honest about what it did not do (issue 16 items 2 and 8)."""

from __future__ import annotations

import json
import sys
from datetime import date
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from rich.console import Console
from support.screen import shown

from morrow.agent.app import App
from morrow.agent.chat.view import LiveView
from morrow.agent.cli import main
from morrow.agent.commands import ask as ask_module
from morrow.agent.providers.scripted import ScriptedProvider, call, calls, text
from morrow.tools.demo import build_demo_workspace

DAY = date(2026, 3, 4)
ZONE = "Europe/Berlin"
START, END = "2026-03-05T10:00:00+01:00", "2026-03-05T10:30:00+01:00"
CONFIG = (
    f'[user]\ntimezone = "{ZONE}"\nemail = "alex@example.com"\n'
    '[[providers]]\nname = "first"\nkind = "openai"\nmodel = "model-one"\n'
    'base_url = "http://127.0.0.1:9/v1"\n'
    '[[providers]]\nname = "second"\nkind = "anthropic"\nmodel = "model-two"\n'
    'base_url = "http://127.0.0.1:9"\n'
)


@pytest.fixture
def home(tmp_path: Path) -> Path:
    root = tmp_path / "home"
    build_demo_workspace(root, today=DAY, timezone=ZoneInfo(ZONE))
    (root / "config.toml").write_text(CONFIG)
    return root


@pytest.fixture
def model(monkeypatch):
    """The scripted model every ``App.provider`` call returns; ``asked`` keeps the names."""
    provider = ScriptedProvider([])
    provider.asked = []  # type: ignore[attr-defined]

    def build(self, name=None, **_):
        provider.asked.append((name, [p.model for p in self.config.providers]))
        return provider

    monkeypatch.setattr(App, "provider", build)
    return provider


def script(model: ScriptedProvider, *replies) -> None:
    model._script.extend(replies)


def test_a_refused_effect_is_on_stderr_in_json_and_exit_3(home, model, capsys):
    create = call("create_event", title="Haircut", start=START, end=END)
    script(model, calls(create), text("Booked!"))
    assert main(["--home", str(home), "ask", "book a haircut tomorrow at 10"]) == 3
    out, err = capsys.readouterr()
    assert "Booked!" in out  # what the model said is shown ...
    (line,) = err.splitlines()  # ... and what really happened, on one line
    assert line.startswith("morrow: not done: create_event title=Haircut start=2026-03-05")
    why = "(needs approval: run it in `morrow chat`, or allow it with [approvals] mode)"
    assert line.endswith(why)
    assert "Haircut" not in (home / "calendar.ics").read_text()

    script(model, calls(create), text("Booked!"))
    assert main(["--home", str(home), "ask", "book it", "--json"]) == 3
    out, err = capsys.readouterr()
    payload = json.loads(out)
    (refused,) = payload["not_done"]
    assert refused["tool"] == "create_event" and refused["effect"] == "write"
    assert refused["arguments"]["title"] == "Haircut" and "needs approval" in refused["reason"]
    assert "morrow: not done: create_event" in err


def test_a_failed_effect_counts_too_and_reads_do_not(home, model, capsys):
    (home / "config.toml").write_text(CONFIG + '[approvals]\nmode = "allow"\n')
    script(
        model,
        calls(call("list_events", start=START, end=END)),
        calls(call("archive_email", email_id="INBOX/none")),
        text("Archived."),
    )
    assert main(["--home", str(home), "ask", "archive that mail"]) == 3
    err = capsys.readouterr().err
    (line,) = err.splitlines()
    assert line.startswith("morrow: not done: archive_email email_id=INBOX/none (failed: ")


def test_an_answer_without_effects_exits_0(home, model, capsys):
    script(model, calls(call("list_events", start=START, end=END)), text("Free all day."))
    assert main(["--home", str(home), "ask", "tomorrow?"]) == 0
    out, err = capsys.readouterr()
    assert out == "Free all day.\n" and err == ""


def stdin_from(monkeypatch, request, tmp_path: Path, data: bytes) -> None:
    piped = tmp_path / f"stdin{len(data)}"
    piped.write_bytes(data)
    handle = piped.open("r", encoding="utf-8")
    request.addfinalizer(handle.close)
    monkeypatch.setattr(sys, "stdin", handle)


def test_piped_text_goes_below_the_question_and_dash_reads_it_alone(
    home, model, capsys, monkeypatch, tmp_path, request
):
    script(model, text("A summary."), text("An answer."))
    stdin_from(monkeypatch, request, tmp_path, b"line one\nline two\n")
    assert main(["--home", str(home), "ask", "summarize"]) == 0
    assert model.requests[0].messages[-1].text == "summarize\n\nline one\nline two\n"
    stdin_from(monkeypatch, request, tmp_path, "what is on? \u2603".encode())
    assert main(["--home", str(home), "ask", "-"]) == 0
    assert model.requests[1].messages[-1].text == "what is on? \u2603"
    assert capsys.readouterr().out == "A summary.\nAn answer.\n"


def test_model_picks_a_provider_by_name_or_model_or_changes_the_model(home, model, capsys):
    script(model, text("a"), text("b"), text("c"), text("d"))
    for flag in (["-m", "second"], ["--model", "model-two"], ["-m", "model-x"]):
        assert main(["--home", str(home), "ask", "hi", *flag]) == 0
    assert main(["--home", str(home), "ask", "hi", "--provider", "second", "-m", "model-y"]) == 0
    assert model.asked == [
        ("second", ["model-one", "model-two"]),
        ("second", ["model-one", "model-two"]),
        ("first", ["model-x", "model-two"]),  # another model of the first provider
        ("second", ["model-one", "model-y"]),
    ]


def test_a_question_without_ask(home, model, capsys):
    script(model, text("Nothing."))
    assert main(["--home", str(home), "what is on today?"]) == 0
    assert capsys.readouterr().out == "Nothing.\n"
    assert model.requests[0].messages[-1].text == "what is on today?"


def test_on_a_terminal_the_answer_is_rendered_markdown(monkeypatch):
    out = __import__("io").StringIO()
    console = Console(file=out, force_terminal=True, width=60, color_system=None)
    terminal = ask_module._Terminal(LiveView(console))
    terminal.step_started(1)
    for word in ("You have **two** meetings:\n\n", "- 09:00 1:1\n", "- 14:00 review\n"):
        terminal.text(word)
    terminal.view.pause()
    screen = shown(out.getvalue(), columns=60)
    assert "You have two meetings:" in screen and "**" not in screen
    assert "• 09:00 1:1" in screen and "• 14:00 review" in screen
