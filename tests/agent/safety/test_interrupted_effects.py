"""Ctrl-C while an effect runs: the model and the user are told the truth, as the journal is.

The effect may or may not have happened (a send in a worker thread goes on after the turn is
cancelled), so its result says "interrupted while running; outcome unknown", not "not run";
calls that never started say "not run"; the observer (what the user sees) gets the same result.
"""

from __future__ import annotations

import asyncio
import threading
from dataclasses import replace
from pathlib import Path

from support.processes import dead_pid
from support.turns import bare_context

from morrow.agent.loop import Observer, run_turn
from morrow.agent.messages import Message, ToolCallPart, ToolResultPart, dangling_tool_calls
from morrow.agent.providers.scripted import ScriptedProvider, call, calls
from morrow.agent.safety.gate import ApprovalGate
from morrow.agent.safety.journal import EffectJournal
from morrow.memory.journal import Journal
from morrow.memory.store import Store
from morrow.tools.base import ToolRegistry, tool
from morrow.tools.context import ToolContext

STARTED = threading.Event()
RELEASE = threading.Event()


@tool(effect="send")
def slow_send(ctx: ToolContext, to: list[str]) -> str:
    """Send something; returns only when the test lets it.

    Args:
        to: the recipients.
    """
    STARTED.set()
    RELEASE.wait(timeout=10)
    return "sent"


@tool(effect="read")
def peek(ctx: ToolContext) -> str:
    """Read something."""
    return "seen"


TOOLS = ToolRegistry([slow_send, peek])


class Screen(Observer):
    """What the user is shown of each call."""

    def __init__(self) -> None:
        self.finished: list[ToolResultPart] = []

    def tool_finished(self, call: ToolCallPart, result: ToolResultPart, seconds: float) -> None:
        self.finished.append(result)


def test_an_effect_interrupted_while_running_has_an_unknown_outcome_for_all_to_see(
    tmp_path: Path,
) -> None:
    STARTED.clear()
    RELEASE.clear()
    store = Store.open(tmp_path / "morrow.sqlite")
    store.create_session("s1")
    context = replace(bare_context(), store=store, session_id="s1")
    provider = ScriptedProvider(
        [
            calls(
                call("peek"),
                call("slow_send", to=["sam@example.com"]),
                call("slow_send", to=["kim@example.com"]),
            )
        ]
    )
    history: list[Message] = []
    screen = Screen()

    async def main() -> None:
        task = asyncio.ensure_future(
            run_turn(
                history,
                "send it to sam@example.com, then kim@example.com",
                provider=provider,
                tools=TOOLS,
                tool_context=context,
                gate=ApprovalGate(mode="allow", journal=EffectJournal(store), filter_tools=False),
                system="s",
                observer=screen,
            )
        )
        assert await asyncio.to_thread(STARTED.wait, 10)
        task.cancel()
        try:
            await task
        except asyncio.CancelledError:
            pass
        else:
            raise AssertionError("the turn was not cancelled")
        finally:
            RELEASE.set()  # the send in its worker thread goes on, and ends

    try:
        asyncio.run(main())
    finally:
        RELEASE.set()  # let the worker thread finish
    assert dangling_tool_calls(history) == []
    peeked, sam, kim = history[-1].tool_results
    assert peeked.content == "seen" and not peeked.is_error
    assert sam.is_error and sam.content.startswith("interrupted while running; outcome unknown")
    assert kim.is_error and kim.content.startswith("not run: the turn was interrupted")
    assert [r.content for r in screen.finished] == [peeked.content, sam.content]  # told too
    (entry,) = Journal(store).entries()
    assert (entry.summary, entry.status) == ("slow_send to=sam@example.com", "unknown")
    store.close()


def test_the_next_start_tells_an_interrupted_effect_even_after_a_saved_turn(tmp_path: Path):
    """``ask`` shows nothing on Ctrl-C: the cancelled turn is saved, the outcome told later."""
    from support.turns import ask, make_app

    from morrow.agent.context.sessions import Session

    STARTED.clear()
    RELEASE.clear()
    app = make_app(tmp_path, {"user": {"timezone": "UTC", "email": "alex@example.com"}})
    app.extra_tools = [slow_send]
    model = ScriptedProvider([calls(call("slow_send", to=["alex@example.com"]))])
    session = Session.open(app, model)
    gate = ApprovalGate(mode="allow", journal=app.journal(), filter_tools=False)

    async def main() -> None:
        task = asyncio.ensure_future(ask(app, session, model, "send it to me", gate=gate))
        assert await asyncio.to_thread(STARTED.wait, 10)
        task.cancel()
        try:
            await task
        except asyncio.CancelledError:
            return
        finally:
            RELEASE.set()
        raise AssertionError("the turn was not cancelled")

    try:
        asyncio.run(main())
    finally:
        RELEASE.set()
    statuses = [r["status"] for r in app.store().rows("SELECT status FROM turns")]
    assert statuses == ["cancelled"]  # saved with the interrupted result ...
    (entry,) = Journal(app.store()).entries()
    assert entry.status == "unknown" and entry.reported is None  # ... but not told by it
    with app.store().write() as db:  # as the next `morrow ask` sees it: that process ended
        db.execute("UPDATE effects SET pid = ?", (dead_pid(),))
    told = app.settle_effects()
    assert len(told) == 2 and "slow_send to=alex@example.com" in told[1]
    assert "OUTCOME UNKNOWN" in told[1]
    app.close()
