"""The one fake provider: a function answers, the provider streams and fails like a real one."""

from __future__ import annotations

import asyncio

import pytest
from support.faults import FakeTime, retrying

from morrow.agent.errors import ProviderRejected, ProviderUnavailable
from morrow.agent.messages import (
    Message,
    ModelRequest,
    ModelResponse,
    ResponseDone,
    StepRestarted,
    StreamEvent,
    TextDelta,
    TextPart,
    ToolCallPart,
    ToolCallStarted,
    Usage,
)
from morrow.agent.providers.base import Provider
from morrow.agent.providers.function import BrokenStream, CallInfo, FunctionProvider

REQUEST = ModelRequest(system="be brief", messages=(Message.user("what is on today?"),))
LOOKUP = ToolCallPart(id="c1", name="list_events", arguments={"start": "today"})


def answer(request: ModelRequest, info: CallInfo) -> ModelResponse:
    """Echo the question, then ask for a tool."""
    parts = [TextPart(text=f"You asked: {request.messages[-1].text}"), LOOKUP]
    return info.response(parts, "tool_use", Usage(input_tokens=7, output_tokens=3))


def stream(provider: Provider, request: ModelRequest = REQUEST) -> list[StreamEvent]:
    async def collect() -> list[StreamEvent]:
        return [event async for event in provider.stream(request)]

    return asyncio.run(collect())


def test_the_function_answers_complete_with_its_response() -> None:
    provider = FunctionProvider(answer, name="fn", model="fn-1")
    response = asyncio.run(provider.complete(REQUEST))
    assert isinstance(provider, Provider)
    assert response.text == "You asked: what is on today?"
    assert response.tool_calls == [LOOKUP]
    assert (response.provider, response.model, response.stop_reason) == ("fn", "fn-1", "tool_use")
    assert response.usage == Usage(input_tokens=7, output_tokens=3)
    assert provider.requests == [REQUEST]


def test_a_stream_is_word_chunks_then_tool_call_starts_then_the_response() -> None:
    events = stream(FunctionProvider(answer))
    assert events[:-1] == [
        TextDelta(text="You "),
        TextDelta(text="asked: "),
        TextDelta(text="what "),
        TextDelta(text="is "),
        TextDelta(text="on "),
        TextDelta(text="today?"),
        ToolCallStarted(id="c1", name="list_events"),
    ]
    assert isinstance(events[-1], ResponseDone)
    assert events[-1].response == asyncio.run(FunctionProvider(answer).complete(REQUEST))


def test_chunks_keep_every_character_and_empty_text_streams_nothing() -> None:
    texts = iter(["  two  spaces\nand a line ", ""])

    def say(request: ModelRequest, info: CallInfo) -> ModelResponse:
        return info.response([TextPart(text=next(texts))], "end_turn")

    provider = FunctionProvider(say)
    first = stream(provider)
    deltas = [e.text for e in first if isinstance(e, TextDelta)]
    assert deltas == ["  ", "two  ", "spaces\n", "and ", "a ", "line "]
    assert [type(e) for e in stream(provider)] == [ResponseDone]


def test_an_async_function_and_what_it_is_told() -> None:
    seen: list[CallInfo] = []

    async def later(request: ModelRequest, info: CallInfo) -> ModelResponse:
        await asyncio.sleep(0)
        seen.append(info)
        return info.response([TextPart(text=f"answer {info.number}")], "end_turn")

    provider = FunctionProvider(later, name="async", model="m")
    assert asyncio.run(provider.complete(REQUEST)).text == "answer 1"
    assert stream(provider)[-1] == ResponseDone(
        response=ModelResponse(
            parts=(TextPart(text="answer 2"),), stop_reason="end_turn", provider="async", model="m"
        )
    )
    assert seen == [CallInfo("async", "m", 1, False), CallInfo("async", "m", 2, True)]


def test_a_function_returning_something_else_is_a_clear_error() -> None:
    provider = FunctionProvider(lambda request, info: "hello", name="fake")
    with pytest.raises(TypeError, match="fake: the answer function returned a str, not a Model"):
        asyncio.run(provider.complete(REQUEST))
    assert len(provider.requests) == 1


def test_a_failure_surfaces_before_the_first_event_and_is_retried_silently() -> None:
    failures = [ProviderUnavailable("overloaded", provider="fn", status=529)]

    def flaky(request: ModelRequest, info: CallInfo) -> ModelResponse:
        if failures:
            raise failures.pop()
        return answer(request, info)

    inner = FunctionProvider(flaky, name="fn")
    time = FakeTime()
    events = stream(retrying(inner, time, max_attempts=2, backoff_initial=0.5))
    assert not any(isinstance(e, StepRestarted) for e in events)  # nothing had been shown
    assert isinstance(events[-1], ResponseDone)
    assert len(inner.requests) == 2 and time.waits == [0.5]


def test_a_rejection_is_not_retried() -> None:
    def rejects(request: ModelRequest, info: CallInfo) -> ModelResponse:
        raise ProviderRejected("unknown model", provider=info.provider, status=404)

    inner = FunctionProvider(rejects, name="fn")
    with pytest.raises(ProviderRejected, match="fn: unknown model"):
        stream(retrying(inner, FakeTime(), max_attempts=3))
    assert len(inner.requests) == 1


def test_a_broken_stream_shows_its_text_then_fails_and_restarts_visibly() -> None:
    def breaks_once(request: ModelRequest, info: CallInfo) -> ModelResponse:
        if info.number == 1:
            raise BrokenStream("Tomorrow you")
        return answer(request, info)

    events = stream(retrying(FunctionProvider(breaks_once, name="fn"), FakeTime()))
    assert events[:3] == [
        TextDelta(text="Tomorrow "),
        TextDelta(text="you"),
        StepRestarted(provider="fn", reason="fn: the stream was cut short"),
    ]
    assert isinstance(events[-1], ResponseDone)


def test_a_broken_stream_raises_its_error_and_complete_shows_nothing() -> None:
    cut = ProviderRejected("malformed chunk", provider="fn")

    def broken(request: ModelRequest, info: CallInfo) -> ModelResponse:
        raise BrokenStream("Hel", cut)

    shown: list[StreamEvent] = []

    async def read() -> None:
        async for event in FunctionProvider(broken).stream(REQUEST):
            shown.append(event)

    with pytest.raises(ProviderRejected) as streamed:
        asyncio.run(read())
    assert streamed.value is cut and shown == [TextDelta(text="Hel")]
    with pytest.raises(ProviderRejected) as whole:
        asyncio.run(FunctionProvider(broken).complete(REQUEST))
    assert whole.value is cut


def test_a_broken_stream_can_stall_until_the_caller_gives_up() -> None:
    stalled = asyncio.Event()

    async def stall() -> None:
        stalled.set()
        await asyncio.Event().wait()  # never set: only a cancellation ends it

    def hangs(request: ModelRequest, info: CallInfo) -> ModelResponse:
        raise BrokenStream("Let me think", wait=stall)

    async def read_then_cancel() -> list[StreamEvent]:
        shown: list[StreamEvent] = []

        async def read() -> None:
            async for event in FunctionProvider(hangs).stream(REQUEST):
                shown.append(event)

        task = asyncio.create_task(read())
        await stalled.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        return shown

    assert asyncio.run(read_then_cancel()) == [
        TextDelta(text="Let "),
        TextDelta(text="me "),
        TextDelta(text="think"),
    ]
