"""The one fake model: a queue of scripted replies and a log of the requests it was sent.

``ScriptedProvider`` answers each request with the next scripted item: a reply (text and tool
calls) or an exception to raise. A request with nothing left to answer fails loudly, and
``assert_done()`` fails if a scripted reply was never used, so a test cannot pass by accident.
Evals' replay provider builds on the same idea.
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Sequence
from typing import Any

from morrow.agent.messages import (
    ModelRequest,
    ModelResponse,
    Part,
    ResponseDone,
    StopReason,
    StreamEvent,
    TextDelta,
    TextPart,
    ToolCallPart,
    ToolCallStarted,
    Usage,
)

_ids = itertools.count(1)


def text(answer: str, *, stop_reason: StopReason = "end_turn", usage: Usage | None = None) -> Reply:
    """A scripted final answer."""
    return Reply(parts=[TextPart(text=answer)], stop_reason=stop_reason, usage=usage)


def call(name: str, /, **arguments: Any) -> ToolCallPart:
    """A scripted tool call with a fresh id."""
    return ToolCallPart(id=f"call_{next(_ids)}", name=name, arguments=arguments)


def calls(*tool_calls: ToolCallPart, say: str = "", usage: Usage | None = None) -> Reply:
    """A scripted step that asks for one or more tool calls (optionally after some text)."""
    parts: list[Part] = [TextPart(text=say)] if say else []
    return Reply(parts=[*parts, *tool_calls], stop_reason="tool_use", usage=usage)


class Reply:
    """One scripted model step."""

    def __init__(
        self, *, parts: Sequence[Part], stop_reason: StopReason, usage: Usage | None = None
    ) -> None:
        self.parts = tuple(parts)
        self.stop_reason = stop_reason
        self.usage = usage or Usage(input_tokens=10, output_tokens=5)


class ScriptedProvider:
    """A Provider that answers from a script and records what it was asked."""

    def __init__(
        self,
        script: Sequence[Reply | BaseException],
        *,
        name: str = "scripted",
        model: str = "scripted-model",
    ) -> None:
        self.name = name
        self.model = model
        self._script = list(script)
        self.requests: list[ModelRequest] = []

    def _next(self, request: ModelRequest) -> ModelResponse:
        self.requests.append(request)
        if not self._script:
            raise AssertionError(
                f"ScriptedProvider {self.name!r}: unscripted request #{len(self.requests)} "
                f"(last message: {request.messages[-1] if request.messages else None})"
            )
        item = self._script.pop(0)
        if isinstance(item, BaseException):
            raise item
        return ModelResponse(
            parts=item.parts,
            stop_reason=item.stop_reason,
            usage=item.usage,
            provider=self.name,
            model=self.model,
        )

    async def complete(self, request: ModelRequest) -> ModelResponse:
        """Answer with the next scripted reply."""
        return self._next(request)

    async def stream(self, request: ModelRequest) -> AsyncIterator[StreamEvent]:
        """Stream the next scripted reply: its text word by word, then the whole response."""
        response = self._next(request)
        for part in response.parts:
            if isinstance(part, TextPart):
                for word in part.text.split(" ")[:-1]:
                    yield TextDelta(text=word + " ")
                yield TextDelta(text=part.text.split(" ")[-1])
            elif isinstance(part, ToolCallPart):
                yield ToolCallStarted(id=part.id, name=part.name)
        yield ResponseDone(response=response)

    async def aclose(self) -> None:
        """Nothing to release."""

    @property
    def remaining(self) -> int:
        """Scripted items not used yet."""
        return len(self._script)

    def assert_done(self) -> None:
        """Fail if a scripted reply was never asked for."""
        if self._script:
            raise AssertionError(
                f"ScriptedProvider {self.name!r}: {len(self._script)} scripted replies unused"
            )
