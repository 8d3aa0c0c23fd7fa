"""The agent loop: one user turn, from the request to the final answer.

``run_turn`` reads top to bottom: append the user's message; then, up to the step limit, ask
the model; with no tool calls, the answer is final; otherwise validate each call, pass the ones
with effects through the approval gate, run them in the model's order (consecutive reads
together, each effect alone, as a barrier) and append their results in call order. Then ask
the model again (the calls of a step: :mod:`morrow.agent.calls`). A step the provider paused
(``pause_turn``) is sent back as it is.

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

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import structlog

from morrow.agent.calls import INTERRUPTED_EFFECT, INTERRUPTED_READ, Observer, StepCalls, run_calls
from morrow.agent.errors import ProviderRejected, TurnLimitExceeded
from morrow.agent.messages import (
    DataPart,
    Message,
    ModelRequest,
    ModelResponse,
    Part,
    ResponseDone,
    StepRestarted,
    TextDelta,
    TextPart,
    ToolCallPart,
    ToolSpec,
    Usage,
)
from morrow.agent.providers.base import Provider
from morrow.agent.safety.gate import ApprovalGate
from morrow.tools.base import ToolRegistry
from morrow.tools.context import ToolContext

if TYPE_CHECKING:
    from morrow.agent.context.window import ContextWindow

log = structlog.get_logger("morrow.loop")

__all__ = [
    "INTERRUPTED_EFFECT",
    "INTERRUPTED_READ",
    "CallRecord",
    "Limits",
    "Observer",
    "TurnResult",
    "run_turn",
]

Stop = Literal["answer", "max_tokens", "refusal", "context_window_exceeded"]


@dataclass(frozen=True)
class Limits:
    """How far one turn may go."""

    max_steps: int = 12
    max_output_tokens: int = 4096


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
    step_calls = StepCalls(observer)
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
            await run_calls(response.tool_calls, tools, tool_context, gate, step_calls, history)
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
