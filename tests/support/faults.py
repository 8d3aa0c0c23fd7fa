"""Shared by the resilience tests: faults on the wire of both APIs, a fake clock, a transcript.

The bodies come from :mod:`support.wire` (the one place wire answers are built), so a test can
say exactly what is streamed and where it is cut.
"""

from __future__ import annotations

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
from support import wire

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
    ident = "msg_ok" if kind == "anthropic" else "chatcmpl-ok"
    return wire.message(kind, text, model=MODELS[kind], id=ident, usage=(20, 5))


def ok(kind: str, text: str = "hello") -> httpx2.Response:
    return httpx2.Response(200, json=answer_json(kind, text))


def error(kind: str, status: int, headers: dict[str, str] | None = None) -> httpx2.Response:
    """An error answer in the API's own shape."""
    return httpx2.Response(status, headers=headers or {}, json=wire.error_body(kind, status))


def sse_events(kind: str, text: str, calls: list[tuple[str, str, dict[str, Any]]]) -> list[bytes]:
    """The stream of one step (text, then tool calls ``(id, name, arguments)``), event by event."""
    ident = "msg_ok" if kind == "anthropic" else "chatcmpl-s"
    whole = wire.message(kind, text, calls, model=MODELS[kind], id=ident, usage=(20, 9))
    return wire.stream_of(kind, whole, text_size=5, args_size=16)


def streamed(body: bytes) -> httpx2.Response:
    return wire.streamed(body)


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
