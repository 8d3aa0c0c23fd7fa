"""What a killed run left open, as the user meets it: ``ask`` and ``chat`` tell it once on start,
``doctor`` lists it until it is settled, and a resumed chat shows the turns that were saved."""

from __future__ import annotations

import asyncio
import io
from pathlib import Path

import pytest
from prompt_toolkit.input import create_pipe_input
from prompt_toolkit.output import DummyOutput
from support.processes import dead_pid
from support.turns import ask, make_app

from morrow.agent.app import App
from morrow.agent.chat.repl import chat
from morrow.agent.cli import main
from morrow.agent.context.sessions import Session
from morrow.agent.providers.scripted import ScriptedProvider, text
from morrow.memory.journal import Intent, Journal

CONFIG = {"user": {"timezone": "Europe/Berlin", "email": "alex@example.com"}}
SUMMARY = "send_email to=sam@northwind.example subject='Dentist'"


def killed_in_session(
    home: Path, session: str, tool: str = "send_email", summary: str = SUMMARY
) -> None:
    """The journal as a run killed in the middle of ``tool`` leaves it (its key never found).

    A mail not in Sent may still have gone out (unknown); an event not on the calendar was
    never created (settled as not done).
    """
    app = make_app(home, CONFIG)
    store = app.store()
    store.open_session(session)
    journal = Journal(store)
    effect = "send" if tool == "send_email" else "write"
    intent = Intent("old", session, "mc_0123456789abcdef", tool, effect, "x", "gone")
    entry = journal.begin(Intent(**{**intent.__dict__, "summary": summary, "approved_by": "mode"}))
    with store.write() as db:
        db.execute("UPDATE effects SET pid = ? WHERE id = ?", (dead_pid(), entry))
    app.close()


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "morrow-home"
    root.mkdir()
    (root / "config.toml").write_text(
        '[user]\ntimezone = "Europe/Berlin"\nemail = "alex@example.com"\n'
    )
    monkeypatch.setenv("MORROW_HOME", str(root))
    return root


def test_ask_tells_once_and_doctor_keeps_listing(home, monkeypatch, capsys):
    killed_in_session(home, "s1")
    monkeypatch.setattr(App, "provider", lambda self, name=None: ScriptedProvider([text("hi")]))
    assert main(["ask", "hello"]) == 0
    err = capsys.readouterr().err
    assert "morrow: an earlier run stopped before telling you how this action ended:" in err
    assert f"- {SUMMARY} (started " in err and "session s1" in err
    assert "OUTCOME UNKNOWN" in err and "its id gone was not found" in err
    assert main(["ask", "hello again"]) == 0
    assert "earlier run" not in capsys.readouterr().err  # told once
    assert main(["doctor", "--offline"]) == 1
    out = capsys.readouterr().out
    assert "effects:  1 open, 1 with an outcome nobody knows:" in out
    assert SUMMARY in out and "OUTCOME UNKNOWN" in out


def test_an_event_not_on_the_calendar_is_told_as_not_done_and_is_not_open(
    home, monkeypatch, capsys
):
    killed_in_session(home, "s1", "create_event", "create_event title='Dentist'")
    monkeypatch.setattr(App, "provider", lambda self, name=None: ScriptedProvider([text("hi")]))
    assert main(["ask", "hello"]) == 0
    err = capsys.readouterr().err
    assert "create_event title='Dentist'" in err and "it did not happen" in err
    assert "OUTCOME UNKNOWN" not in err
    main(["doctor", "--offline"])
    assert "effects:  none open" in capsys.readouterr().out


def test_doctor_says_when_nothing_is_open(home, capsys):
    main(["doctor", "--offline"])
    assert "effects:  none open" in capsys.readouterr().out


def test_a_resumed_chat_after_a_kill_shows_the_saved_turns_and_the_lost_effect(home, monkeypatch):
    app = make_app(home, CONFIG)
    model = ScriptedProvider([text("Tomorrow is free."), text("Noon works.")])
    session = Session.open(app, model, session_id="s1")
    asyncio.run(ask(app, session, model, "what is on tomorrow?"))
    asyncio.run(ask(app, session, model, "when could I see the dentist?"))
    app.close()
    killed_in_session(home, "s1")  # the third turn was killed while it booked

    idle = ScriptedProvider([])
    monkeypatch.setattr(App, "provider", lambda self, name=None: idle)
    out = io.StringIO()
    with create_pipe_input() as pipe:
        pipe.send_text("\x04")
        code = asyncio.run(
            chat(make_app(home, CONFIG), None, pipe, out, session_id="s1", output=DummyOutput())
        )
    assert code == 0
    shown = out.getvalue()
    assert "(session s1 resumed: 2 earlier turns)" in shown
    order = [
        "> what is on tomorrow?",
        "Tomorrow is free.",
        "> when could I see the dentist?",
        "Noon works.",
        "an earlier run stopped before telling you",
        SUMMARY,
    ]
    positions = [shown.index(piece) for piece in order]
    assert positions == sorted(positions)
