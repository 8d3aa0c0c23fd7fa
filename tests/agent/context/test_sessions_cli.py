"""Sessions on the command line and in the REPL: continued, created, saved however a turn ends."""

import asyncio
import io
import json
import stat
import sys

import pytest
from support.cli import run as morrow
from support.fake_api import Say, serve
from support.turns import ask, conversation, make_app

from morrow.agent.app import App
from morrow.agent.chat.repl import chat
from morrow.agent.cli import main
from morrow.agent.context.sessions import Session
from morrow.agent.errors import ProviderRejected, UsageError
from morrow.agent.loop import Observer, run_turn
from morrow.agent.messages import dangling_tool_calls, load_messages
from morrow.agent.providers.scripted import ScriptedProvider, call, calls, text
from morrow.agent.safety.gate import ApprovalGate
from morrow.memory.records import NewMessage, TurnRecord
from morrow.tools.base import ToolRegistry, tool
from morrow.tools.context import ToolContext


def configure(home, url):
    home.mkdir(parents=True, exist_ok=True)
    (home / "config.toml").write_text(
        f'[[providers]]\nname = "local"\nkind = "openai"\nmodel = "test-model"\n'
        f'base_url = "{url}/v1"\n'
    )


def test_the_second_ask_in_a_session_carries_the_first_turn(tmp_path):
    home = tmp_path / "home"
    with serve([[Say("Nice to meet you, Ada.")], [Say("Your name is Ada.")]]) as server:
        configure(home, server.url)
        first = morrow(home, "ask", "my name is Ada", "--new", "--session", "s1")
        second = morrow(home, "ask", "what is my name?", "--session", "s1")
    assert first.returncode == 0, first.stderr
    assert second.returncode == 0, second.stderr
    assert "Your name is Ada." in second.stdout
    sent = server.api.requests[1]["messages"]
    assert [(m["role"], m["content"]) for m in sent[1:]] == [
        ("user", "my name is Ada"),
        ("assistant", "Nice to meet you, Ada."),
        ("user", "what is my name?"),
    ]


def test_new_prints_the_id_and_no_flag_starts_a_fresh_listed_session(tmp_path, capsys):
    home = tmp_path / "home"
    with serve([[Say("one")], [Say("two")], [Say("three")]]) as server:
        configure(home, server.url)
        started = morrow(home, "ask", "hello", "--new", "--json")
        fresh = morrow(home, "ask", "hello again")
        other = morrow(home, "ask", "and again", "--json")
    assert started.returncode == fresh.returncode == other.returncode == 0, started.stderr
    session_id = json.loads(started.stdout)["session"]
    assert f"morrow: session {session_id}" in started.stderr
    assert "session" not in fresh.stderr
    assert [len(r["messages"]) for r in server.api.requests] == [2, 2, 2]  # nothing carried over
    assert main(["--home", str(home), "memory", "sessions", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert len(listed) == 3 and session_id in {s["id"] for s in listed}
    assert json.loads(other.stdout)["session"] in {s["id"] for s in listed}
    assert {s["title"] for s in listed} == {"hello", "hello again", "and again"}
    assert all(s["turns"] == 1 and s["model"] == "test-model" for s in listed)


def test_bad_session_flags_are_usage_errors(tmp_path, capsys):
    home = tmp_path / "home"
    with serve([[Say("ok")]]) as server:
        configure(home, server.url)
        assert morrow(home, "ask", "hi", "--session", "s1", "--new").returncode == 0
        taken = morrow(home, "ask", "hi", "--session", "s1", "--new")
        invalid = morrow(home, "ask", "hi", "--session", "no/slashes")
        typo = morrow(home, "ask", "hi", "--session", "s2")
    assert taken.returncode == 2 and "already exists" in taken.stderr
    assert invalid.returncode == 2 and "invalid session id" in invalid.stderr
    assert len(server.api.requests) == 1  # nothing was asked for the refused runs
    # the same missing session is the same one-line error and code everywhere
    missing = "morrow: no session with id 's2' (see `morrow memory sessions`;"
    assert typo.returncode == 2 and typo.stderr.startswith(missing)
    for argv in (
        ["chat", "--session", "s2"],
        ["memory", "export", "--session", "s2"],
        ["memory", "purge", "--session", "s2", "--yes"],
    ):
        assert main(["--home", str(home), *argv]) == 2, argv
        err = capsys.readouterr().err
        assert err.startswith(missing) and err.count("\n") == 1, (argv, err)


def test_chat_continues_a_session_and_saves_every_turn(tmp_path, monkeypatch):
    home = tmp_path / "home"
    provider = ScriptedProvider([text("Hello Ada."), text("You are Ada.")])
    monkeypatch.setattr(App, "provider", lambda self, name=None: provider)
    out = io.StringIO()
    code = asyncio.run(chat(make_app(home), None, io.StringIO("I am Ada\n"), out, session_id="c1"))
    assert code == 0 and "(new session c1;" in out.getvalue()
    out = io.StringIO()
    asyncio.run(chat(make_app(home), None, io.StringIO("who am I?\n/exit\n"), out, session_id="c1"))
    assert "(session c1 resumed: 1 earlier turn)" in out.getvalue()
    assert [m.text for m in provider.requests[1].messages] == [
        "I am Ada",
        "Hello Ada.",
        "who am I?",
    ]
    with make_app(home).store() as store:
        assert store.session("c1").turns == 2


@tool(effect="read")
async def wait_forever(ctx: ToolContext) -> str:
    """Never finishes."""
    await asyncio.Event().wait()
    return "unreachable"


class Watcher(Observer):
    def __init__(self):
        self.running = asyncio.Event()

    def tool_started(self, call):
        self.running.set()


def test_a_cancelled_turn_is_stored_valid_with_status_cancelled(tmp_path):
    app = make_app(tmp_path / "home")
    provider = ScriptedProvider([calls(call("wait_forever"), call("wait_forever"))])

    watcher = Watcher()

    async def scenario():
        session = Session.open(app, provider, session_id="s1")
        started = session.begin("do the slow thing")
        turn = run_turn(
            session.history,
            "do the slow thing",
            provider=provider,
            tools=ToolRegistry([wait_forever]),
            tool_context=started.tools,
            gate=ApprovalGate(),
            system="s",
            stream=False,
            context=session.window,
            observer=watcher,
        )
        task = asyncio.ensure_future(session.run(started, turn))
        await asyncio.wait_for(watcher.running.wait(), timeout=10)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(scenario())
    store = app.store()
    (status,) = [r["status"] for r in store.rows("SELECT status FROM turns")]
    stored = load_messages("[" + ",".join(store.documents("s1", 1, 99)) + "]")
    assert status == "cancelled"
    assert [m.role for m in stored] == ["user", "assistant", "tool"]
    assert not dangling_tool_calls(stored)
    assert all("interrupted" in r.content for r in stored[2].tool_results)


def test_a_failed_turn_is_stored_with_status_error(tmp_path):
    app = make_app(tmp_path / "home")
    provider = ScriptedProvider([ProviderRejected("bad request", provider="scripted")])

    async def scenario():
        session = Session.open(app, provider, session_id="s1")
        with pytest.raises(ProviderRejected):
            await ask(app, session, provider, "hello?")

    asyncio.run(scenario())
    store = app.store()
    assert [r["status"] for r in store.rows("SELECT status FROM turns")] == ["error"]
    assert store.user_texts("s1")[0].text == "hello?"


def test_opening_with_new_and_a_taken_id_is_refused(tmp_path):
    app = make_app(tmp_path / "home")
    provider = ScriptedProvider([])
    Session.open(app, provider, session_id="s1")
    with pytest.raises(UsageError, match="leave out --new"):
        Session.open(app, provider, session_id="s1", new=True)


def seed(store, session_id, history):
    """Store ``history`` as turns (one per user message), as earlier runs would have."""
    turns, current = [], []
    for message in history:
        if message.role == "user" and current:
            turns.append(current)
            current = []
        current.append(message)
    turns.append(current)
    for number, messages in enumerate(turns):
        stored = [NewMessage(m.role, m.model_dump_json(), m.text) for m in messages]
        record = TurnRecord(f"seed{number}", store.clock(), "ok", stored)
        store.save_turn(session_id, record)


def test_a_summary_made_in_a_turn_is_stored_and_the_next_run_resumes_from_it(tmp_path):
    app = make_app(
        tmp_path / "home",
        {
            "providers": [
                {"name": "p", "kind": "openai", "model": "tiny", "base_url": "http://127.0.0.1:9"}
            ],
            "memory": {"context_windows": {"tiny": 12_000}},
        },
    )
    provider = ScriptedProvider([text("SUMMARY OF THE PAST"), text("ok"), text("ok again")])
    store = app.store()
    store.create_session("s1")
    seed(store, "s1", conversation(60))
    session = Session.open(app, provider, session_id="s1")
    assert session.window.budget.tokens == 12_000 - 4096
    assert session.window.folded_at_resume > 0  # folded when loading, summarized when asked
    asyncio.run(ask(app, session, provider, "what now?"))
    folded = session.window.folded_at_resume + session.window.start
    resumed = store.resume("s1")
    assert resumed.summary.text == "SUMMARY OF THE PAST"
    assert resumed.summary.model == "scripted/scripted-model"
    assert resumed.summary.up_to_seq == folded  # seqs start at 1: the last folded message
    usage_kinds = [r["kind"] for r in store.rows("SELECT kind FROM usage ORDER BY id")]
    assert usage_kinds == ["turn", "summary"]
    again = Session.open(app, provider, session_id="s1")
    assert again.window.summary == "SUMMARY OF THE PAST"
    assert again.history[0].role == "user"
    assert len(again.history) == 60 * 4 + 2 - folded
    asyncio.run(ask(app, again, provider, "and then?"))
    provider.assert_done()
    assert "SUMMARY OF THE PAST" in provider.requests[2].system


def test_memory_purge_and_export_on_the_command_line(tmp_path, capsys, monkeypatch):
    home = tmp_path / "home"
    app = make_app(home)
    provider = ScriptedProvider([text("a"), text("b")])

    async def scenario():
        for sid in ("keep", "drop"):
            await ask(app, Session.open(app, provider, session_id=sid), provider, sid)

    asyncio.run(scenario())
    capsys.readouterr()
    out = tmp_path / "export.json"
    assert main(["--home", str(home), "memory", "export", "--out", str(out)]) == 0
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    assert {s["id"] for s in json.loads(out.read_text())["sessions"]} == {"keep", "drop"}
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))  # not a terminal: --yes is needed
    assert main(["--home", str(home), "memory", "purge", "--all"]) == 2
    assert "add --yes" in capsys.readouterr().err
    assert main(["--home", str(home), "memory", "purge", "--session", "nope", "--yes"]) == 2
    assert main(["--home", str(home), "memory", "purge", "--session", "drop", "--yes"]) == 0
    assert "deleted 1 session(s), 2 message(s)" in capsys.readouterr().out
    assert main(["--home", str(home), "memory", "export"]) == 0
    assert [s["id"] for s in json.loads(capsys.readouterr().out)["sessions"]] == ["keep"]
    (home / "state").mkdir(exist_ok=True)
    (home / "state" / "chat-history").write_text("+what I typed in the chat\n")
    assert main(["--home", str(home), "memory", "purge", "--all", "--yes"]) == 0
    assert not (home / "state" / "chat-history").exists()  # every line typed: everything
    assert main(["--home", str(home), "memory", "sessions"]) == 0
    assert "no stored sessions" in capsys.readouterr().out


def test_the_repl_shows_a_compaction(tmp_path, monkeypatch):
    home = tmp_path / "home"
    config = {
        "providers": [{"name": "p", "kind": "openai", "model": "tiny", "base_url": "http://x"}],
        "memory": {"context_windows": {"tiny": 12_000}},
    }
    provider = ScriptedProvider([text("SUMMARY"), text("Here you go.")])
    monkeypatch.setattr(App, "provider", lambda self, name=None: provider)
    with make_app(home, config).store() as store:
        store.create_session("long")
        seed(store, "long", conversation(60))
    out = io.StringIO()
    stdin = io.StringIO("and now?\n")
    assert asyncio.run(chat(make_app(home, config), None, stdin, out, session_id="long")) == 0
    shown = out.getvalue()
    assert "(session long resumed: 60 earlier turns)" in shown
    assert "earlier turns folded into a summary (scripted/scripted-model;" in shown
    provider.assert_done()
