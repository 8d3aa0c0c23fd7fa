"""The one retry policy, against both real adapters answered by respx fault tables."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import httpx2
import pytest
import respx
from structlog.testing import capture_logs
from support.faults import (
    KEYS,
    URLS,
    FakeTime,
    adapter,
    error,
    ok,
    retrying,
    sse_events,
    streamed,
)

from morrow.agent.errors import ProviderError, ProviderRejected, ProviderUnavailable
from morrow.agent.messages import (
    Message,
    ModelRequest,
    ModelResponse,
    ResponseDone,
    StepRestarted,
    StreamEvent,
    TextDelta,
)
from morrow.agent.providers.function import CallInfo, FunctionProvider
from morrow.agent.providers.resilience import (
    RetryingProvider,
    RetryPolicy,
    Timing,
    full_jitter,
)
from morrow.agent.providers.scripted import ScriptedProvider, text

KINDS = ["anthropic", "openai"]
RETRIED = [408, 409, 429, 500, 502, 503, 504, 529]
NOT_RETRIED = [400, 401, 403, 404, 413, 422]
REQUEST = ModelRequest(system="be brief", messages=(Message.user("hi"),))


async def _complete(provider: RetryingProvider) -> ModelResponse:
    try:
        return await provider.complete(REQUEST)
    finally:
        await provider.aclose()


async def _stream(provider: RetryingProvider) -> list[StreamEvent]:
    try:
        return [event async for event in provider.stream(REQUEST)]
    finally:
        await provider.aclose()


def run(kind: str, mode: str, time: FakeTime, **policy: Any) -> ModelResponse | list[StreamEvent]:
    provider = retrying(adapter(kind), time, **policy)
    call: Callable[[], Any] = (
        (lambda: _complete(provider)) if mode == "complete" else (lambda: _stream(provider))
    )
    return asyncio.run(call())


def fails(kind: str, mode: str, time: FakeTime, **policy: Any) -> ProviderError:
    with pytest.raises(ProviderError) as info:
        run(kind, mode, time, **policy)
    assert KEYS[kind] not in str(info.value)
    return info.value


def final_text(result: ModelResponse | list[StreamEvent]) -> str:
    if isinstance(result, ModelResponse):
        return result.text
    done = [e for e in result if isinstance(e, ResponseDone)]
    assert len(done) == 1 and result[-1] is done[0]
    return done[0].response.text


def success(kind: str, mode: str, text: str = "hello") -> httpx2.Response:
    if mode == "complete":
        return ok(kind, text)
    return streamed(b"".join(sse_events(kind, text, [])))


# --- the fault table -------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["complete", "stream"])
@pytest.mark.parametrize("status", RETRIED)
@pytest.mark.parametrize("kind", KINDS)
def test_transient_statuses_are_retried_until_attempts_run_out(
    respx_mock: respx.MockRouter, kind: str, status: int, mode: str
) -> None:
    route = respx_mock.post(URLS[kind]).mock(return_value=error(kind, status))
    time = FakeTime()

    failure = fails(kind, mode, time, max_attempts=3, backoff_initial=0.5)

    assert isinstance(failure, ProviderUnavailable)
    assert failure.status == status
    assert route.call_count == 3
    assert time.waits == [0.5, 1.0]  # full jitter's ceilings: initial, then doubled
    assert "; gave up after 3 attempts" in str(failure)


@pytest.mark.parametrize("mode", ["complete", "stream"])
@pytest.mark.parametrize("status", NOT_RETRIED)
@pytest.mark.parametrize("kind", KINDS)
def test_request_errors_are_tried_exactly_once(
    respx_mock: respx.MockRouter, kind: str, status: int, mode: str
) -> None:
    route = respx_mock.post(URLS[kind]).mock(return_value=error(kind, status))
    time = FakeTime()

    failure = fails(kind, mode, time, max_attempts=5)

    assert isinstance(failure, ProviderRejected)
    assert failure.status == status
    assert route.call_count == 1
    assert time.waits == []
    assert "gave up" not in str(failure)


@pytest.mark.parametrize(
    "fault",
    [httpx2.ConnectError("connection refused"), httpx2.ReadTimeout("too slow")],
    ids=["connection", "timeout"],
)
@pytest.mark.parametrize("kind", KINDS)
def test_connection_errors_and_timeouts_are_retried(
    respx_mock: respx.MockRouter, kind: str, fault: Exception
) -> None:
    route = respx_mock.post(URLS[kind]).mock(side_effect=[fault, fault, ok(kind, "at last")])
    time = FakeTime()

    response = run(kind, "complete", time, max_attempts=3, backoff_initial=2.0)

    assert final_text(response) == "at last"
    assert route.call_count == 3
    assert time.waits == [2.0, 4.0]


@pytest.mark.parametrize("mode", ["complete", "stream"])
@pytest.mark.parametrize("kind", KINDS)
def test_529_then_429_with_retry_after_then_200_takes_three_attempts(
    respx_mock: respx.MockRouter, kind: str, mode: str
) -> None:
    route = respx_mock.post(URLS[kind]).mock(
        side_effect=[
            error(kind, 529),
            error(kind, 429, {"retry-after": "1"}),
            success(kind, mode, "third time lucky"),
        ]
    )
    time = FakeTime()

    with capture_logs() as logs:
        result = run(kind, mode, time, max_attempts=3, backoff_initial=0.25)

    assert final_text(result) == "third time lucky"
    assert route.call_count == 3
    assert time.waits == [0.25, 1.0]  # a backoff, then exactly what Retry-After said
    attempts = [e for e in logs if e["event"] == "provider_attempt"]
    waits = [e for e in logs if e["event"] == "provider_retry_wait"]
    assert [e["attempt"] for e in attempts] == [1, 2, 3]
    assert [(e["wait_seconds"], e["source"]) for e in waits] == [
        (0.25, "backoff"),
        (1.0, "retry-after"),
    ]
    assert KEYS[kind] not in json.dumps(logs, default=str)


@pytest.mark.parametrize(
    ("headers", "wait"),
    [({"retry-after-ms": "1500", "retry-after": "9"}, 1.5), ({"retry-after": "7"}, 7.0)],
)
@pytest.mark.parametrize("kind", KINDS)
def test_retry_after_headers_set_the_wait(
    respx_mock: respx.MockRouter, kind: str, headers: dict[str, str], wait: float
) -> None:
    respx_mock.post(URLS[kind]).mock(side_effect=[error(kind, 429, headers), ok(kind)])
    time = FakeTime()

    run(kind, "complete", time)

    assert time.waits == [wait]


def test_retry_after_as_an_http_date(respx_mock: respx.MockRouter) -> None:
    when = format_datetime(datetime.now(UTC) + timedelta(seconds=30), usegmt=True)
    respx_mock.post(URLS["openai"]).mock(
        side_effect=[error("openai", 503, {"retry-after": when}), ok("openai")]
    )
    time = FakeTime()

    run("openai", "complete", time)

    assert len(time.waits) == 1 and 25 <= time.waits[0] <= 30


@pytest.mark.parametrize("kind", KINDS)
def test_retry_after_beyond_the_cap_gives_up_at_once(
    respx_mock: respx.MockRouter, kind: str
) -> None:
    route = respx_mock.post(URLS[kind]).mock(return_value=error(kind, 429, {"retry-after": "3600"}))
    time = FakeTime()

    failure = fails(kind, "complete", time, max_attempts=5, retry_after_cap=60)

    assert route.call_count == 1
    assert time.waits == []
    assert "asked to wait 3600 s, more than retry_after_cap_seconds = 60" in str(failure)


def test_no_wait_starts_that_would_end_past_the_deadline(respx_mock: respx.MockRouter) -> None:
    route = respx_mock.post(URLS["anthropic"]).mock(return_value=error("anthropic", 500))
    time = FakeTime()
    provider = retrying(
        adapter("anthropic"), time, deadline=2.5, max_attempts=10, backoff_initial=1.0
    )

    with pytest.raises(ProviderUnavailable) as info:
        asyncio.run(_complete(provider))

    assert time.waits == [1.0]  # the next one (2 s) would end at 3 s, past 2.5 s
    assert route.call_count == 2
    assert "the step deadline of 2.5 s left no time to retry" in str(info.value)


def test_an_attempt_that_hangs_is_cut_at_the_deadline() -> None:
    async def hangs(request: ModelRequest, info: CallInfo) -> ModelResponse:
        await asyncio.sleep(3600)
        raise AssertionError("unreachable")

    slow = FunctionProvider(hangs, name="slow", model="m")
    provider = RetryingProvider(slow, RetryPolicy(max_attempts=3), step_deadline=0.05)

    with pytest.raises(ProviderUnavailable) as info:
        asyncio.run(provider.complete(REQUEST))
    assert "no answer within the step deadline of 0.05 s" in str(info.value)

    async def drain() -> None:
        async for _ in provider.stream(REQUEST):
            pass

    with pytest.raises(ProviderUnavailable):
        asyncio.run(drain())


# --- errors inside a stream --------------------------------------------------------------------


def test_overloaded_event_inside_an_anthropic_stream_is_retried_silently(
    respx_mock: respx.MockRouter,
) -> None:
    events = sse_events("anthropic", "fine", [])
    overloaded = {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
    broken = events[0] + b"event: error\ndata: " + json.dumps(overloaded).encode() + b"\n\n"
    route = respx_mock.post(URLS["anthropic"]).mock(
        side_effect=[streamed(broken), streamed(b"".join(events))]
    )
    time = FakeTime()

    result = run("anthropic", "stream", time)

    assert final_text(result) == "fine"
    assert route.call_count == 2
    assert not any(isinstance(e, StepRestarted) for e in result)  # nothing had been shown


def test_error_chunk_inside_an_openai_stream_is_retried(respx_mock: respx.MockRouter) -> None:
    events = sse_events("openai", "fine", [])
    broken = events[0] + b'data: {"error": {"message": "The server is overloaded"}}\n\n'
    route = respx_mock.post(URLS["openai"]).mock(
        side_effect=[streamed(broken), streamed(b"".join(events))]
    )

    result = run("openai", "stream", FakeTime())

    assert final_text(result) == "fine"
    assert route.call_count == 2


# --- what is never retried ---------------------------------------------------------------------


def test_a_cancelled_request_is_not_retried() -> None:
    scripted = ScriptedProvider([asyncio.CancelledError(), text("never asked")])
    provider = retrying(scripted, FakeTime(), max_attempts=3)

    with pytest.raises(asyncio.CancelledError):
        asyncio.run(provider.complete(REQUEST))
    assert len(scripted.requests) == 1


def test_a_caller_that_stops_reading_closes_the_stream_without_retrying() -> None:
    scripted = ScriptedProvider([text("one two three four")])
    provider = retrying(scripted, FakeTime())

    async def first_word() -> str:
        async for event in provider.stream(REQUEST):
            assert isinstance(event, TextDelta)
            return event.text
        raise AssertionError("no event")

    assert asyncio.run(first_word()) == "one "
    assert len(scripted.requests) == 1


def test_full_jitter_stays_within_the_ceiling_and_varies() -> None:
    draws = [full_jitter(2.0) for _ in range(200)]
    assert all(0.0 <= d <= 2.0 for d in draws)
    assert len(set(draws)) > 100
    assert Timing().jitter is full_jitter


def test_backoff_ceilings_double_up_to_the_maximum() -> None:
    policy = RetryPolicy(backoff_initial=1.0, backoff_max=5.0)
    assert [policy.backoff_ceiling(n) for n in range(1, 6)] == [1.0, 2.0, 4.0, 5.0, 5.0]


def test_policy_comes_from_the_provider_config() -> None:
    from morrow.agent.config import ProviderConfig

    config = ProviderConfig(
        name="p",
        kind="openai",
        model="m",
        max_attempts=7,
        backoff_initial_seconds=0.1,
        backoff_max_seconds=2,
        retry_after_cap_seconds=9,
    )
    assert RetryPolicy.from_config(config) == RetryPolicy(7, 0.1, 2.0, 9.0)
