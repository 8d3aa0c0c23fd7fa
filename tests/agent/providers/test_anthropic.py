"""The Anthropic adapter against recorded API traffic, plus synthetic failures."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import anthropic
import httpx2
import pytest
import respx
from support import wire
from support.cassettes import Interaction, load_cassette, provider_ids

from morrow.agent.errors import ProviderError, ProviderRejected, ProviderUnavailable
from morrow.agent.messages import (
    Message,
    ModelRequest,
    ModelResponse,
    ResponseDone,
    StreamEvent,
    TextDelta,
    TextPart,
    ToolCallPart,
    ToolCallStarted,
    ToolResultPart,
    ToolSpec,
    Usage,
)
from morrow.agent.providers.anthropic import AnthropicProvider, map_error, wire_id

RECORDINGS = Path(__file__).parents[2] / "data" / "provider-recordings" / "anthropic"
BASE_URL = "https://api.anthropic.com"
API_KEY = "sk-ant-test-DO-NOT-LEAK-0123456789"
T = TypeVar("T")

SECRET_TOOL = ToolSpec(
    name="secret_retrieval_tool",
    description="A tool that requires a password to retrieve a secret.",
    parameters={
        "properties": {"password": {"title": "Password", "type": "string"}},
        "required": ["password"],
        "additionalProperties": False,
        "type": "object",
    },
)
SECRETS_REQUEST = ModelRequest(
    system="Use parallel tool calling.",
    messages=(
        Message.user(
            "Please retrieve the secrets associated with each of these passwords: mellon,radiance"
        ),
    ),
    tools=(SECRET_TOOL,),
    max_tokens=16000,
)
ENTITY_TOOL = ToolSpec(
    name="retrieve_entity_info",
    description="Get the knowledge about the given entity.",
    parameters={
        "additionalProperties": False,
        "properties": {"name": {"type": "string"}},
        "required": ["name"],
        "type": "object",
    },
)


# --- helpers -------------------------------------------------------------------------------


def cassette(name: str) -> list[Interaction]:
    return load_cassette(RECORDINGS / name)


def make_provider(model: str = "claude-sonnet-4-0") -> AnthropicProvider:
    return AnthropicProvider(name="primary", model=model, api_key=API_KEY)


def run(use: Callable[[AnthropicProvider], Awaitable[T]], model: str = "claude-sonnet-4-0") -> T:
    """Run one coroutine against a fresh provider and close it afterwards."""

    async def main() -> T:
        provider = make_provider(model)
        try:
            return await use(provider)
        finally:
            await provider.aclose()

    return asyncio.run(main())


def complete(request: ModelRequest, model: str = "claude-sonnet-4-0") -> ModelResponse:
    return run(lambda p: p.complete(request), model)


def stream(request: ModelRequest, model: str = "claude-sonnet-4-0") -> list[StreamEvent]:
    async def collect(provider: AnthropicProvider) -> list[StreamEvent]:
        return [event async for event in provider.stream(request)]

    return run(collect, model)


def final(events: list[StreamEvent]) -> ModelResponse:
    done = [e for e in events if isinstance(e, ResponseDone)]
    assert len(done) == 1
    assert events[-1] is done[0]
    return done[0].response


def fail(call: Callable[[], object]) -> ProviderError:
    with pytest.raises(ProviderError) as info:
        call()
    assert API_KEY not in str(info.value)
    return info.value


def sse(events: list[dict[str, Any]]) -> bytes:
    return b"".join(wire.sse_event(event) for event in events)


def sse_response(body: bytes) -> httpx2.Response:
    return wire.streamed(body)


def message_start(model: str = "claude-sonnet-4-20250514") -> dict[str, Any]:
    return {
        "type": "message_start",
        "message": {
            "id": "msg_synthetic",
            "type": "message",
            "role": "assistant",
            "model": model,
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": {"input_tokens": 10, "output_tokens": 1},
        },
    }


def tool_use_events(index: int, call_id: str, name: str, chunks: list[str]) -> list[dict[str, Any]]:
    start = {"type": "tool_use", "id": call_id, "name": name, "input": {}}
    return [
        {"type": "content_block_start", "index": index, "content_block": start},
        *(
            {
                "type": "content_block_delta",
                "index": index,
                "delta": {"type": "input_json_delta", "partial_json": chunk},
            }
            for chunk in chunks
        ),
        {"type": "content_block_stop", "index": index},
    ]


def message_end(stop_reason: str, output_tokens: int = 5) -> list[dict[str, Any]]:
    return [
        {
            "type": "message_delta",
            "delta": {"stop_reason": stop_reason, "stop_sequence": None},
            "usage": {"output_tokens": output_tokens},
        },
        {"type": "message_stop"},
    ]


def to_sse(message: dict[str, Any]) -> bytes:
    """The stream the API would send for a complete message, arguments cut in small pieces."""
    return b"".join(wire.stream_of("anthropic", message, text_size=7, args_size=5))


def sent(route: respx.Route, call: int = -1) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(route.calls[call].request.content)
    return body


def without_ids(parts: tuple[Any, ...]) -> list[Any]:
    return [
        p.model_copy(update={"id": "x", "wire_id": "x"}) if isinstance(p, ToolCallPart) else p
        for p in provider_ids(parts)
    ]


@pytest.fixture
def api() -> Iterator[respx.MockRouter]:
    with respx.mock(base_url=BASE_URL, assert_all_called=False) as router:
        yield router


# --- non-streamed tool calls ---------------------------------------------------------------


def test_complete_maps_two_parallel_tool_calls(api: respx.MockRouter) -> None:
    recorded = cassette("mirascope__call_with_tools__sync.yaml")[0]
    route = api.post("/v1/messages").mock(return_value=recorded.response())

    response = complete(SECRETS_REQUEST)

    assert tuple(provider_ids(response.parts)) == (
        TextPart(text="I'll retrieve the secrets for both passwords you provided."),
        ToolCallPart(
            id="toolu_01BUvqBj8Yb34pNAbCJJY1oc",
            name="secret_retrieval_tool",
            arguments={"password": "mellon"},
        ),
        ToolCallPart(
            id="toolu_01VPuQJ1LonDBYXrr8pqPkqQ",
            name="secret_retrieval_tool",
            arguments={"password": "radiance"},
        ),
    )
    assert response.stop_reason == "tool_use"
    assert response.usage == Usage(input_tokens=416, output_tokens=109)
    assert response.provider == "primary"
    assert response.model == "claude-sonnet-4-20250514"
    assert response.provider_details["id"] == "msg_018DaxGuCtuQ42XfuFiC1wxo"
    body, want = sent(route), recorded.request_json
    assert body["model"] == "claude-sonnet-4-0"
    assert body["max_tokens"] == want["max_tokens"]
    assert body["system"] == want["system"][0]["text"]
    assert body["messages"] == [
        {"role": "user", "content": [{"type": "text", "text": want["messages"][0]["content"]}]}
    ]
    tool = {k: v for k, v in want["tools"][0].items() if k != "cache_control"}
    assert body["tools"] == [tool]
    assert "temperature" not in body


def test_complete_maps_four_parallel_tool_calls(api: respx.MockRouter) -> None:
    recorded = cassette("pydantic-ai__multiple_parallel_tool_calls.yaml")[0]
    api.post("/v1/messages").mock(return_value=recorded.response())
    request = ModelRequest(
        system=recorded.request_json["system"],
        messages=(
            Message.user("Alice, Bob, Charlie and Daisy are a family. Who is the youngest?"),
        ),
        tools=(ENTITY_TOOL,),
    )

    response = complete(request, model="claude-haiku-4-5")

    calls = response.tool_calls
    assert [c.arguments["name"] for c in calls] == ["Alice", "Bob", "Charlie", "Daisy"]
    assert [c.wire_id for c in calls] == [b["id"] for b in recorded.json["content"][1:]]
    assert len({c.id for c in calls}) == 4
    assert {c.name for c in calls} == {"retrieve_entity_info"}
    assert all(c.raw_arguments is None for c in calls)
    assert response.text.startswith("I'll help you find out who is the youngest")
    assert response.usage == Usage(input_tokens=423, output_tokens=202)
    assert response.model == "claude-haiku-4-5-20251001"


# --- streamed tool calls -------------------------------------------------------------------


def test_stream_assembles_chunked_tool_arguments(api: respx.MockRouter) -> None:
    recorded = cassette("mirascope__call_with_tools__stream.yaml")[0]
    route = api.post("/v1/messages").mock(return_value=recorded.response())

    events = stream(SECRETS_REQUEST)

    text = "".join(e.text for e in events if isinstance(e, TextDelta))
    assert text == "I'll retrieve the secrets for both passwords you provided."
    assert [e for e in events if isinstance(e, ToolCallStarted)] == [
        ToolCallStarted(id="toolu_015cUijgET79LXjgeYQerN2h", name="secret_retrieval_tool"),
        ToolCallStarted(id="toolu_01XZTimPexA7h3EVKesnKt5T", name="secret_retrieval_tool"),
    ]
    response = final(events)
    assert [c.arguments for c in response.tool_calls] == [
        {"password": "mellon"},
        {"password": "radiance"},
    ]
    assert response.text == text
    assert response.stop_reason == "tool_use"
    assert response.usage == Usage(input_tokens=416, output_tokens=109)
    assert response.model == "claude-sonnet-4-20250514"
    assert sent(route)["stream"] is True


def test_stream_handles_empty_partial_json_and_pings(api: respx.MockRouter) -> None:
    recorded = cassette("llm-anthropic__tools_stream.yaml")[0]
    assert b"event: ping" in recorded.body
    api.post("/v1/messages").mock(return_value=recorded.response())
    request = ModelRequest(
        system="",
        messages=(Message.user("Two names for a pet pelican"),),
        tools=(
            ToolSpec(
                name="pelican_name_generator",
                description="",
                parameters={"properties": {}, "type": "object"},
            ),
        ),
        temperature=1.0,
    )

    events = stream(request, model="claude-haiku-4-5-20251001")

    assert not [e for e in events if isinstance(e, TextDelta)]
    assert [e.id for e in events if isinstance(e, ToolCallStarted)] == [
        "toolu_01LtHJmixrs9NcWQkK8hu8hj",
        "toolu_01N8a4jWyf116qKTMqKKmjyt",
    ]
    response = final(events)
    assert tuple(provider_ids(response.parts)) == (
        ToolCallPart(id="toolu_01LtHJmixrs9NcWQkK8hu8hj", name="pelican_name_generator"),
        ToolCallPart(id="toolu_01N8a4jWyf116qKTMqKKmjyt", name="pelican_name_generator"),
    )
    assert response.usage == Usage(input_tokens=542, output_tokens=62)


def test_stream_and_complete_agree_on_the_recorded_task(api: respx.MockRouter) -> None:
    sync = cassette("mirascope__call_with_tools__sync.yaml")[0]
    streamed = cassette("mirascope__call_with_tools__stream.yaml")[0]
    api.post("/v1/messages").mock(side_effect=[sync.response(), streamed.response()])

    whole = complete(SECRETS_REQUEST)
    pieces = final(stream(SECRETS_REQUEST))

    # two recordings of the same task: only the generated ids differ
    assert without_ids(pieces.parts) == without_ids(whole.parts)
    assert (pieces.stop_reason, pieces.usage, pieces.model) == (
        whole.stop_reason,
        whole.usage,
        whole.model,
    )


def test_stream_gives_exactly_what_complete_gives(api: respx.MockRouter) -> None:
    recorded = cassette("pydantic-ai__multiple_parallel_tool_calls.yaml")[0]
    api.post("/v1/messages").mock(
        side_effect=[recorded.response(), sse_response(to_sse(recorded.json))]
    )
    request = ModelRequest(system="", messages=(Message.user("who?"),), tools=(ENTITY_TOOL,))

    whole = complete(request)
    streamed = final(stream(request))

    # the same parts but for morrow's own ids, new for every call
    assert provider_ids(streamed.parts) == provider_ids(whole.parts)
    assert streamed.model_copy(update={"parts": whole.parts}) == whole
    assert not {c.id for c in streamed.tool_calls} & {c.id for c in whole.tool_calls}
    assert len(whole.tool_calls) == 4


# --- the tool_result round trip ------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "model"),
    [
        ("mirascope__call_with_tools__sync.yaml", "claude-sonnet-4-0"),
        ("pydantic-ai__multiple_parallel_tool_calls.yaml", "claude-haiku-4-5"),
    ],
)
def test_tool_results_go_back_as_recorded(api: respx.MockRouter, name: str, model: str) -> None:
    first, second = cassette(name)
    route = api.post("/v1/messages").mock(side_effect=[first.response(), second.response()])
    want = second.request_json["messages"]
    user = want[0]["content"]
    user_text = user if isinstance(user, str) else user[0]["text"]
    results = {b["tool_use_id"]: b["content"] for b in want[2]["content"]}

    async def two_steps(provider: AnthropicProvider) -> ModelResponse:
        history = [Message.user(user_text)]
        request = ModelRequest(system="s", messages=tuple(history), tools=(SECRET_TOOL,))
        reply = await provider.complete(request)
        history.append(reply.to_message())
        history.append(
            Message(
                role="tool",
                parts=tuple(
                    ToolResultPart(call_id=c.id, name=c.name, content=results[c.wire_id])
                    for c in reply.tool_calls
                ),
            )
        )
        return await provider.complete(request.model_copy(update={"messages": tuple(history)}))

    answer = run(two_steps, model)

    got = sent(route, 1)["messages"]
    assert [m["role"] for m in got] == [m["role"] for m in want] == ["user", "assistant", "user"]
    assert got[1]["content"] == [
        {k: block[k] for k in ("type", "text", "id", "name", "input") if k in block}
        for block in want[1]["content"]
    ]
    assert [
        (b["type"], b["tool_use_id"], b["content"], b["is_error"]) for b in got[2]["content"]
    ] == [
        (b["type"], b["tool_use_id"], b["content"], b.get("is_error", False))
        for b in want[2]["content"]
    ]
    assert answer.stop_reason == "end_turn"
    assert answer.text == second.json["content"][0]["text"]


def test_consecutive_roles_are_merged_with_results_first() -> None:
    call = ToolCallPart(id="toolu_1", name="t", arguments={"a": 1})
    request = ModelRequest(
        system="",
        messages=(
            Message.user("hi"),
            Message(role="assistant", parts=(TextPart(text=""), call)),
            Message(
                role="tool", parts=(ToolResultPart(call_id="toolu_1", name="t", content="ok"),)
            ),
            Message.user("and now?"),
            Message.user(""),
        ),
    )

    wire = make_provider().to_wire(request)

    assert "system" not in wire
    assert wire["messages"] == [
        {"role": "user", "content": [{"type": "text", "text": "hi"}]},
        {
            "role": "assistant",
            "content": [{"type": "tool_use", "id": "toolu_1", "name": "t", "input": {"a": 1}}],
        },
        {
            "role": "user",
            "content": [
                {
                    "type": "tool_result",
                    "tool_use_id": "toolu_1",
                    "is_error": False,
                    "content": "ok",
                },
                {"type": "text", "text": "and now?"},
            ],
        },
    ]


def test_error_results_are_sent_and_temperature_is_not() -> None:
    result = ToolResultPart(call_id="toolu_1", name="t", content="boom", is_error=True)
    request = ModelRequest(
        system="sys",
        messages=(Message(role="tool", parts=(result,)),),
        max_tokens=100,
        temperature=0.0,
    )

    wire = make_provider().to_wire(request)

    assert "temperature" not in wire  # API version 2026-10-21 answers 400 to it
    assert wire["max_tokens"] == 100
    assert wire["messages"][0]["content"][0]["is_error"] is True


@pytest.mark.parametrize(
    "message",
    [
        Message(role="user", parts=(ToolCallPart(id="a", name="t"),)),
        Message(role="assistant", parts=(ToolResultPart(call_id="a", name="t", content="x"),)),
        Message(role="tool", parts=(TextPart(text="loose text"),)),
    ],
)
def test_a_part_that_cannot_be_sent_raises(message: Message) -> None:
    request = ModelRequest(system="", messages=(message,))

    with pytest.raises(ProviderRejected, match="cannot send"):
        make_provider().to_wire(request)


def test_foreign_tool_call_ids_are_translated_consistently() -> None:
    ids = ["call.1:abc", "functions.get_events:0", "call_1:abc", "toolu_ok-1"]
    request = ModelRequest(
        system="",
        messages=(
            Message.user("go"),
            Message(role="assistant", parts=tuple(ToolCallPart(id=i, name="t") for i in ids)),
            Message(
                role="tool",
                parts=tuple(ToolResultPart(call_id=i, name="t", content="r") for i in ids),
            ),
        ),
    )

    wire = make_provider().to_wire(request)

    uses = [b["id"] for b in wire["messages"][1]["content"]]
    results = [b["tool_use_id"] for b in wire["messages"][2]["content"]]
    assert uses == results
    assert all(re.fullmatch(r"[a-zA-Z0-9_-]+", i) for i in uses)
    assert len(set(uses)) == len(ids)
    assert uses[-1] == "toolu_ok-1"
    assert uses == [wire_id(i) for i in ids]
    assert make_provider().to_wire(request) == wire  # deterministic across calls and instances


# --- from_wire details ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("wire", "neutral"),
    [
        ("end_turn", "end_turn"),
        ("tool_use", "tool_use"),
        ("max_tokens", "max_tokens"),
        ("refusal", "refusal"),
        ("stop_sequence", "stop_sequence"),
        ("pause_turn", "pause_turn"),
        ("model_context_window_exceeded", "context_window_exceeded"),
        ("a_reason_from_the_future", "other"),
        (None, "other"),
    ],
)
def test_stop_reasons_are_mapped(wire: str | None, neutral: str) -> None:
    message = {"id": "m", "model": "claude-x", "content": [], "stop_reason": wire, "usage": {}}

    assert make_provider().from_wire(message).stop_reason == neutral


def test_usage_cache_tokens_and_unknown_blocks() -> None:
    thinking = {"type": "thinking", "thinking": "hmm", "signature": "sig"}
    message = {
        "id": "m",
        "model": "claude-x",
        "content": [thinking, {"type": "text", "text": "hello"}, {"type": "text", "text": ""}],
        "stop_reason": "end_turn",
        "usage": {
            "input_tokens": 5,
            "output_tokens": 7,
            "cache_read_input_tokens": 100,
            "cache_creation_input_tokens": None,
        },
    }

    response = make_provider().from_wire(message)

    assert response.parts == (TextPart(text="hello"),)
    assert response.usage == Usage(input_tokens=5, output_tokens=7, cache_read_tokens=100)
    assert response.provider_details["blocks"] == [thinking]


# --- recorded errors -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "status", "words"),
    [
        ("mirascope__authentication_error_401.yaml", 401, "invalid x-api-key"),
        ("mirascope__model_not_found_404.yaml", 404, "this-model-does-not-exist-12345"),
        ("pydantic-ai__invalid_request_400.yaml", 400, "effort level"),
    ],
)
def test_recorded_errors_are_rejections(
    api: respx.MockRouter, name: str, status: int, words: str
) -> None:
    route = api.post("/v1/messages").mock(return_value=cassette(name)[0].response())

    error = fail(lambda: complete(SECRETS_REQUEST))

    assert isinstance(error, ProviderRejected)
    assert (error.status, error.retryable, error.provider) == (status, False, "primary")
    assert words in str(error)
    assert route.call_count == 1


# --- synthetic failures --------------------------------------------------------------------


def error_body(kind: str, message: str) -> dict[str, Any]:
    return {"type": "error", "error": {"type": kind, "message": message}}


def test_overloaded_529_is_retryable_and_sent_once(api: respx.MockRouter) -> None:
    route = api.post("/v1/messages").mock(
        return_value=httpx2.Response(529, json=error_body("overloaded_error", "Overloaded"))
    )

    error = fail(lambda: complete(SECRETS_REQUEST))

    assert isinstance(error, ProviderUnavailable)
    assert (error.status, error.retryable) == (529, True)
    assert type(error.__cause__) is anthropic.OverloadedError
    assert "Overloaded" in str(error)
    assert route.call_count == 1  # max_retries=0: the SDK never retries on its own


@pytest.mark.parametrize(
    ("headers", "wait"),
    [
        ({"retry-after-ms": "1500", "retry-after": "9"}, 1.5),
        ({"retry-after": "7"}, 7.0),
        ({}, None),
    ],
)
def test_rate_limit_honours_retry_after(
    api: respx.MockRouter, headers: dict[str, str], wait: float | None
) -> None:
    api.post("/v1/messages").mock(
        return_value=httpx2.Response(
            429, headers=headers, json=error_body("rate_limit_error", "slow down")
        )
    )

    error = fail(lambda: complete(SECRETS_REQUEST))

    assert isinstance(error, ProviderUnavailable)
    assert (error.status, error.retry_after) == (429, wait)


def test_server_error_is_retryable(api: respx.MockRouter) -> None:
    api.post("/v1/messages").mock(return_value=httpx2.Response(500, text="<html>oops</html>"))

    error = fail(lambda: complete(SECRETS_REQUEST))

    assert isinstance(error, ProviderUnavailable)
    assert error.status == 500


def test_error_event_inside_a_stream_is_retryable(api: respx.MockRouter) -> None:
    body = sse([message_start()]) + (
        b"event: error\ndata: "
        + json.dumps(error_body("overloaded_error", "Overloaded")).encode()
        + b"\n\n"
    )
    api.post("/v1/messages").mock(return_value=sse_response(body))

    error = fail(lambda: stream(SECRETS_REQUEST))

    assert isinstance(error, ProviderUnavailable)
    assert error.retryable
    assert "overloaded_error" in str(error)
    # what the SDK raises: a plain APIStatusError carrying the stream's HTTP 200
    assert type(error.__cause__) is anthropic.APIStatusError
    assert error.__cause__.status_code == 200


def test_connection_error_is_retryable(api: respx.MockRouter) -> None:
    api.post("/v1/messages").mock(side_effect=httpx2.ConnectError("connection refused"))

    error = fail(lambda: complete(SECRETS_REQUEST))

    assert isinstance(error, ProviderUnavailable)
    assert type(error.__cause__) is anthropic.APIConnectionError
    assert error.status is None


def test_timeout_is_retryable(api: respx.MockRouter) -> None:
    api.post("/v1/messages").mock(side_effect=httpx2.ReadTimeout("too slow"))

    error = fail(lambda: complete(SECRETS_REQUEST))

    assert isinstance(error, ProviderUnavailable)
    assert type(error.__cause__) is anthropic.APITimeoutError
    assert "timed out" in str(error)


class CutStream(httpx2.AsyncByteStream):
    """Sends the first bytes of a stream, then fails like a dropped connection."""

    def __init__(self, head: bytes) -> None:
        self.head = head

    async def __aiter__(self) -> AsyncIterator[bytes]:
        yield self.head
        raise httpx2.RemoteProtocolError("peer closed connection without sending complete body")


def test_stream_cut_midway_is_retryable(api: respx.MockRouter) -> None:
    recorded = cassette("mirascope__call_with_tools__stream.yaml")[0].body
    head = recorded[: len(recorded) // 2]
    api.post("/v1/messages").mock(
        return_value=httpx2.Response(
            200, headers={"content-type": "text/event-stream"}, stream=CutStream(head)
        )
    )
    seen: list[StreamEvent] = []

    async def collect(provider: AnthropicProvider) -> None:
        async for event in provider.stream(SECRETS_REQUEST):
            seen.append(event)

    error = fail(lambda: run(collect))

    assert isinstance(error, ProviderUnavailable)
    assert type(error.__cause__) is httpx2.RemoteProtocolError  # bare, not wrapped by the SDK
    assert any(isinstance(e, TextDelta) for e in seen)
    assert not any(isinstance(e, ResponseDone) for e in seen)


def test_plain_body_cut_short_is_retryable(api: respx.MockRouter) -> None:
    body = cassette("mirascope__call_with_tools__sync.yaml")[0].body
    api.post("/v1/messages").mock(
        return_value=httpx2.Response(
            200, headers={"content-type": "application/json"}, stream=CutStream(body[:50])
        )
    )

    error = fail(lambda: complete(SECRETS_REQUEST))

    assert isinstance(error, ProviderUnavailable)
    assert type(error.__cause__) is anthropic.APIConnectionError


def test_stream_ending_without_message_stop_is_retryable(api: respx.MockRouter) -> None:
    events = [message_start(), *tool_use_events(0, "toolu_1", "t", ['{"a":'])]
    api.post("/v1/messages").mock(return_value=sse_response(sse(events)))

    error = fail(lambda: stream(SECRETS_REQUEST))

    assert isinstance(error, ProviderUnavailable)


def test_non_json_body_is_a_malformed_response(api: respx.MockRouter) -> None:
    api.post("/v1/messages").mock(
        return_value=httpx2.Response(
            200, headers={"content-type": "application/json"}, content=b"{not json"
        )
    )

    error = fail(lambda: complete(SECRETS_REQUEST))

    assert isinstance(error, ProviderRejected)
    assert "malformed response" in str(error)
    assert type(error.__cause__) is json.JSONDecodeError


def test_events_out_of_order_are_a_malformed_response(api: respx.MockRouter) -> None:
    delta = {
        "type": "content_block_delta",
        "index": 3,
        "delta": {"type": "text_delta", "text": "x"},
    }
    api.post("/v1/messages").mock(return_value=sse_response(sse([message_start(), delta])))

    error = fail(lambda: stream(SECRETS_REQUEST))

    assert isinstance(error, ProviderRejected)
    assert "malformed response" in str(error)


@pytest.mark.parametrize(
    ("chunks", "raw"),
    [
        (['{"password": ', "tru}"], '{"password": tru}'),  # not JSON at all
        (['{"password": "mel'], '{"password": "mel'),  # cut short at max_tokens
        (["[1, 2]"], "[1, 2]"),  # JSON, but not an object
    ],
)
def test_invalid_streamed_arguments_become_raw_arguments(
    api: respx.MockRouter, chunks: list[str], raw: str
) -> None:
    events = [
        message_start(),
        *tool_use_events(0, "toolu_bad", "secret_retrieval_tool", ["", *chunks]),
        *message_end("max_tokens"),
    ]
    api.post("/v1/messages").mock(return_value=sse_response(sse(events)))

    response = final(stream(SECRETS_REQUEST))

    assert tuple(provider_ids(response.parts)) == (
        ToolCallPart(id="toolu_bad", name="secret_retrieval_tool", arguments={}, raw_arguments=raw),
    )
    assert response.stop_reason == "max_tokens"


def test_the_api_key_never_appears_in_errors(api: respx.MockRouter) -> None:
    echo = error_body("authentication_error", f"invalid x-api-key {API_KEY}")
    route = api.post("/v1/messages").mock(return_value=httpx2.Response(401, json=echo))

    error = fail(lambda: complete(SECRETS_REQUEST))

    assert route.calls.last.request.headers["authorization"] == f"Bearer {API_KEY}"
    assert "[redacted]" in str(error)


def test_map_error_covers_bare_transport_and_json_errors() -> None:
    cut = map_error(httpx2.RemoteProtocolError("incomplete chunked read"), provider="p")
    garbled = map_error(json.JSONDecodeError("Expecting value", "x", 0), provider="p")

    assert isinstance(cut, ProviderUnavailable)
    assert isinstance(garbled, ProviderRejected)
    assert str(garbled) == "p: malformed response"
