"""The agent loop: one user turn, from the request to the final answer.

``run_turn`` reads top to bottom: append the user's message; then, up to the step limit, ask
the model; with no tool calls, the answer is final; otherwise validate each call, pass the ones
with effects through the approval gate, run them in the model's order (consecutive reads
together, each effect alone, as a barrier) and append their results in call order. Then ask
the model again. A step the provider paused (``pause_turn``) is sent back as it is.

Invariant, at every exit (answer, limit, refusal, max_tokens, an exception, Ctrl-C): each tool
call in the history has exactly one result, so the history is valid for every provider. A call
interrupted while it ran says so; an effect interrupted that way has an unknown outcome, and
the model and the observer are told exactly that (the effect journal knows it too). Bad
arguments, unknown tools and tool exceptions become error results the model reads and can
correct; they never end the turn. Every call has an id no other call of the history has
(:func:`_own_ids`). The loop never prints: callers watch it through an :class:`Observer`.

Tools get their context from the caller's :class:`~morrow.tools.context.ToolContext` for the
turn (the world, the store, the session, the user's words), one per call with its call id.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import structlog

from morrow.agent.errors import ProviderRejected, TurnLimitExceeded
from morrow.agent.messages import (
    Message,
    ModelRequest,
    ModelResponse,
    Part,
    ResponseDone,
    StepRestarted,
    TextDelta,
    ToolCallPart,
    ToolResultPart,
    ToolSpec,
    Usage,
)
from morrow.agent.providers.base import Provider
from morrow.agent.safety.gate import ApprovalGate
from morrow.tools.base import Effect, Tool, ToolRegistry
from morrow.tools.context import ToolContext
from morrow.tools.errors import ToolError, ToolRetry

if TYPE_CHECKING:
    from morrow.agent.context.window import ContextWindow

log = structlog.get_logger("morrow.loop")

Stop = Literal["answer", "max_tokens", "refusal", "context_window_exceeded"]


@dataclass(frozen=True)
class Limits:
    """How far one turn may go."""

    max_steps: int = 12
    max_output_tokens: int = 4096


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


@dataclass(frozen=True)
class CallRecord:
    """One tool call of the turn, as reported to the user (``ask --json``)."""

    name: str
    arguments: dict[str, Any]
    is_error: bool


@dataclass
class TurnResult:
    """What a turn produced.

    Attributes:
        answer: the model's final text (for ``max_tokens``, ``refusal`` and
            ``context_window_exceeded``, what it said before it stopped).
        stop: why the turn ended.
        steps: model steps taken.
        usage: tokens of every step, summed.
        provider: the provider of the last step.
        model: the model of the last step.
        calls: every tool call, in order.
        usage_by_model: tokens per ``(provider, model)`` that answered a step, so a caller can
            price the turn (``morrow.agent.providers.metering.PriceTable.turn_cost``) or store
            session totals.
    """

    answer: str
    stop: Stop
    steps: int
    usage: Usage
    provider: str
    model: str
    calls: list[CallRecord] = field(default_factory=list)
    usage_by_model: dict[tuple[str, str], Usage] = field(default_factory=dict)


async def run_turn(
    history: list[Message],
    text: str,
    *,
    provider: Provider,
    tools: ToolRegistry,
    tool_context: ToolContext,
    gate: ApprovalGate,
    system: str,
    limits: Limits | None = None,
    observer: Observer | None = None,
    stream: bool = True,
    context: ContextWindow | None = None,
) -> TurnResult:
    """Run one user turn to its end, appending every message to ``history``.

    ``tool_context`` is the turn's context for the tools; each call gets its own copy with its
    call id. With a ``context`` window, each request is fitted to the model's budget before it
    is sent (old turns summarized, long tool results cut); ``history`` itself keeps every
    message.

    Raises:
        TurnLimitExceeded: the model was still calling tools after ``limits.max_steps`` steps.
        ProviderError: the model could not be reached (after the provider's own policy).
    """
    limits = limits or Limits()
    observer = observer or Observer()
    tools = gate.offered(text, tools)  # a request that only reads is offered read tools only
    specs = tuple(
        ToolSpec(name=t.name, description=t.description, parameters=t.parameters) for t in tools
    )
    history.append(Message.user(text))
    usage, calls = Usage(), list[CallRecord]()
    by_model: dict[tuple[str, str], Usage] = {}
    step_calls = _StepCalls(observer)
    paused = ""  # what the model wrote before it paused its turn (``pause_turn``)
    try:
        for step in range(1, limits.max_steps + 1):
            request = ModelRequest(
                system=system,
                messages=tuple(history),
                tools=specs,
                max_tokens=limits.max_output_tokens,
            )
            if context is not None:
                request = await context.fit(request)
            observer.step_started(step)
            response = _own_ids(
                await _model_step(provider, request, observer, stream, step), history
            )
            if context is not None:
                context.observe(response)
            usage += response.usage
            key = (response.provider, response.model)
            by_model[key] = by_model.get(key, Usage()) + response.usage
            history.append(response.to_message())
            if response.stop_reason == "pause_turn" and not response.tool_calls:
                paused += response.text  # sent back as it is, the model goes on
                continue
            if not response.tool_calls or response.stop_reason in _CUT_SHORT:
                stop = _stop_of(response)
                step_calls.answer_dangling(history, f"not run: the reply ended with {stop}")
                return TurnResult(
                    paused + response.text,
                    stop,
                    step,
                    usage,
                    response.provider,
                    response.model,
                    calls,
                    by_model,
                )
            paused = ""
            step_calls.start()
            await _run_calls(response.tool_calls, tools, tool_context, gate, step_calls, history)
            results = [step_calls.results[c.id] for c in response.tool_calls]
            history.append(Message(role="tool", parts=tuple(results)))
            calls += [
                CallRecord(c.name, c.arguments, r.is_error)
                for c, r in zip(response.tool_calls, results, strict=True)
            ]
        raise TurnLimitExceeded(
            f"stopped after {limits.max_steps} model steps without a final answer"
        )
    finally:
        step_calls.answer_dangling(history, "not run: the turn was interrupted before it finished")


# Replies cut short: what they say is incomplete and their tool calls do not run.
_CUT_SHORT = ("max_tokens", "refusal", "context_window_exceeded")
INTERRUPTED_EFFECT = (
    "interrupted while running; outcome unknown: it may or may not have happened. "
    "Do not run it again on your own; tell the user to check"
)
INTERRUPTED_READ = "interrupted while running (it only reads: nothing was changed)"


@dataclass
class _StepCalls:
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


def _own_ids(response: ModelResponse, history: Sequence[Message]) -> ModelResponse:
    """The response with each tool call's id unique in the history.

    The adapters give every call an id of morrow's own (the provider's is its ``wire_id``); a
    scripted model or an old recording may repeat one, within a step or from an earlier one.
    Such a call gets the next free ``<id>-<n>`` (deterministic, so a replay sends the same).
    """
    seen = {c.id for m in history if m.role == "assistant" for c in m.tool_calls}
    parts: list[Part] = []
    for part in response.parts:
        if isinstance(part, ToolCallPart):
            if part.id in seen:
                n = 2
                while f"{part.id}-{n}" in seen:
                    n += 1
                wire = part.wire_id or part.id
                part = part.model_copy(update={"id": f"{part.id}-{n}", "wire_id": wire})
            seen.add(part.id)
        parts.append(part)
    if tuple(parts) == response.parts:
        return response
    return response.model_copy(update={"parts": tuple(parts)})


def _stop_of(response: ModelResponse) -> Stop:
    reason = response.stop_reason
    if reason in ("max_tokens", "refusal", "context_window_exceeded"):
        return reason
    return "answer"


async def _model_step(
    provider: Provider, request: ModelRequest, observer: Observer, stream: bool, step: int
) -> ModelResponse:
    started = time.perf_counter()
    if stream:
        response = None
        events = provider.stream(request)
        try:
            async for event in events:
                if isinstance(event, TextDelta):
                    observer.text(event.text)
                elif isinstance(event, StepRestarted):  # a retry or failover after output
                    observer.step_restarted(step, event.provider, event.reason)
                elif isinstance(event, ResponseDone):
                    response = event.response
        finally:  # close the stream (and its HTTP response) also on Ctrl-C
            close = getattr(events, "aclose", None)
            if close is not None:
                await close()
        if response is None:
            raise ProviderRejected("the stream ended without a response", provider=provider.name)
    else:
        response = await provider.complete(request)
    log.info(
        "model_step",
        step=step,
        provider=response.provider,
        model=response.model,
        latency_ms=round((time.perf_counter() - started) * 1000, 1),
        input_tokens=response.usage.input_tokens,
        output_tokens=response.usage.output_tokens,
        stop=response.stop_reason,
        tool_calls=len(response.tool_calls),
    )
    return response


async def _run_calls(
    calls: Sequence[ToolCallPart],
    tools: ToolRegistry,
    turn: ToolContext,
    gate: ApprovalGate,
    step: _StepCalls,
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
    reads: Sequence[tuple[ToolCallPart, Tool, Any]], turn: ToolContext, step: _StepCalls
) -> None:
    """Run read-only calls concurrently (synchronous tools in worker threads)."""
    await asyncio.gather(*(_execute(c, t, a, turn.for_call(c.id), step) for c, t, a in reads))


async def _run_effect(
    call: ToolCallPart,
    tool: Tool,
    args: Any,
    turn: ToolContext,
    gate: ApprovalGate,
    step: _StepCalls,
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
    step: _StepCalls,
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
