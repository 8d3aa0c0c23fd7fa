"""The one fake model: a provider whose answers a function computes (pydantic-ai's FunctionModel).

:class:`FunctionProvider` asks ``function(request, info)`` (sync or async) for each model step's
:class:`~morrow.agent.messages.ModelResponse` and owns the only fake ``complete()`` and
``stream()``: a stream yields the response's text in word-sized :class:`TextDelta` chunks and a
:class:`ToolCallStarted` per tool call, in the order of the parts, then :class:`ResponseDone`,
as the real adapters do. What the function raises surfaces as a real provider's failure does:
``complete()`` raises it, a stream raises it before its first event (so the resilience layer
retries a ``ProviderUnavailable`` silently). A function that raises :class:`BrokenStream`
makes a stream fail partway, after some text was shown, as a connection cut mid-answer does.

The scripted test model (``scripted.py``), the eval scripts (``evals/script.py``) and the replay
of recordings (``evals/replay.py``) are built on it; each only decides what to answer.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass

from morrow.agent.errors import ProviderUnavailable
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

_WORDS = re.compile(r"\S+\s*|\s+")


@dataclass(frozen=True)
class CallInfo:
    """What the answer function knows besides the request.

    Attributes:
        provider: the provider's name.
        model: the provider's model.
        number: which request this is (1 for the first the provider received).
        streamed: whether the caller streams the answer (``stream()``) or not (``complete()``).
    """

    provider: str
    model: str
    number: int
    streamed: bool

    def response(
        self, parts: Sequence[Part], stop_reason: StopReason, usage: Usage | None = None
    ) -> ModelResponse:
        """A response from this provider and model."""
        return ModelResponse(
            parts=tuple(parts),
            stop_reason=stop_reason,
            usage=usage if usage is not None else Usage(),
            provider=self.provider,
            model=self.model,
        )


AnswerFunction = Callable[[ModelRequest, CallInfo], ModelResponse | Awaitable[ModelResponse]]


class BrokenStream(Exception):
    """Raised by an answer function: the step breaks off after ``shown`` text was streamed.

    A stream yields ``shown`` (as it yields any text), awaits ``wait`` if given (a stall; the
    caller may cancel it), then raises ``error``: by default a ``ProviderUnavailable`` naming the
    provider, as an adapter reports a stream cut short. ``complete()`` shows nothing: it waits
    and raises the same.

    Args:
        shown: the text streamed before the break.
        error: what the break raises.
        wait: awaited before raising (a stream that stalls, a user who presses Ctrl-C ...).
    """

    def __init__(
        self,
        shown: str,
        error: BaseException | None = None,
        *,
        wait: Callable[[], Awaitable[object]] | None = None,
    ) -> None:
        super().__init__(f"the stream broke off after {shown!r}")
        self.shown = shown
        self.error = error
        self.wait = wait

    async def failure(self, provider: str) -> BaseException:
        """Wait if told to, then the error the break raises."""
        if self.wait is not None:
            await self.wait()
        return self.error or ProviderUnavailable("the stream was cut short", provider=provider)


class FunctionProvider:
    """A Provider that answers each request with what ``function(request, info)`` returns.

    Attributes:
        name: the provider name (``info.provider``).
        model: the model name (``info.model``).
        requests: every request received, in order (also those the function failed on).
    """

    def __init__(
        self, function: AnswerFunction, *, name: str = "function", model: str = "function-model"
    ) -> None:
        """Answer with ``function``, sync or async, which returns a ``ModelResponse`` or raises."""
        self.name = name
        self.model = model
        self.requests: list[ModelRequest] = []
        self._function = function

    async def complete(self, request: ModelRequest) -> ModelResponse:
        """One model step, answered whole."""
        try:
            return await self._answer(request, streamed=False)
        except BrokenStream as broken:
            raise await broken.failure(self.name) from None

    async def stream(self, request: ModelRequest) -> AsyncIterator[StreamEvent]:
        """One model step, streamed: text in word-sized chunks, tool-call starts, ResponseDone."""
        try:
            response = await self._answer(request, streamed=True)
        except BrokenStream as broken:
            for chunk in _chunks(broken.shown):
                yield TextDelta(text=chunk)
            raise await broken.failure(self.name) from None
        for event in _events(response):
            yield event

    async def aclose(self) -> None:
        """Nothing to release."""

    async def _answer(self, request: ModelRequest, *, streamed: bool) -> ModelResponse:
        self.requests.append(request)
        info = CallInfo(self.name, self.model, len(self.requests), streamed)
        answer = self._function(request, info)
        if inspect.isawaitable(answer):
            answer = await answer
        if not isinstance(answer, ModelResponse):
            raise TypeError(
                f"{self.name}: the answer function returned a {type(answer).__name__}, "
                "not a ModelResponse"
            )
        return answer


def _events(response: ModelResponse) -> Iterator[StreamEvent]:
    """The events a streaming adapter would yield for ``response``, ``ResponseDone`` last."""
    for part in response.parts:
        if isinstance(part, TextPart):
            for chunk in _chunks(part.text):
                yield TextDelta(text=chunk)
        elif isinstance(part, ToolCallPart):
            yield ToolCallStarted(id=part.id, name=part.name)
    yield ResponseDone(response=response)


def _chunks(text: str) -> list[str]:
    """``text`` in word-sized pieces (each word with the spaces after it)."""
    return _WORDS.findall(text)
