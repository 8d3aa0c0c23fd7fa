"""The ten seeded mutants: each breaks one behaviour, through a monkeypatch.

The patches aim at behaviour (a tool by the name the model calls it, the gate's public
methods, the function that builds the prompt) rather than at private code, so they survive
refactors; where a private name is the only handle (the loop's step runner), it is named once
here. :func:`apply` refuses a target that does not exist (:class:`NotApplied`), so a renamed
function makes a mutant fail loudly instead of passing as "survived" while doing nothing.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo


class NotApplied(RuntimeError):
    """A mutant's target is gone (renamed or removed): update the mutant."""


@dataclass(frozen=True)
class Mutant:
    """One seeded bug.

    Attributes:
        name: a short id (``make mutants ONLY=name``).
        breaks: what it breaks, in a user's words.
        apply: installs the monkeypatch in this process.
        tests: the test paths most likely to notice it (run first; then the whole suite).
    """

    name: str
    breaks: str
    apply: Callable[[], None]
    tests: tuple[str, ...]


def _replace(owner: Any, name: str, new: Any) -> Any:
    """Swap ``owner.name`` for ``new``; the old value (it must exist)."""
    if not hasattr(owner, name):
        raise NotApplied(f"{getattr(owner, '__name__', owner)!r} has no {name!r}")
    old = getattr(owner, name)
    setattr(owner, name, new)
    return old


def _wrap_tool(tool_name: str, change: Callable[..., Any]) -> None:
    """Make the tool called ``tool_name`` run ``change(original_run, tool, workspace, args)``."""
    from morrow.tools.base import Tool
    from morrow.tools.catalog import all_tools

    if tool_name not in {t.name for t in all_tools()}:
        raise NotApplied(f"no tool named {tool_name!r}")
    original = Tool.run

    async def run(self: Tool, workspace: Any, args: Any) -> str:
        if self.name != tool_name:
            return await original(self, workspace, args)
        result: str = await change(original, self, workspace, args)
        return result

    _replace(Tool, "run", run)


def list_events_drops_the_last() -> None:
    """``list_events`` answers without the last event it found."""

    async def change(run: Any, tool: Any, workspace: Any, args: Any) -> str:
        events = json.loads(await run(tool, workspace, args))
        return json.dumps(events[:-1] if isinstance(events, list) else events)

    _wrap_tool("list_events", change)


def loop_drops_the_second_call() -> None:
    """The loop runs only the first tool call of a step; the others get an empty result."""
    from morrow.agent import loop
    from morrow.agent.messages import ToolResultPart

    original = loop.run_calls  # type: ignore[attr-defined]  # imported there, patched there
    signature = inspect.signature(original)
    if not {"calls", "step"} <= set(signature.parameters):  # bound by name: survives reordering
        raise NotApplied("the loop's step runner no longer takes calls and step")

    async def run_calls(*args: Any, **kwargs: Any) -> None:
        bound = signature.bind(*args, **kwargs)
        calls = bound.arguments["calls"]
        bound.arguments["calls"] = calls[:1]
        await original(*bound.args, **bound.kwargs)
        for call in calls[1:]:
            bound.arguments["step"].results[call.id] = ToolResultPart(
                call_id=call.id, name=call.name, content="{}"
            )

    _replace(loop, "run_calls", run_calls)


def read_thread_searches() -> None:
    """``read_thread`` answers with a search for the thread's subject, not the thread."""
    from morrow.tools.email.tools import search_emails

    async def change(run: Any, tool: Any, workspace: Any, args: Any) -> str:
        thread = json.loads(await run(tool, workspace, args))
        subject = str(thread["messages"][0].get("subject", "")).removeprefix("Re: ")
        found = await search_emails.run(workspace, search_emails.validate({"query": subject}))
        return json.dumps({"thread_id": args.thread_id, "messages": json.loads(found)})

    _wrap_tool("read_thread", change)


def create_event_in_utc() -> None:
    """``create_event`` files the event in UTC instead of the user's zone (same instant)."""
    utc = ZoneInfo("UTC")

    async def change(run: Any, tool: Any, workspace: Any, args: Any) -> str:
        moved = args.model_copy(
            update={"start": args.start.astimezone(utc), "end": args.end.astimezone(utc)}
        )
        result: str = await run(tool, workspace, moved)
        return result

    _wrap_tool("create_event", change)


def gate_approves_everything() -> None:
    """The approval gate approves every action, in every mode, untrusted or not."""
    from morrow.agent.safety.gate import ApprovalGate, ApprovalRequest, Decision

    async def decide(self: ApprovalGate, request: ApprovalRequest) -> Decision:
        decision = Decision(approved=True)
        self.decisions.append((request, decision))
        return decision

    _replace(ApprovalGate, "decide", decide)


def provenance_off() -> None:
    """No address, link or copied text is ever found untrusted."""
    from morrow.agent.safety import trust

    _replace(trust, "check_action", lambda *args, **kwargs: [])


def tool_filter_off() -> None:
    """Every turn is offered every tool, whatever the user asked."""
    from morrow.agent.safety.gate import ApprovalGate

    _replace(ApprovalGate, "offered", lambda self, text, tools: tools)


def mark_email_does_nothing() -> None:
    """``mark_email`` says it marked the email and changes nothing."""
    from morrow.tools.base import to_json

    async def change(run: Any, tool: Any, workspace: Any, args: Any) -> str:
        return to_json({"email_id": args.email_id, "read": args.read})

    _wrap_tool("mark_email", change)


def send_email_drops_cc() -> None:
    """``send_email`` sends to To and Bcc and silently drops Cc."""

    async def change(run: Any, tool: Any, workspace: Any, args: Any) -> str:
        result: str = await run(tool, workspace, args.model_copy(update={"cc": ()}))
        return result

    _wrap_tool("send_email", change)


def prompt_clock_in_utc() -> None:
    """The system prompt tells the time in UTC (offset +00:00) under the user's zone name."""
    from morrow.agent import app
    from morrow.agent.context import prompt

    original = prompt.system_prompt

    def system_prompt(user: Any, now: datetime, facts: Any = ()) -> str:
        right = original(user, now, facts)
        wrong = f"Now: {now.astimezone(UTC):%A %Y-%m-%d %H:%M} in {user.timezone} (UTC+00:00)."
        return "\n".join(wrong if ln.startswith("Now: ") else ln for ln in right.splitlines())

    probe = system_prompt(_Berlin(), datetime(2026, 3, 2, 8, 30, tzinfo=UTC))
    if "(UTC+00:00)" not in probe:
        raise NotApplied("the prompt has no 'Now: ' line to put in the wrong zone")
    _replace(app, "system_prompt", system_prompt)


class _Berlin:
    timezone = "Europe/Berlin"
    zone = ZoneInfo("Europe/Berlin")
    name, email, working_hours = "A", "a@example.com", "09:00-17:00"


MUTANTS: tuple[Mutant, ...] = (
    Mutant(
        "list-events-wrong-data",
        "list_events leaves out the last event",
        list_events_drops_the_last,
        ("tests/tools/test_calendar_tools.py",),
    ),
    Mutant(
        "loop-drops-second-call",
        "the loop runs only the first call of a step",
        loop_drops_the_second_call,
        ("tests/agent/test_loop.py",),
    ),
    Mutant(
        "read-thread-searches",
        "read_thread answers with a search",
        read_thread_searches,
        ("tests/tools/test_email_tools.py",),
    ),
    Mutant(
        "create-event-in-utc",
        "create_event files events in UTC",
        create_event_in_utc,
        ("tests/tools/test_calendar_tools.py",),
    ),
    Mutant(
        "gate-approves-everything",
        "the gate approves every action",
        gate_approves_everything,
        ("tests/agent/safety/test_approval_gate.py",),
    ),
    Mutant(
        "provenance-off",
        "nothing is ever untrusted",
        provenance_off,
        ("tests/agent/safety/test_approval_gate.py",),
    ),
    Mutant(
        "tool-filter-off",
        "every turn is offered every tool",
        tool_filter_off,
        ("tests/agent/safety/test_approval_gate.py",),
    ),
    Mutant(
        "mark-email-does-nothing",
        "mark_email changes nothing",
        mark_email_does_nothing,
        ("tests/tools/test_email_tools.py",),
    ),
    Mutant(
        "send-drops-cc",
        "send_email drops Cc",
        send_email_drops_cc,
        ("tests/tools/test_email_tools.py",),
    ),
    Mutant(
        "prompt-clock-in-utc",
        "the prompt's clock is in the wrong zone",
        prompt_clock_in_utc,
        ("tests/evals/test_replay_divergence.py",),
    ),
)


def mutant(name: str) -> Mutant:
    """The mutant called ``name``.

    Raises:
        KeyError: no such mutant (the message lists them).
    """
    for candidate in MUTANTS:
        if candidate.name == name:
            return candidate
    raise KeyError(f"no mutant {name!r}; known: {', '.join(m.name for m in MUTANTS)}")
