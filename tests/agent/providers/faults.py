"""Shared by the resilience tests: wire bodies of both APIs, faults, a fake clock, a transcript.

The bodies follow the recorded traffic in tests/data/provider-recordings (the same event and
chunk shapes), built here so a test can say exactly what is streamed and where it is cut.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx2

from morrow.agent.loop import Observer
from morrow.agent.messages import ToolCallPart, ToolResultPart
from morrow.agent.providers.anthropic import AnthropicProvider
from morrow.agent.providers.base import Provider
from morrow.agent.providers.openai import OpenAIProvider
from morrow.agent.providers.resilience import RetryingProvider, RetryPolicy, Timing
from morrow.tools.base import ToolRegistry, tool
from morrow.tools.context import ToolContext

ANTHROPIC_URL = "https://api.anthropic.com/v1/messages"
OPENAI_URL = "https://api.openai.com/v1/chat/completions"
URLS = {"anthropic": ANTHROPIC_URL, "openai": OPENAI_URL}
KEYS = {"anthropic": "sk-ant-test-resilience-0123456789", "openai": "sk-test-resilience-0123456789"}
MODELS = {"anthropic": "claude-sonnet-5", "openai": "gpt-5-mini"}


def adapter(kind: str, name: str | None = None) -> Provider:
    """A real adapter of ``kind`` talking to the API's real URL (respx answers)."""
    if kind == "anthropic":
        return AnthropicProvider(name=name or kind, model=MODELS[kind], api_key=KEYS[kind])
    return OpenAIProvider(name=name or kind, model=MODELS[kind], api_key=KEYS[kind])


@dataclass
class FakeTime:
    """A monotonic clock that only moves when something sleeps; records every wait asked for."""

    now: float = 0.0
    waits: list[float] = field(default_factory=list)

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.waits.append(float(seconds))
        self.now += float(seconds)

    def timing(self) -> Timing:
        """Injected timing: this clock, this sleep, and jitter that always picks the ceiling."""
        return Timing(sleep=self.sleep, clock=self.clock, jitter=lambda ceiling: ceiling)


def retrying(
    inner: Provider, time: FakeTime, *, deadline: float | None = None, **policy: Any
) -> RetryingProvider:
    return RetryingProvider(
        inner, RetryPolicy(**policy), timing=time.timing(), step_deadline=deadline
    )


# -- bodies -------------------------------------------------------------------------------------


def answer_json(kind: str, text: str) -> dict[str, Any]:
    if kind == "anthropic":
        return {
            "id": "msg_ok",
            "type": "message",
            "role": "assistant",
            "model": MODELS[kind],
            "content": [{"type": "text", "text": text}],
            "stop_reason": "end_turn",
            "stop_sequence": None,
            "usage": {"input_tokens": 20, "output_tokens": 5},
        }
    return {
        "id": "chatcmpl-ok",
        "object": "chat.completion",
        "created": 0,
        "model": MODELS[kind],
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}
        ],
        "usage": {"prompt_tokens": 20, "completion_tokens": 5, "total_tokens": 25},
    }


def ok(kind: str, text: str = "hello") -> httpx2.Response:
    return httpx2.Response(200, json=answer_json(kind, text))


def error(kind: str, status: int, headers: dict[str, str] | None = None) -> httpx2.Response:
    """An error answer in the API's own shape."""
    if kind == "anthropic":
        kinds = {429: "rate_limit_error", 529: "overloaded_error", 401: "authentication_error"}
        body: dict[str, Any] = {
            "type": "error",
            "error": {"type": kinds.get(status, "api_error"), "message": f"status {status}"},
        }
    else:
        body = {"error": {"message": f"status {status}", "type": "error", "code": None}}
    return httpx2.Response(status, headers=headers or {}, json=body)


def sse_events(kind: str, text: str, calls: list[tuple[str, str, dict[str, Any]]]) -> list[bytes]:
    """The stream of one step (text, then tool calls ``(id, name, arguments)``), event by event."""
    if kind == "anthropic":
        return _anthropic_events(text, calls)
    return _openai_chunks(text, calls)


def _anthropic_events(text: str, calls: list[tuple[str, str, dict[str, Any]]]) -> list[bytes]:
    def event(data: dict[str, Any]) -> bytes:
        return f"event: {data['type']}\ndata: {json.dumps(data)}\n\n".encode()

    start = answer_json("anthropic", "")
    start.update(content=[], stop_reason=None, usage={"input_tokens": 20, "output_tokens": 1})
    out = [event({"type": "message_start", "message": start})]
    index = 0
    if text:
        block = {"type": "text", "text": ""}
        out.append(event({"type": "content_block_start", "index": 0, "content_block": block}))
        for i in range(0, len(text), 5):
            delta = {"type": "text_delta", "text": text[i : i + 5]}
            out.append(event({"type": "content_block_delta", "index": 0, "delta": delta}))
        out.append(event({"type": "content_block_stop", "index": 0}))
        index = 1
    for offset, (call_id, name, arguments) in enumerate(calls):
        n = index + offset
        block = {"type": "tool_use", "id": call_id, "name": name, "input": {}}
        out.append(event({"type": "content_block_start", "index": n, "content_block": block}))
        raw = json.dumps(arguments)
        for piece in ["", raw[: len(raw) // 2], raw[len(raw) // 2 :]]:
            delta = {"type": "input_json_delta", "partial_json": piece}
            out.append(event({"type": "content_block_delta", "index": n, "delta": delta}))
        out.append(event({"type": "content_block_stop", "index": n}))
    stop = "tool_use" if calls else "end_turn"
    out.append(
        event(
            {
                "type": "message_delta",
                "delta": {"stop_reason": stop, "stop_sequence": None},
                "usage": {"output_tokens": 9},
            }
        )
    )
    out.append(event({"type": "message_stop"}))
    return out


def _openai_chunks(text: str, calls: list[tuple[str, str, dict[str, Any]]]) -> list[bytes]:
    base = {"id": "chatcmpl-s", "object": "chat.completion.chunk", "created": 0}
    base["model"] = MODELS["openai"]

    def chunk(delta: dict[str, Any], finish: str | None = None) -> bytes:
        data = {**base, "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}
        return f"data: {json.dumps(data)}\n\n".encode()

    out = [chunk({"role": "assistant", "content": ""})]
    out += [chunk({"content": text[i : i + 5]}) for i in range(0, len(text), 5)]
    for n, (call_id, name, arguments) in enumerate(calls):
        head = {"index": n, "id": call_id, "type": "function"}
        out.append(chunk({"tool_calls": [{**head, "function": {"name": name, "arguments": ""}}]}))
        raw = json.dumps(arguments)
        for piece in [raw[: len(raw) // 2], raw[len(raw) // 2 :]]:
            out.append(chunk({"tool_calls": [{"index": n, "function": {"arguments": piece}}]}))
    out.append(chunk({}, "tool_calls" if calls else "stop"))
    usage = {"prompt_tokens": 20, "completion_tokens": 9, "total_tokens": 29}
    out.append(f"data: {json.dumps({**base, 'choices': [], 'usage': usage})}\n\n".encode())
    out.append(b"data: [DONE]\n\n")
    return out


def streamed(body: bytes) -> httpx2.Response:
    return httpx2.Response(200, headers={"content-type": "text/event-stream"}, content=body)


class CutStream(httpx2.AsyncByteStream):
    """Sends the first bytes of a body, then fails like a dropped connection."""

    def __init__(self, head: bytes) -> None:
        self.head = head

    async def __aiter__(self) -> AsyncIterator[bytes]:
        if self.head:
            yield self.head
        raise httpx2.RemoteProtocolError("peer closed connection without sending complete body")


def cut(head: bytes) -> httpx2.Response:
    return httpx2.Response(
        200, headers={"content-type": "text/event-stream"}, stream=CutStream(head)
    )


# -- the loop's side ----------------------------------------------------------------------------


class Transcript(Observer):
    """What a user ends up reading: streamed text, minus every step that restarted."""

    def __init__(self) -> None:
        self.kept: list[str] = []
        self.step: list[str] = []
        self.restarts: list[tuple[str, str]] = []
        self.tools: list[str] = []

    def text(self, delta: str) -> None:
        self.step.append(delta)

    def step_started(self, step: int) -> None:
        self.kept += self.step
        self.step.clear()

    def step_restarted(self, step: int, provider: str, reason: str) -> None:
        self.restarts.append((provider, reason))
        self.step.clear()

    def tool_started(self, call: ToolCallPart) -> None:
        self.tools.append(call.name)

    def tool_finished(self, call: ToolCallPart, result: ToolResultPart, seconds: float) -> None:
        return None

    @property
    def final(self) -> str:
        return "".join(self.kept + self.step)


RUNS: list[dict[str, Any]] = []


@tool(effect="write")
def record_visit(ctx: ToolContext, city: str) -> str:
    """Record a visit (an effect: running it twice would be a real bug).

    Args:
        city: where.
    """
    RUNS.append({"city": city})
    return f"recorded {city}"


TOOLS = ToolRegistry([record_visit])
