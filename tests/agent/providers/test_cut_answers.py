"""A stream that ends early is not an answer, even when the body ends cleanly.

Recorded OpenAI streams (tests/data/provider-recordings) are served whole up to an event
boundary, then the body simply ends: no transport error, no ``finish_reason``, no ``[DONE]``
(a proxy or a server that closes the response mid-answer). Such a stream must fail like any
cut stream, so it is retried or failed over, instead of becoming the final answer
("Your meeting with Sam is at"). Anthropic's stop reasons are mapped one by one.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import httpx2
import pytest
import respx
from support.cassettes import load_cassette
from support.faults import URLS, FakeTime, Transcript, adapter, retrying, sse_events, streamed
from support.turns import bare_context

from morrow.agent.errors import ProviderUnavailable
from morrow.agent.loop import run_turn
from morrow.agent.messages import Message, ModelRequest, ResponseDone, TextDelta
from morrow.agent.providers.resilience import FallbackProvider
from morrow.agent.safety.gate import ApprovalGate
from morrow.tools.base import ToolRegistry

RECORDING = Path(__file__).parents[2] / "data" / "provider-recordings" / "openai-chat"
RECORDED = ["llm__tool_use_basic_stream.yaml", "mirascope__call_with_tools__stream.yaml"]
REQUEST = ModelRequest(system="", messages=(Message.user("hi"),))


def recorded_events(name: str) -> list[bytes]:
    """Every SSE event of every recorded streamed answer in ``name``."""
    bodies = [i.text for i in load_cassette(RECORDING / name)]
    return [
        [f"{event}\n\n".encode() for event in body.split("\n\n") if event.strip()]
        for body in bodies
    ]


def before_the_end(events: list[bytes]) -> list[bytes]:
    """The events before the one that carries the ``finish_reason``."""
    for index, event in enumerate(events):
        if b'"finish_reason":"' in event:
            return events[:index]
    raise AssertionError("no finish_reason in the recording")


def content_of(event: bytes) -> str:
    """The text an OpenAI chunk carries ("" for the usage chunk and ``[DONE]``)."""
    data = event.removeprefix(b"data: ").strip()
    if data == b"[DONE]":
        return ""
    choices = json.loads(data)["choices"]
    return str(choices[0]["delta"].get("content") or "") if choices else ""


async def drain_each(bodies: list[bytes]) -> list[list[object] | ProviderUnavailable]:
    """Stream each body in turn through one adapter: its events, or the failure it raised."""
    provider = adapter("openai")
    out: list[list[object] | ProviderUnavailable] = []
    try:
        with respx.mock() as mock:
            route = mock.post(URLS["openai"])
            for body in bodies:
                route.mock(return_value=streamed(body))
                try:
                    out.append([event async for event in provider.stream(REQUEST)])
                except ProviderUnavailable as exc:
                    out.append(exc)
    finally:
        await provider.aclose()
    return out


async def drain(body: bytes) -> list[object]:
    (out,) = await drain_each([body])
    if isinstance(out, ProviderUnavailable):
        raise out
    return out


@pytest.mark.parametrize("name", RECORDED)
def test_a_recorded_stream_ended_at_any_event_before_its_finish_fails(name: str) -> None:
    bodies = [
        b"".join(head[:cut])
        for head in map(before_the_end, recorded_events(name))
        for cut in range(len(head) + 1)
    ]
    outcomes = asyncio.run(drain_each(bodies))
    assert len(outcomes) > 20
    for outcome in outcomes:
        assert isinstance(outcome, ProviderUnavailable), outcome
        assert "without a finish_reason or [DONE]" in str(outcome)


@pytest.mark.parametrize("name", RECORDED)
def test_a_stream_with_its_finish_reason_or_done_is_an_answer(name: str) -> None:
    bodies = []
    for events in recorded_events(name):
        head = before_the_end(events)
        bodies += [b"".join([*head, events[len(head)]]), b"".join([*head, b"data: [DONE]\n\n"])]
    for out in asyncio.run(drain_each(bodies)):
        assert isinstance(out, list) and isinstance(out[-1], ResponseDone), out


def test_a_half_answer_fails_over_and_the_user_sees_the_restart() -> None:
    """A clean end after "Your meeting with Sam is at": the other provider answers."""
    half = sse_events("openai", "Your meeting with Sam is at 3pm.", [])
    texts = [e for e in half if content_of(e)]
    head = [half[0], *texts[:-1]]  # the role chunk and the text but its last piece
    shown = "".join(content_of(e) for e in head)
    assert shown.startswith("Your meeting with Sam is at") and not shown.endswith(".")
    seen = Transcript()
    history: list[Message] = []

    async def go() -> str:
        time = FakeTime()
        chain = FallbackProvider(
            [
                retrying(adapter("openai"), time, max_attempts=1),
                retrying(adapter("anthropic"), time, max_attempts=1),
            ],
            clock=time.clock,
        )
        try:
            with respx.mock() as mock:
                mock.post(URLS["openai"]).mock(return_value=streamed(b"".join(head)))
                mock.post(URLS["anthropic"]).mock(
                    return_value=streamed(b"".join(sse_events("anthropic", "At 3pm.", [])))
                )
                result = await run_turn(
                    history,
                    "when do I meet Sam?",
                    provider=chain,
                    tools=ToolRegistry([]),
                    tool_context=bare_context(),
                    gate=ApprovalGate(),
                    system="s",
                    observer=seen,
                )
        finally:
            await chain.aclose()
        return result.answer

    assert asyncio.run(go()) == "At 3pm."
    assert seen.final == "At 3pm."  # the half answer was taken back
    assert [p for p, _ in seen.restarts] == ["anthropic"]
    assert history[-1].text == "At 3pm."


def test_text_deltas_before_the_cut_are_streamed_then_void() -> None:
    events = before_the_end(recorded_events(RECORDED[0])[1])
    with pytest.raises(ProviderUnavailable):
        asyncio.run(drain(b"".join(events)))

    async def partial() -> list[object]:
        provider = adapter("openai")
        seen: list[object] = []
        try:
            with respx.mock() as mock:
                mock.post(URLS["openai"]).mock(return_value=streamed(b"".join(events)))
                async for event in provider.stream(REQUEST):
                    seen.append(event)
        except ProviderUnavailable:
            return seen
        finally:
            await provider.aclose()
        raise AssertionError("the cut stream gave an answer")

    seen = asyncio.run(partial())
    assert seen and all(isinstance(e, TextDelta) for e in seen)  # shown, never ResponseDone


def test_a_cut_anthropic_stream_still_fails_the_same_way() -> None:
    events = sse_events("anthropic", "Your meeting with Sam is at 3pm.", [])
    body = b"".join(e for e in events if b"message_stop" not in e)

    async def go() -> None:
        provider = adapter("anthropic")
        try:
            with respx.mock() as mock:
                mock.post(URLS["anthropic"]).mock(
                    return_value=httpx2.Response(
                        200, headers={"content-type": "text/event-stream"}, content=body
                    )
                )
                async for _ in provider.stream(REQUEST):
                    pass
        finally:
            await provider.aclose()

    with pytest.raises(ProviderUnavailable, match="before message_stop"):
        asyncio.run(go())
