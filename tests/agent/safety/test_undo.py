"""/undo: each reversible write has its inverse; a send never; the log walks back one at a time."""

import asyncio
import json
from datetime import date
from zoneinfo import ZoneInfo

import pytest
from googleapiclient.discovery import build
from googleapiclient.http import HttpMockSequence

from morrow.agent.app import App
from morrow.agent.context.sessions import Session
from morrow.agent.loop import run_turn
from morrow.agent.providers.scripted import ScriptedProvider, call, calls, text
from morrow.agent.safety.gate import ApprovalGate
from morrow.agent.safety.undo import Undoer, UndoLog
from morrow.tools.demo import build_demo_workspace
from morrow.tools.email.gmail import GmailMailbox
from morrow.tools.errors import ToolError

DAY = date(2026, 3, 4)
START, END = "2026-03-06T10:00:00+01:00", "2026-03-06T11:00:00+01:00"


@pytest.fixture
def app(tmp_path):
    root = tmp_path / "home"
    build_demo_workspace(root, today=DAY, timezone=ZoneInfo("Europe/Berlin"))
    (root / "config.toml").write_text(
        '[user]\ntimezone = "Europe/Berlin"\nemail = "alex@example.com"\n'
    )
    with App.load(home=str(root)) as app:
        yield app


def act(app, *tool_calls, session_id="u1", said="please make these changes"):
    """One allowed turn making ``tool_calls``; returns the session's history and an Undoer."""
    provider = ScriptedProvider([calls(*tool_calls), text("done")])

    async def turn():
        session = Session.open(app, provider, session_id=session_id)
        history = session.history
        started = session.begin(said)
        run = run_turn(
            history,
            said,
            provider=provider,
            tools=app.tools(),
            tool_context=started.tools,
            gate=ApprovalGate(mode="allow"),
            system="s",
            stream=False,
        )
        await session.run(started, run)
        return history

    history = asyncio.run(turn())
    log = UndoLog(app.store(), session_id)
    return history, Undoer(app.tool_context(session_id=session_id), app.tools(), log)


def inbox(app):
    return {
        m.subject for m in app.workspace().mail.search(None, None, None, None, None, "INBOX", 100)
    }


def test_a_created_event_is_cancelled(app):
    history, undoer = act(app, call("create_event", title="Gym", start=START, end=END))
    assert "Gym" in app.paths.home.joinpath("calendar.ics").read_text()
    outcome = undoer.undo(history)
    assert outcome.undone and 'the event "Gym" was removed' in outcome.message
    assert "Gym" not in app.paths.home.joinpath("calendar.ics").read_text()
    assert "Nothing to undo" in undoer.undo(history).message


def test_an_archive_moves_back_and_a_mark_flips_back(app):
    mail = app.workspace().mail
    (newsletter,) = mail.search("Weekly Byte #142", None, None, None, None, "INBOX", 5)
    history, undoer = act(
        app,
        call("archive_email", email_id=newsletter.id),
        call("mark_email", email_id=newsletter.id.replace("INBOX", "Archive"), read=True),
    )
    assert "The Weekly Byte #142: faster builds, saner configs" not in inbox(app)
    assert undoer.undo(history).message.startswith("Undone: the email")  # the mark first
    assert mail.read(newsletter.id.replace("INBOX", "Archive")).unread
    assert (
        undoer.undo(history).message == f"Undone: the email is back in INBOX (id {newsletter.id})."
    )
    assert "The Weekly Byte #142: faster builds, saner configs" in inbox(app)


def test_a_draft_is_deleted_but_a_send_is_never_undone(app):
    history, undoer = act(
        app,
        call("draft_email", to=["priya@example.com"], subject="Draft", body="hi"),
        call("send_email", to=["priya@example.com"], subject="Sent one", body="hi"),
    )
    outcome = undoer.undo(history)
    assert not outcome.undone
    assert outcome.message.startswith('Cannot undo send_email "Sent one" to priya@example.com')
    assert "/undo again reverts the change before it" in outcome.message
    assert undoer.undo(history).undone
    drafts = app.workspace().mail.search(None, None, None, None, None, "Drafts", 10)
    assert drafts == []
    sent = app.workspace().mail.search("Sent one", None, None, None, None, "Sent", 10)
    assert len(sent) == 1  # still there: /undo sent nothing and deleted nothing


def test_the_log_survives_a_new_undoer_and_remember_is_forgotten(app):
    remember = call("remember", fact="I work 8 to 4")
    history, first = act(app, remember, session_id="u2", said="I work 8 to 4")
    assert first.undo(history).message == 'Undone: forgot "I work 8 to 4".'
    app.close()  # a new run: what was undone is read back from the store
    again = Undoer(app.tool_context(session_id="u2"), app.tools(), UndoLog(app.store(), "u2"))
    assert "Nothing to undo" in again.undo(history).message
    assert UndoLog(app.store(), "u2").handled


def test_an_update_cannot_be_undone_and_says_why(app):
    history, undoer = act(app, call("update_event", event_id="dentist@demo.morrow", title="Dr."))
    outcome = undoer.undo(history)
    assert "earlier state is not kept" in outcome.message and not outcome.undone


def test_maildir_refuses_to_delete_what_is_not_a_draft(app):
    (message,) = app.workspace().mail.search("Weekly Byte #142", None, None, None, None, None, 5)
    with pytest.raises(ToolError, match="not in the Drafts folder"):
        app.workspace().mail.delete_draft(message.id)


def test_gmail_unarchive_and_delete_draft_requests():
    http = HttpMockSequence([({"status": "200"}, "{}"), ({"status": "204"}, "")])
    service = build("gmail", "v1", http=http, static_discovery=True)
    box = GmailMailbox(service, address="a@example.com")
    assert box.unarchive("m1", "INBOX") == "m1"
    box.delete_draft("d1")
    (first, method1, body1, _), (second, method2, _, _) = http.request_sequence
    assert (method1, json.loads(body1)) == ("POST", {"addLabelIds": ["INBOX"]})
    assert first.split("?")[0].endswith("/users/me/messages/m1/modify")
    assert method2 == "DELETE" and second.split("?")[0].endswith("/users/me/drafts/d1")
