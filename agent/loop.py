"""The agent loop: one user turn, from the request to the final answer.

``run_turn`` reads top to bottom: append the user's message; then, up to the step limit, ask
the model; with no tool calls, the answer is final; otherwise validate each call, pass the ones
with effects through the approval gate, run them (read-only calls concurrently, effects one by
one in order) and append their results. Then ask the model again.

Invariant, at every exit (answer, limit, refusal, max_tokens, an exception, Ctrl-C): each tool
call in the history has exactly one result, so the history is valid for every provider. Bad
arguments, unknown tools and tool exceptions become error results the model reads and can
correct; they never end the turn. The loop never prints: callers watch it through an
:class:`Observer`.

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
    DataPart,
    Message,
    ModelRequest,
    ModelResponse,
    ResponseDone,
    StepRestarted,
    TextDelta,
    TextPart,
    ToolCallPart,
    ToolResultPart,
    ToolSpec,
    Usage,
)
from morrow.agent.providers.base import Provider
from morrow.agent.safety.gate import ApprovalGate
from morrow.tools.base import Tool, ToolRegistry
from morrow.tools.context import ToolContext
from morrow.tools.errors import ToolError, ToolRetry

if TYPE_CHECKING:
    from morrow.agent.context.window import ContextWindow

log = structlog.get_logger("morrow.loop")

Stop = Literal["answer", "max_tokens", "refusal"]


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
        answer: the model's final text (for ``max_tokens`` and ``refusal``, what it said).
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
    data: Sequence[DataPart] = (),
) -> TurnResult:
    """Run one user turn to its end, appending every message to ``history``.

    ``tool_context`` is the turn's context for the tools; each call gets its own copy with its
    call id. With a ``context`` window, each request is fitted to the model's budget before it
    is sent (old turns summarized, long tool results cut); ``history`` itself keeps every
    message. ``data`` is what morrow itself adds to the user's message (a briefing's gathered
    mail and events): the model reads it, provenance never takes it for the user's words.

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
    history.append(Message(role="user", parts=(TextPart(text=text), *data)))
    usage, calls = Usage(), list[CallRecord]()
    by_model: dict[tuple[str, str], Usage] = {}
    done: dict[str, ToolResultPart] = {}
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
            response = await _model_step(provider, request, observer, stream, step)
            if context is not None:
                context.observe(response)
            usage += response.usage
            key = (response.provider, response.model)
            by_model[key] = by_model.get(key, Usage()) + response.usage
            history.append(response.to_message())
            if not response.tool_calls or response.stop_reason in ("max_tokens", "refusal"):
                stop = _stop_of(response)
                _answer_dangling(history, done, f"not run: the reply ended with {stop}")
                return TurnResult(
                    response.text,
                    stop,
                    step,
                    usage,
                    response.provider,
                    response.model,
                    calls,
                    by_model,
                )
            done.clear()
            await _run_calls(
                response.tool_calls, tools, tool_context, gate, observer, done, history
            )
            history.append(
                Message(role="tool", parts=tuple(done[c.id] for c in response.tool_calls))
            )
            calls += [
                CallRecord(c.name, c.arguments, done[c.id].is_error) for c in response.tool_calls
            ]
        raise TurnLimitExceeded(
            f"stopped after {limits.max_steps} model steps without a final answer"
        )
    finally:
        _answer_dangling(history, done, "not run: the turn was interrupted before it finished")


def _stop_of(response: ModelResponse) -> Stop:
    if response.stop_reason == "max_tokens":
        return "max_tokens"
    if response.stop_reason == "refusal":
        return "refusal"
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
    observer: Observer,
    done: dict[str, ToolResultPart],
    history: Sequence[Message] = (),
) -> None:
    """Run one step's calls, writing each result into ``done`` as soon as it exists.

    Each effect is reviewed by the gate against ``history`` (where its addresses came from,
    whether it already ran), decided, and run through the gate's effect journal.
    """
    ready: list[tuple[ToolCallPart, Tool, Any]] = []
    for call in calls:
        try:
            tool, args = _prepare(call, tools)
        except ToolRetry as exc:
            _record(done, observer, call, str(exc), is_error=True, seconds=0.0)
            continue
        ready.append((call, tool, args))
    reads = [item for item in ready if item[1].effect_for(item[2]) == "read"]
    effects = [item for item in ready if item[1].effect_for(item[2]) != "read"]
    await asyncio.gather(
        *(_execute(c, t, a, turn.for_call(c.id), observer, done) for c, t, a in reads)
    )
    for call, tool, args in effects:
        context = turn.for_call(call.id)
        request = await gate.review(tool, args, context, history=history)
        decision = await gate.decide(request)
        if not decision.approved:
            _record(done, observer, call, decision.reason, is_error=True, seconds=0.0)
            continue
        if decision.arguments is not None:
            try:
                args = tool.validate(decision.arguments)
            except ToolRetry as exc:
                _record(done, observer, call, f"edited action invalid: {exc}", True, 0.0)
                continue
            # the user's edit is what runs: the observer (the tool line) shows it, not the
            # model's arguments; the result answers the same call id
            call = call.model_copy(update={"arguments": decision.arguments})
        await _execute(call, tool, args, context, observer, done, gate)


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
    observer: Observer,
    done: dict[str, ToolResultPart],
    effects: ApprovalGate | None = None,
) -> None:
    observer.tool_started(call)
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
    seconds = time.perf_counter() - started
    _record(done, observer, call, content, is_error, seconds)
    log.info("tool_call", tool=call.name, is_error=is_error, latency_ms=round(seconds * 1000, 1))


def _record(
    done: dict[str, ToolResultPart],
    observer: Observer,
    call: ToolCallPart,
    content: str,
    is_error: bool,
    seconds: float,
) -> None:
    result = ToolResultPart(call_id=call.id, name=call.name, content=content, is_error=is_error)
    done[call.id] = result
    observer.tool_finished(call, result, seconds)


def _answer_dangling(history: list[Message], done: dict[str, ToolResultPart], reason: str) -> None:
    """Give every unanswered call of the last step a result (after Ctrl-C, a crash, a cut)."""
    if not history or history[-1].role != "assistant" or not history[-1].tool_calls:
        return
    parts = [
        done.get(call.id)
        or ToolResultPart(call_id=call.id, name=call.name, is_error=True, content=reason)
        for call in history[-1].tool_calls
    ]
    history.append(Message(role="tool", parts=tuple(parts)))
