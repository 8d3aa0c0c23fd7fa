"""The scripted test model: a queue of replies and a log of the requests it was sent.

``ScriptedProvider`` answers each request with the next scripted item: a reply (text and tool
calls) or an exception to raise (a :class:`~morrow.agent.providers.function.BrokenStream` breaks
a stream after some text). A request with nothing left to answer fails loudly, and
``assert_done()`` fails if a scripted reply was never used, so a test cannot pass by accident.
Streaming, failures and the request log come from
:class:`~morrow.agent.providers.function.FunctionProvider`.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

from morrow.agent.messages import (
    ModelRequest,
    ModelResponse,
    Part,
    StopReason,
    TextPart,
    ToolCallPart,
    Usage,
)
from morrow.agent.providers.function import BrokenStream, CallInfo, FunctionProvider

__all__ = ["BrokenStream", "Reply", "ScriptedProvider", "call", "calls", "text"]

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


class ScriptedProvider(FunctionProvider):
    """A Provider that answers from a script and records what it was asked (``requests``)."""

    def __init__(
        self,
        script: Sequence[Reply | BaseException],
        *,
        name: str = "scripted",
        model: str = "scripted-model",
    ) -> None:
        super().__init__(self._reply, name=name, model=model)
        self._script = list(script)

    def _reply(self, request: ModelRequest, info: CallInfo) -> ModelResponse:
        if not self._script:
            raise AssertionError(
                f"ScriptedProvider {self.name!r}: unscripted request #{info.number} "
                f"(last message: {request.messages[-1] if request.messages else None})"
            )
        item = self._script.pop(0)
        if isinstance(item, BaseException):
            raise item
        return info.response(item.parts, item.stop_reason, item.usage)

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
