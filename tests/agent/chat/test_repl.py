"""The chat driven through prompt_toolkit's pipe input, with the scripted model."""

import asyncio
import io
import os
import signal
import sys
from datetime import datetime

import pytest
from prompt_toolkit.completion import CompleteEvent
from prompt_toolkit.document import Document
from prompt_toolkit.input import create_pipe_input
from prompt_toolkit.output import DummyOutput
from support.turns import make_app

from morrow.agent.app import App
from morrow.agent.chat.input import SlashCompleter
from morrow.agent.chat.repl import chat
from morrow.agent.messages import dangling_tool_calls, load_messages
from morrow.agent.providers.scripted import BrokenStream, ScriptedProvider, call, calls, text

START, END = "2030-05-06T10:00:00+02:00", "2030-05-06T10:30:00+02:00"
CONFIG = {"user": {"timezone": "Europe/Berlin", "email": "alex@example.com", "name": "Alex"}}
CTRL_D = "\x04"


async def press_ctrl_c() -> None:
    """What the terminal does on Ctrl-C; the stream stalls until the turn is cancelled."""
    os.kill(os.getpid(), signal.SIGINT)
    await asyncio.Event().wait()


def interrupted() -> BrokenStream:
    """A script item: the model streams a few words, then the user presses Ctrl-C."""
    return BrokenStream("Let me think ", wait=press_ctrl_c)


def run_chat(home, monkeypatch, script, keys, *, session_id="r1", config=CONFIG):
    """Type ``keys`` into the chat; return (what it printed, the model)."""
    model = ScriptedProvider(script)
    monkeypatch.setattr(App, "provider", lambda self, name=None: model)
    out = io.StringIO()
    with create_pipe_input() as pipe:
        pipe.send_text(keys)
        code = asyncio.run(
            chat(
                make_app(home, config), None, pipe, out, session_id=session_id, output=DummyOutput()
            )
        )
    assert code == 0
    model.assert_done()
    return out.getvalue(), model


def events(home):
    calendar = home / "calendar.ics"
    return calendar.read_text().count("BEGIN:VEVENT") if calendar.exists() else 0


def stored(home, session_id):
    with make_app(home, CONFIG).store() as store:
        statuses = [r["status"] for r in store.rows("SELECT status FROM turns ORDER BY number")]
        history = load_messages("[" + ",".join(store.documents(session_id, 1, 999)) + "]")
    return statuses, history


def test_a_streamed_markdown_answer_and_a_tool_line(tmp_path, monkeypatch):
    script = [
        calls(call("list_events", start=START, end=END)),
        text("You have **nothing** then.\n\n- really nothing"),
    ]
    shown, _ = run_chat(tmp_path / "h", monkeypatch, script, "what is on?\r" + CTRL_D)
    assert "(new session r1;" in shown
    assert f"· list_events start={START} end={END}" in shown and " ms ok" in shown
    assert "You have nothing then." in shown  # rendered Markdown: no asterisks
    assert "• really nothing" in shown


def test_an_approval_answered_no_then_yes_then_undone(tmp_path, monkeypatch):
    home = tmp_path / "h"
    create = {"title": "Dentist", "start": START, "end": END, "attendees": ["sam@example.com"]}
    script = [
        calls(call("create_event", **create)),
        text("All right, I did not create it."),
        calls(call("create_event", **create)),
        text("Created."),
    ]
    keys = "add the dentist\rn\radd it after all\ry\r/undo\r/undo\r" + CTRL_D
    shown, model = run_chat(home, monkeypatch, script, keys)
    assert "morrow wants to run create_event (write)" in shown
    assert "title: Dentist" in shown and "attendees: sam@example.com" in shown
    assert "when: Mon 06 May 2030 10:00 to Mon 06 May 2030 10:30 Europe/Berlin" in shown
    assert "no invitations go out" in shown
    assert "session id" not in shown  # the gate's bookkeeping is not a warning
    refused = model.requests[1].messages[-1].tool_results[0]
    assert refused.is_error and "the user said no" in refused.content
    assert "· create_event title=Dentist" in shown and "not run: the user said no" in shown
    assert 'Undone: the event "Dentist" was removed from your calendar.' in shown
    assert "Nothing to undo" in shown  # the refused call was never an effect
    assert events(home) == 0


def test_the_yes_writes_before_undo(tmp_path, monkeypatch):
    home = tmp_path / "h"
    script = [calls(call("create_event", title="Gym", start=START, end=END)), text("Done.")]
    run_chat(home, monkeypatch, script, "gym please\ry\r" + CTRL_D)
    assert events(home) == 1
    assert "Gym" in (home / "calendar.ics").read_text()


def test_ctrl_c_mid_stream_cancels_the_turn_and_the_next_turn_works(tmp_path, monkeypatch):
    home = tmp_path / "h"
    script = [
        calls(call("list_events", start=START, end=END)),
        interrupted(),
        text("Here is the second answer."),
    ]
    shown, model = run_chat(home, monkeypatch, script, "first\rsecond\r" + CTRL_D)
    assert "Let me think" in shown  # Ctrl-C came mid-stream, after some text was shown
    assert "(cancelled; the turn is kept as far as it got)" in shown
    assert "Here is the second answer." in shown
    statuses, history = stored(home, "r1")
    assert statuses == ["cancelled", "ok"]
    assert not dangling_tool_calls(history)
    assert [m.role for m in history] == ["user", "assistant", "tool", "user", "assistant"]
    # the second turn's request carried the cancelled one, valid
    sent = list(model.requests[-1].messages)
    assert not dangling_tool_calls(sent) and sent[-1].text == "second"


def test_sessions_resume_new_and_cost(tmp_path, monkeypatch):
    home = tmp_path / "h"
    run_chat(home, monkeypatch, [text("Hi Ada.")], "I am Ada\r" + CTRL_D, session_id="older")
    keys = "hello\r/cost\r/sessions\r/resume older\rwho am I?\r/new fresh\r/model\r/bogus\r/exit\r"
    shown, model = run_chat(home, monkeypatch, [text("Hello."), text("Ada.")], keys)
    assert "last turn: 15 tokens (10 in, 5 out, 0 cached), $0.0000" in shown
    assert "this chat: 1 turn(s), 15 tokens" in shown
    assert "older" in shown and "I am Ada" in shown  # the listing
    assert "(session older resumed: 1 earlier turn)" in shown
    assert [m.text for m in model.requests[1].messages] == ["I am Ada", "Hi Ada.", "who am I?"]
    assert "(new session fresh)" in shown
    assert "unknown command /bogus" in shown
    with make_app(home, CONFIG).store() as store:
        assert {s.id for s in store.sessions()} == {"older", "r1", "fresh"}


def test_multiline_input_by_backslash_and_esc_enter(tmp_path, monkeypatch):
    script = [text("one"), text("two")]
    keys = "first line\\\rsecond\ra\x1b\rb\r" + CTRL_D
    _, model = run_chat(tmp_path / "h", monkeypatch, script, keys)
    assert model.requests[0].messages[-1].text == "first line\nsecond"
    assert model.requests[1].messages[-1].text == "a\nb"
    assert (tmp_path / "h" / "state" / "chat-history").stat().st_mode & 0o077 == 0


def test_an_email_is_shown_whole_and_edited_in_the_editor(tmp_path, monkeypatch):
    home = tmp_path / "h"
    editor = tmp_path / "editor.py"
    editor.write_text(
        "import sys, pathlib\np = pathlib.Path(sys.argv[1])\n"
        "p.write_text(p.read_text().replace('Thursday', 'Friday'))\n"
    )
    monkeypatch.setenv("EDITOR", f"{sys.executable} {editor}")
    body = "Hi Priya,\n\nThursday works for me.\n\nAlex"
    send = {"to": ["priya@example.com"], "subject": "Budget", "body": body}
    script = [calls(call("send_email", **send)), text("Sent.")]
    shown, _ = run_chat(home, monkeypatch, script, "answer priya\re\ry\r" + CTRL_D)
    assert "morrow wants to run send_email (send)" in shown
    assert "to: priya@example.com" in shown and "subject: Budget" in shown
    assert "Thursday works for me." in shown
    # no [email.smtp]: the box says what the result will say, nothing goes out
    assert "Nothing goes out to anyone." in shown
    assert "cannot be undone" not in shown
    assert "Friday works for me." in shown  # the edited action is shown again
    assert shown.count("from: Alex <alex@example.com>") == 2  # also in the re-shown box
    assert shown.count("Emails go to: nobody (no SMTP server is configured") == 2
    sent = list((home / "Mail" / ".Sent" / "cur").iterdir())
    assert len(sent) == 1
    assert "Friday works for me." in sent[0].read_text()


def test_an_email_edited_inline_without_an_editor(tmp_path, monkeypatch):
    home = tmp_path / "h"
    monkeypatch.delenv("EDITOR", raising=False)
    monkeypatch.delenv("VISUAL", raising=False)
    send = {"to": ["priya@example.com"], "subject": "Hi", "body": "See you"}
    script = [calls(call("draft_email", **send)), text("Drafted.")]
    keys = "draft it\re\r soon\x1b\ry\r" + CTRL_D  # types " soon" at the end, Esc-Enter
    run_chat(home, monkeypatch, script, keys)
    (draft,) = (home / "Mail" / ".Drafts" / "cur").iterdir()
    assert "See you soon" in draft.read_text()


def test_an_invalid_edit_is_refused_and_the_action_kept(tmp_path, monkeypatch):
    editor = tmp_path / "editor.py"
    editor.write_text(
        "import sys, pathlib\np = pathlib.Path(sys.argv[1])\n"
        "p.write_text(p.read_text().replace('start: 2030', 'start: tomorrow 2030'))\n"
    )
    monkeypatch.setenv("EDITOR", f"{sys.executable} {editor}")
    script = [calls(call("create_event", title="Gym", start=START, end=END)), text("ok")]
    shown, _ = run_chat(tmp_path / "h", monkeypatch, script, "gym\re\rn\r" + CTRL_D)
    assert "The edited action is not valid: invalid arguments: start:" in shown
    assert "Edit abandoned; the action is unchanged." in shown  # saved again as it was
    assert events(tmp_path / "h") == 0


def test_an_invalid_edit_is_opened_again_as_the_user_left_it(tmp_path, monkeypatch):
    editor = tmp_path / "editor.py"
    editor.write_text(  # first: a new title and a bad start; then: the start fixed
        "import sys, pathlib\np = pathlib.Path(sys.argv[1])\nt = p.read_text()\n"
        "if t.startswith('# NOT VALID: '):\n"
        "    assert 'title: Swim' in t, t\n"
        "    p.write_text(t.replace('start: tomorrow ', 'start: '))\n"
        "else:\n"
        "    p.write_text(t.replace('title: Gym', 'title: Swim')"
        ".replace('start: 2030', 'start: tomorrow 2030'))\n"
    )
    monkeypatch.setenv("EDITOR", f"{sys.executable} {editor}")
    script = [calls(call("create_event", title="Gym", start=START, end=END)), text("ok")]
    shown, _ = run_chat(tmp_path / "h", monkeypatch, script, "gym\re\ry\r" + CTRL_D)
    assert "The edited action is not valid" in shown
    assert "morrow wants to run create_event (write), as you edited it" in shown
    assert "· create_event title=Swim" in shown  # the tool line shows what ran
    assert "SUMMARY:Swim" in (tmp_path / "h" / "calendar.ics").read_text()


def test_remember_can_be_approved_for_the_rest_of_the_chat(tmp_path, monkeypatch):
    script = [
        calls(call("remember", fact="I prefer mornings")),
        text("Noted."),
        calls(call("remember", fact="Sam is my manager")),
        text("Noted too."),
    ]
    keys = "remember I prefer mornings\ra\rremember that Sam is my manager\r" + CTRL_D
    shown, _ = run_chat(tmp_path / "h", monkeypatch, script, keys)
    assert shown.count("morrow wants to run remember") == 1  # asked once
    assert "(remember: approved, as you said for this chat)" in shown
    assert "Noted too." in shown


def test_an_invitation_on_the_local_calendar_says_nobody_is_emailed_and_can_be_undone(
    tmp_path, monkeypatch
):
    home = tmp_path / "h"
    create = {
        "title": "Review",
        "start": START,
        "end": END,
        "attendees": ["priya@example.com"],
        "send_invitations": True,
    }
    script = [calls(call("create_event", **create)), text("Invited.")]
    shown, _ = run_chat(home, monkeypatch, script, "invite priya\ry\r/undo\r" + CTRL_D)
    assert "WILL be emailed" not in shown and "cannot be undone" not in shown
    assert "Nobody is emailed: the local calendar file sends no email." in shown
    assert "Emails go to: nobody (the local calendar file sends no email)" in shown
    assert 'Undone: the event "Review" was removed from your calendar.' in shown
    assert events(home) == 0


def test_completion_of_commands_and_session_ids():
    completer = SlashCompleter(
        {"/resume": "continue", "/new": "new", "/help": "help"}, {"/resume": lambda: ["s1", "x"]}
    )

    def complete(typed):
        found = completer.get_completions(Document(typed), CompleteEvent())
        return [c.text for c in found]

    assert complete("/re") == ["/resume"]
    assert complete("/resume s") == ["s1"]
    assert complete("hello /re") == []


@pytest.mark.parametrize("mode", ["deny"])
def test_effects_are_refused_without_asking_when_the_config_says_deny(tmp_path, monkeypatch, mode):
    config = {**CONFIG, "approvals": {"mode": mode}}
    script = [calls(call("create_event", title="Gym", start=START, end=END)), text("Refused.")]
    shown, _ = run_chat(tmp_path / "h", monkeypatch, script, "gym\r" + CTRL_D, config=config)
    assert "morrow wants to run" not in shown and "not run: not approved" in shown


def test_the_prompt_time_never_reaches_the_model_as_a_naive_datetime():
    # the approval panel parses the model's times; an unparsable one is shown verbatim
    from zoneinfo import ZoneInfo

    from morrow.agent.chat.approval import _span

    zone = ZoneInfo("Europe/Berlin")
    assert _span("not a time", None, zone).startswith("not a time to (unchanged)")
    moment = datetime(2030, 5, 6, 8, 0, tzinfo=ZoneInfo("UTC")).isoformat()
    assert "10:00" in _span(moment, None, zone)


def test_resume_takes_a_unique_prefix_and_shows_the_last_turns(tmp_path, monkeypatch):
    home = tmp_path / "h"
    run_chat(home, monkeypatch, [text("Hi Ada.")], "I am Ada\r" + CTRL_D, session_id="older")
    run_chat(home, monkeypatch, [text("Hello.")], "hi\r" + CTRL_D, session_id="other")
    keys = "/resume o\r/resume old\r/resume nope\r" + CTRL_D
    shown, _ = run_chat(home, monkeypatch, [], keys)
    assert "'o' starts 2 session ids (other, older): say more" in shown.replace(
        "older, other", "other, older"
    )
    assert "(session older resumed: 1 earlier turn)" in shown
    assert "you: I am Ada" in shown and "morrow: Hi Ada." in shown
    assert "no session with id 'nope'" in shown


def test_session_times_are_in_the_users_zone_and_labelled(tmp_path, monkeypatch, capsys):
    from morrow.agent.cli import main

    home = tmp_path / "h"
    run_chat(home, monkeypatch, [text("Hi.")], "hello\r/sessions\r" + CTRL_D)
    shown, _ = run_chat(home, monkeypatch, [], "/sessions\r" + CTRL_D, session_id="r2")
    assert "updated (Europe/Berlin)" in shown
    (home / "config.toml").write_text('[user]\ntimezone = "Europe/Berlin"\n')
    assert main(["--home", str(home), "memory", "sessions"]) == 0
    out = capsys.readouterr().out
    assert "\nid, last updated (Europe/Berlin), turns, title\n" in "\n" + out
