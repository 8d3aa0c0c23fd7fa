"""A stream cut at every possible position: retried or failed over, never a tool run twice.

Each step streams some text and a tool call with an effect (``record_visit``). The first
response is cut after every SSE event boundary and in the middle of every event. Whatever the
position, the turn ends with the tool run exactly once, the user's transcript holding each
text exactly once, a restart announced only when text had already been shown, and a history
valid for every provider.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx2
import pytest
import respx
from support.faults import (
    RUNS,
    TOOLS,
    URLS,
    FakeTime,
    Transcript,
    adapter,
    cut,
    error,
    retrying,
    sse_events,
    streamed,
)
from support.turns import bare_context

from morrow.agent.loop import TurnResult, run_turn
from morrow.agent.messages import Message, dangling_tool_calls
from morrow.agent.providers.base import Provider
from morrow.agent.providers.resilience import FallbackProvider
from morrow.agent.safety.gate import ApprovalGate

SAY = "Let me record that."
DONE = "Recorded your visit to Oslo."
CALL_IDS = {"anthropic": "toolu_01Cut", "openai": "call_cut_1"}


def step_events(kind: str) -> list[bytes]:
    return sse_events(kind, SAY, [(CALL_IDS[kind], "record_visit", {"city": "Oslo"})])


def cut_points(kind: str) -> list[int]:
    """Byte offsets: after every event, and in the middle of every event."""
    events = step_events(kind)
    points, offset = [0], 0
    for event in events:
        points.append(offset + len(event) // 2)
        offset += len(event)
        points.append(offset)
    return points


def answer(kind: str, request: httpx2.Request) -> httpx2.Response:
    """A whole answer to any request: the tool call first, the final text once it has a result."""
    body = json.loads(request.content)
    has_result = any(
        m.get("role") == "tool"
        or any(isinstance(b, dict) and b.get("type") == "tool_result" for b in m["content"])
        if isinstance(m.get("content"), list)
        else m.get("role") == "tool"
        for m in body["messages"]
    )
    events = sse_events(kind, DONE, []) if has_result else step_events(kind)
    return streamed(b"".join(events))


def turn(provider: Provider, observer: Transcript) -> tuple[TurnResult, list[Message]]:
    history: list[Message] = []

    async def go() -> TurnResult:
        try:
            return await run_turn(
                history,
                "I was in Oslo today, record it.",
                provider=provider,
                tools=TOOLS,
                tool_context=bare_context(),
                gate=ApprovalGate(mode="allow"),
                system="You record visits.",
                observer=observer,
            )
        finally:
            await provider.aclose()

    return asyncio.run(go()), history


def check(result: TurnResult, history: list[Message], seen: Transcript, restarts: int) -> None:
    assert RUNS == [{"city": "Oslo"}]  # the effect ran once, whatever happened to the stream
    assert result.answer == DONE
    assert seen.final == SAY + DONE  # each text exactly once in what the user reads
    assert seen.tools == ["record_visit"]
    assert len(seen.restarts) == restarts
    assert dangling_tool_calls(history) == []
    assert [m.role for m in history] == ["user", "assistant", "tool", "assistant"]


@pytest.fixture(autouse=True)
def _fresh_runs() -> None:
    RUNS.clear()


@pytest.mark.parametrize("kind", ["anthropic", "openai"])
def test_cut_at_every_position_completes_on_retry(kind: str) -> None:
    body = b"".join(step_events(kind))
    for point in cut_points(kind):
        RUNS.clear()
        calls: list[int] = []

        def route(
            request: httpx2.Request, point: int = point, calls: list[int] = calls
        ) -> httpx2.Response:
            calls.append(1)
            return cut(body[:point]) if len(calls) == 1 else answer(kind, request)

        seen = Transcript()
        with respx.mock(assert_all_called=False) as mock:
            mock.post(URLS[kind]).mock(side_effect=route)
            result, history = turn(retrying(adapter(kind), FakeTime(), max_attempts=3), seen)

        # 3 requests: cut, retried, final answer; 2 when the cut came after the whole body
        assert len(calls) in (2, 3), point
        retried = len(calls) == 3
        assert retried or point == len(body), point
        check(result, history, seen, 1 if retried and _text_in(kind, body[:point]) else 0)


@pytest.mark.parametrize(("first", "second"), [("anthropic", "openai"), ("openai", "anthropic")])
def test_cut_at_every_position_fails_over_to_the_other_api(first: str, second: str) -> None:
    body = b"".join(step_events(first))
    for point in cut_points(first):
        RUNS.clear()
        firsts: list[int] = []

        def down(_: httpx2.Request, p: int = point, firsts: list[int] = firsts) -> httpx2.Response:
            firsts.append(1)  # cut once, then overloaded: this provider is going down
            return cut(body[:p]) if len(firsts) == 1 else error(first, 529)

        seen = Transcript()
        with respx.mock(assert_all_called=False) as mock:
            mock.post(URLS[first]).mock(side_effect=down)
            seconds = mock.post(URLS[second]).mock(side_effect=lambda r: answer(second, r))
            time = FakeTime()
            chain = FallbackProvider(
                [
                    retrying(adapter(first), time, max_attempts=1),
                    retrying(adapter(second), time, max_attempts=1),
                ],
                clock=time.clock,
            )
            result, history = turn(chain, seen)

        failed_over = seconds.call_count == 2  # both steps answered by the second provider
        assert failed_over or point == len(body), point
        check(result, history, seen, 1 if failed_over and _text_in(first, body[:point]) else 0)
        for provider, reason in seen.restarts:
            assert provider == second
            assert reason.startswith(f"{first}: connection"), reason


def _text_in(kind: str, head: bytes) -> str:
    """The text a cut stream delivered: the text deltas of its complete events."""
    complete = head[: head.rfind(b"\n\n") + 2] if b"\n\n" in head else b""
    text = ""
    for raw in complete.split(b"\n\n"):
        data = next((line[6:] for line in raw.split(b"\n") if line.startswith(b"data: ")), None)
        if not data or data == b"[DONE]":
            continue
        event: dict[str, Any] = json.loads(data)
        if kind == "anthropic":
            delta = event.get("delta") or {}
            text += delta.get("text", "") if delta.get("type") == "text_delta" else ""
        else:
            for choice in event.get("choices") or []:
                text += (choice.get("delta") or {}).get("content") or ""
    return text


@pytest.mark.parametrize("kind", ["anthropic", "openai"])
@pytest.mark.parametrize("shown", [False, True], ids=["before-text", "after-text"])
def test_restart_is_announced_exactly_when_text_was_shown(kind: str, shown: bool) -> None:
    """The positions above include both cases; this pins one of each, for both APIs."""
    body = b"".join(step_events(kind))
    point = len(body) - 40 if shown else len(step_events(kind)[0])
    state = {"n": 0}

    def route(request: httpx2.Request) -> httpx2.Response:
        state["n"] += 1
        return cut(body[:point]) if state["n"] == 1 else answer(kind, request)

    seen = Transcript()
    with respx.mock(assert_all_called=False) as mock:
        mock.post(URLS[kind]).mock(side_effect=route)
        turn(retrying(adapter(kind), FakeTime()), seen)
    assert bool(seen.restarts) is shown
    assert seen.final == SAY + DONE
    assert RUNS == [{"city": "Oslo"}]
