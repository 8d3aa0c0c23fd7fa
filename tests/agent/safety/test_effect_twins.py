"""The effect journal's twins: what really is the same effect, across calls, sessions and runs.

- A call id means something only in its own session: local servers number their calls
  ``call_0``, ``call_1`` ... in every session, and a later, different send must not be taken
  for an earlier one.
- The same send or create in another session is its twin when that twin's outcome is unknown
  (or it was done by a run that stopped before telling the user): it is asked first, in every
  mode, and refused where nobody can be asked, with the reason.
- On start, what earlier runs left open is settled (looked up in Sent, on the calendar) and
  told once; ``morrow doctor`` lists what is still unknown.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import datetime
from pathlib import Path

import pytest
from support.processes import dead_pid
from support.safety_world import CONTACT, build

from morrow.agent.safety.gate import ApprovalGate, ApprovalRequest, Decision
from morrow.agent.safety.journal import EffectJournal
from morrow.memory.journal import Journal
from morrow.tools.base import ToolRegistry
from morrow.tools.catalog import all_tools
from morrow.tools.context import ToolContext

TOOLS = ToolRegistry(all_tools())
EVENT = {
    "title": "Dentist",
    "start": "2025-04-02T10:00:00+02:00",
    "end": "2025-04-02T11:00:00+02:00",
}
OTHER = {**EVENT, "title": "Vet"}
MAIL = {"to": [CONTACT], "subject": "Lunch", "body": "Thursday at noon?"}


@pytest.fixture
def world(tmp_path: Path):
    context = build(tmp_path)
    assert context.store is not None
    context.store.create_session("s2")
    yield context
    context.store.close()


def attempt(
    world: ToolContext,
    name: str,
    arguments: dict,
    *,
    session: str,
    call_id: str,
    ask: bool | None = None,
    journal: EffectJournal | None = None,
) -> tuple[ApprovalRequest, str]:
    """One call through the gate in ``allow`` mode; ``ask`` set: someone answers it so."""
    tool = TOOLS.get(name)
    args = tool.validate(arguments)
    asked: list[ApprovalRequest] = []

    async def answer(request: ApprovalRequest) -> Decision:
        asked.append(request)
        return Decision(approved=bool(ask), reason="" if ask else "the user said no")

    assert world.store is not None
    gate = ApprovalGate(
        mode="allow",
        ask=answer if ask is not None else None,
        journal=journal or EffectJournal(world.store),
    )
    context = replace(world, session_id=session).for_call(call_id)

    async def go() -> tuple[ApprovalRequest, str]:
        request = await gate.review(tool, args, context)
        decision = await gate.decide(request)
        if not decision.approved:
            return request, "refused: " + decision.reason
        return request, await gate.run(tool, args, context)

    request, outcome = asyncio.run(go())
    assert bool(asked) == (ask is not None and request.needs_explicit_approval)
    return request, outcome


def left_open(world: ToolContext, status: str = "unknown", *, reported: bool = False) -> None:
    """The last journal entry as a run that was killed would leave it."""
    assert world.store is not None
    with world.store.write() as db:
        db.execute(
            "UPDATE effects SET status = ?, pid = ?, reported = ?, note = 'killed' "
            "WHERE id = (SELECT max(id) FROM effects)",
            (status, dead_pid(), "2025-03-28T08:00:00+00:00" if reported else None),
        )


def titled(world: ToolContext, title: str) -> int:
    """How many events on the calendar are called ``title``."""
    start, end = (datetime.fromisoformat(EVENT[k]) for k in ("start", "end"))
    events = world.workspace.calendar.list_events(start, end)
    return sum(e.title == title for e in events)


# -- item 3: a call id is scoped to its session ------------------------------------------------


def test_a_call_id_repeated_in_another_session_is_another_call(world):
    attempt(world, "create_event", EVENT, session="s1", call_id="call_0")
    request, outcome = attempt(world, "create_event", OTHER, session="s2", call_id="call_0")
    assert request.repeat is None and not outcome.startswith("refused")
    # in its own session, the same id with other arguments is another call too
    request, outcome = attempt(world, "send_email", MAIL, session="s1", call_id="call_0")
    assert request.repeat is None and not outcome.startswith("refused")
    assert (titled(world, "Dentist"), titled(world, "Vet")) == (1, 1)


def test_the_same_call_of_the_same_session_is_still_a_repeat(world):
    attempt(
        world, "mark_email", {"email_id": "INBOX/offer", "read": True}, session="s1", call_id="c7"
    )
    request, _ = attempt(
        world, "mark_email", {"email_id": "INBOX/offer", "read": True}, session="s1", call_id="c7"
    )
    assert request.repeat and request.repeat.startswith("already done: mark_email")
    other, _ = attempt(
        world, "mark_email", {"email_id": "INBOX/offer", "read": True}, session="s2", call_id="c7"
    )
    assert other.repeat is None  # marking again elsewhere is harmless, and not a twin


# -- item 5: twins across sessions -------------------------------------------------------------


@pytest.mark.parametrize("name,arguments", [("send_email", MAIL)])
def test_a_twin_with_an_unknown_outcome_in_another_session_is_asked_first(world, name, arguments):
    attempt(world, name, arguments, session="s1", call_id="a1")
    left_open(world)
    # not found by a look-up: the event is on the calendar, the mail in Sent, so hide them
    with world.store.write() as db:  # type: ignore[union-attr]
        db.execute("UPDATE effects SET key = 'not-there' WHERE id = (SELECT max(id) FROM effects)")
    request, outcome = attempt(world, name, arguments, session="s2", call_id="b1")
    assert request.repeat and request.repeat.startswith("outcome unknown:")
    assert "in session s1" in request.repeat and "not-there was not found" in request.repeat
    assert outcome.startswith("refused: not approved") and "outcome unknown" in outcome
    _, refused = attempt(world, name, arguments, session="s2", call_id="b2", ask=False)
    assert refused.startswith("refused: the user said no")
    _, approved = attempt(world, name, arguments, session="s2", call_id="b3", ask=True)
    assert not approved.startswith("refused")  # the user decided: it runs


def test_a_twin_not_on_the_calendar_was_never_created_and_the_request_runs(world):
    attempt(world, "create_event", EVENT, session="s1", call_id="a1")
    left_open(world)
    with world.store.write() as db:  # type: ignore[union-attr]
        db.execute("UPDATE effects SET key = 'not-there' WHERE id = (SELECT max(id) FROM effects)")
    request, outcome = attempt(world, "create_event", EVENT, session="s2", call_id="b1")
    assert request.repeat is None and not outcome.startswith("refused")  # settled: not done
    entries = world.store.rows("SELECT status, note FROM effects ORDER BY id")  # type: ignore[union-attr]
    assert tuple(entries[0]) == ("failed", "not done: not-there was not found afterwards")


def test_on_a_remote_calendar_not_found_proves_nothing(world, monkeypatch):
    from morrow.tools.calendar.ics import IcsCalendar

    monkeypatch.setattr(IcsCalendar, "written_whole", False)  # as Google or CalDAV
    attempt(world, "create_event", EVENT, session="s1", call_id="a1")
    left_open(world)
    with world.store.write() as db:  # type: ignore[union-attr]
        db.execute("UPDATE effects SET key = 'not-there' WHERE id = (SELECT max(id) FROM effects)")
    request, outcome = attempt(world, "create_event", EVENT, session="s2", call_id="b1")
    assert request.repeat and request.repeat.startswith("outcome unknown:")
    assert outcome.startswith("refused: not approved")


def test_a_twin_found_after_all_is_done_and_said_so(world):
    attempt(world, "create_event", EVENT, session="s1", call_id="a1")
    left_open(world)  # its UID is on the calendar: the look-up settles it
    request, outcome = attempt(world, "create_event", EVENT, session="s2", call_id="b1")
    assert request.repeat and request.repeat.startswith("already done: create_event")
    assert "stopped before it could say so" in request.repeat
    assert outcome.startswith("refused") and titled(world, "Dentist") == 1
    entry = Journal(world.store).entries()[0]  # type: ignore[arg-type]
    assert entry.status == "done" and "found" in (entry.note or "")


def test_a_twin_done_and_told_is_asked_about_only_while_recent(world):
    attempt(world, "send_email", MAIL, session="s1", call_id="a1")
    left_open(world, "done", reported=True)
    request, _ = attempt(world, "send_email", MAIL, session="s2", call_id="b1")
    assert request.repeat and request.repeat.startswith("already done: send_email")
    assert "in session s1" in request.repeat  # minutes ago: the answer may have been lost
    with world.store.write() as db:  # type: ignore[union-attr]
        db.execute("UPDATE effects SET started = '2025-03-27T08:00:00+00:00'")  # a day ago
    request, _ = attempt(world, "send_email", MAIL, session="s2", call_id="b2")
    assert request.repeat is None  # the user knew it went; sending it again is their call
    left_open(world, "done", reported=False)  # b2, done but never told
    request, _ = attempt(world, "send_email", MAIL, session="s1", call_id="b3")
    assert request.repeat and "stopped before it could say so" in request.repeat


# -- item 5: settled and told on start; listed by doctor ---------------------------------------


def test_settle_looks_each_open_effect_up_and_tells_each_once(world):
    journal = EffectJournal(world.store)  # type: ignore[arg-type]
    attempt(world, "create_event", EVENT, session="s1", call_id="a1")
    left_open(world, "pending")  # killed: its event was written
    attempt(world, "send_email", MAIL, session="s1", call_id="a2")
    left_open(world, "pending")
    with world.store.write() as db:  # type: ignore[union-attr]
        db.execute("UPDATE effects SET key = 'lost@example.com' WHERE call_id = 'a2'")
    attempt(world, "create_event", OTHER, session="s2", call_id="a3")
    left_open(world, "done")  # done, and the answer lost with the turn

    settled = journal.settle(TOOLS, world)
    assert [(e.call_id, e.status) for e in settled] == [
        ("a1", "done"),
        ("a2", "unknown"),
        ("a3", "done"),
    ]
    assert "found" in (settled[0].note or "")
    assert journal.settle(TOOLS, world) == []  # told once
    assert [e.call_id for e in journal.open(TOOLS, world)] == ["a2"]  # doctor keeps it


def test_a_saved_turn_reports_its_effects(tmp_path):
    from support.turns import ask as ask_turn
    from support.turns import make_app

    from morrow.agent.context.sessions import Session
    from morrow.agent.providers.scripted import ScriptedProvider, call, calls, text

    app = make_app(tmp_path, {"user": {"timezone": "Europe/Berlin", "email": "a@example.com"}})
    model = ScriptedProvider([calls(call("create_event", **EVENT)), text("booked")])
    session = Session.open(app, model)
    asyncio.run(ask_turn(app, session, model, "book the dentist"))
    (entry,) = Journal(app.store()).entries()
    assert entry.status == "done" and entry.reported is not None
    assert app.settle_effects() == []
    app.close()
