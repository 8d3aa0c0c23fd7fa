"""Running one step's tool calls: in the model's order, each result as soon as it exists.

:func:`run_calls` is the loop's helper (``agent/loop.py``): consecutive reads run together,
concurrently (synchronous tools in worker threads); each effect runs alone, through the
approval gate and the effect journal, as a barrier, so a read asked for after a change sees it.
:class:`StepCalls` holds the step's results and what is running, so that a turn ending halfway
(Ctrl-C, a crash of the provider, a cut reply) still gives every call exactly one result, and
an effect interrupted while it ran says its outcome is unknown. Bad arguments, unknown tools
and tool exceptions become error results the model reads and can correct.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import structlog

from morrow.agent.messages import Message, ToolCallPart, ToolResultPart
from morrow.agent.safety.gate import ApprovalGate
from morrow.tools.base import Effect, Tool, ToolRegistry
from morrow.tools.context import ToolContext
from morrow.tools.errors import ToolError, ToolRetry

log = structlog.get_logger("morrow.loop")


class Observer:
    """Hooks through which a caller watches a turn; every method is a no-op here."""

    def text(self, delta: str) -> None:
        """The model streamed some text."""

    def step_started(self, step: int) -> None:
        """A model step is about to be requested."""

    def step_restarted(self, step: int, provider: str, reason: str) -> None:
        """The step starts over: discard the text streamed since it began; it comes again."""

    def tool_started(self, call: ToolCallPart) -> None:
        """A tool call is about to run."""

    def tool_finished(self, call: ToolCallPart, result: ToolResultPart, seconds: float) -> None:
        """A tool call ended (or was refused, or failed validation)."""


INTERRUPTED_EFFECT = (
    "interrupted while running; outcome unknown: it may or may not have happened. "
    "Do not run it again on your own; tell the user to check"
)
INTERRUPTED_READ = "interrupted while running (it only reads: nothing was changed)"


@dataclass
class StepCalls:
    """The tool calls of the step under way: their results as they come, what is running.

    Every call of the last assistant message gets exactly one result, also when the turn ends
    halfway (:meth:`answer_dangling`): a call that never started was "not run"; one that was
    running when the turn was interrupted says so, and an effect among them has an unknown
    outcome (the effect journal says the same).
    """

    observer: Observer
    results: dict[str, ToolResultPart] = field(default_factory=dict)
    running: dict[str, tuple[ToolCallPart, Effect, float]] = field(default_factory=dict)

    def start(self) -> None:
        """A new step's calls are about to run."""
        self.results.clear()
        self.running.clear()

    def began(self, call: ToolCallPart, effect: Effect) -> None:
        """``call`` starts running."""
        self.observer.tool_started(call)
        self.running[call.id] = (call, effect, time.perf_counter())

    def record(self, call: ToolCallPart, content: str, is_error: bool) -> None:
        """``call`` has its result (it ran, failed, was refused or was invalid)."""
        _, _, started = self.running.pop(call.id, (call, "read", time.perf_counter()))
        result = ToolResultPart(call_id=call.id, name=call.name, content=content, is_error=is_error)
        self.results[call.id] = result
        self.observer.tool_finished(call, result, time.perf_counter() - started)

    def answer_dangling(self, history: list[Message], reason: str) -> None:
        """Give every unanswered call of the last step a result (after Ctrl-C, a crash, a cut)."""
        if not history or history[-1].role != "assistant" or not history[-1].tool_calls:
            return
        for call, effect, _ in list(self.running.values()):  # the user is told too
            self.record(call, INTERRUPTED_EFFECT if effect != "read" else INTERRUPTED_READ, True)
        parts = [
            self.results.get(call.id)
            or ToolResultPart(call_id=call.id, name=call.name, is_error=True, content=reason)
            for call in history[-1].tool_calls
        ]
        history.append(Message(role="tool", parts=tuple(parts)))


async def run_calls(
    calls: Sequence[ToolCallPart],
    tools: ToolRegistry,
    turn: ToolContext,
    gate: ApprovalGate,
    step: StepCalls,
    history: Sequence[Message] = (),
) -> None:
    """Run one step's calls in the model's order, each result into ``step`` as soon as it exists.

    Consecutive reads run together; each effect is a barrier: the reads before it have ended
    when it runs, and the calls after it start when it has ended, so a listing asked for after
    a change sees the change. Each effect is reviewed by the gate against ``history`` (where
    its addresses came from, whether it already ran), decided, and run through the gate's
    effect journal.
    """
    reads: list[tuple[ToolCallPart, Tool, Any]] = []
    for call in calls:
        try:
            tool, args = _prepare(call, tools)
        except ToolRetry as exc:
            step.record(call, str(exc), is_error=True)
            continue
        if tool.effect_for(args) == "read":
            reads.append((call, tool, args))
            continue
        await _run_reads(reads, turn, step)
        reads = []
        await _run_effect(call, tool, args, turn, gate, step, history)
    await _run_reads(reads, turn, step)


async def _run_reads(
    reads: Sequence[tuple[ToolCallPart, Tool, Any]], turn: ToolContext, step: StepCalls
) -> None:
    """Run read-only calls concurrently (synchronous tools in worker threads)."""
    await asyncio.gather(*(_execute(c, t, a, turn.for_call(c.id), step) for c, t, a in reads))


async def _run_effect(
    call: ToolCallPart,
    tool: Tool,
    args: Any,
    turn: ToolContext,
    gate: ApprovalGate,
    step: StepCalls,
    history: Sequence[Message],
) -> None:
    context = turn.for_call(call.id)
    request = await gate.review(tool, args, context, history=history)
    decision = await gate.decide(request)
    if not decision.approved:
        step.record(call, decision.reason, is_error=True)
        return
    if decision.arguments is not None:
        try:
            args = tool.validate(decision.arguments)
        except ToolRetry as exc:
            step.record(call, f"edited action invalid: {exc}", is_error=True)
            return
        # the user's edit is what runs: the observer (the tool line) shows it, not the
        # model's arguments; the result answers the same call id
        call = call.model_copy(update={"arguments": decision.arguments})
    await _execute(call, tool, args, context, step, gate)


def _prepare(call: ToolCallPart, tools: ToolRegistry) -> tuple[Tool, Any]:
    tool = tools.get(call.name)
    if tool is None:
        available = ", ".join(tools.names()) or "none"
        raise ToolRetry(f"unknown tool {call.name!r}; available tools: {available}")
    if call.raw_arguments is not None:
        raise ToolRetry(f"the arguments were not a valid JSON object: {call.raw_arguments[:200]!r}")
    return tool, tool.validate(call.arguments)


async def _execute(
    call: ToolCallPart,
    tool: Tool,
    args: Any,
    context: ToolContext,
    step: StepCalls,
    effects: ApprovalGate | None = None,
) -> None:
    step.began(call, tool.effect_for(args))
    started = time.perf_counter()
    try:
        if effects is not None:  # an approved effect: through the journal
            content = await effects.run(tool, args, context)
        else:
            content = await tool.run(context, args)
        is_error = False
    except (ToolError, ToolRetry) as exc:
        content, is_error = str(exc) or type(exc).__name__, True
    except Exception as exc:  # a bug in a tool must not end the turn: the model is told
        log.exception("tool_crashed", tool=call.name)
        content, is_error = f"internal error in {call.name}: {type(exc).__name__}: {exc}", True
    step.record(call, content, is_error)
    seconds = time.perf_counter() - started
    log.info("tool_call", tool=call.name, is_error=is_error, latency_ms=round(seconds * 1000, 1))
