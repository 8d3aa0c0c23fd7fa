"""The OpenAI Chat Completions adapter against recorded and synthetic HTTP traffic."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Coroutine
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any, TypeVar

import httpx2
import pytest
import respx
from support import wire
from support.cassettes import Interaction, load_cassette, provider_ids

from morrow.agent.errors import ConfigError, ProviderError, ProviderRejected, ProviderUnavailable
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
from morrow.agent.providers.base import Provider
from morrow.agent.providers.openai import GEMINI_BASE_URL, OpenAIProvider, wire_tool_call_id

RECORDINGS = Path(__file__).parents[2] / "data" / "provider-recordings" / "openai-chat"
URL = "https://api.openai.com/v1/chat/completions"
GEMINI_URL = GEMINI_BASE_URL + "chat/completions"
KEY = "sk-test-0123456789abcdefSECRET"

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
SECRETS_PROMPT = (
    "Please retrieve the secrets associated with each of these passwords: mellon,radiance"
)


def cassette(name: str) -> list[Interaction]:
    return load_cassette(RECORDINGS / name)


T = TypeVar("T")


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


def provider(**kwargs: Any) -> OpenAIProvider:
    return OpenAIProvider(**{"name": "oai", "model": "gpt-4o", "api_key": KEY, **kwargs})


async def _complete(request: ModelRequest, **kwargs: Any) -> ModelResponse:
    p = provider(**kwargs)
    try:
        return await p.complete(request)
    finally:
        await p.aclose()


async def _stream(request: ModelRequest, **kwargs: Any) -> list[StreamEvent]:
    p = provider(**kwargs)
    try:
        return [event async for event in p.stream(request)]
    finally:
        await p.aclose()


def complete(request: ModelRequest, **kwargs: Any) -> ModelResponse:
    return run(_complete(request, **kwargs))


def stream(request: ModelRequest, **kwargs: Any) -> list[StreamEvent]:
    return run(_stream(request, **kwargs))


def streamed_response(events: list[StreamEvent]) -> ModelResponse:
    done = [e for e in events if isinstance(e, ResponseDone)]
    assert len(done) == 1 and events[-1] is done[0]
    return done[0].response


def sent(route: respx.Route, index: int = -1) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(route.calls[index].request.content)
    return body


def expect_error(coro: Coroutine[Any, Any, Any], kind: type[ProviderError]) -> ProviderError:
    with pytest.raises(kind) as caught:
        run(coro)
    error = caught.value
    assert KEY not in str(error) and KEY not in repr(error.args)
    return error


def secrets_request(*history: Message) -> ModelRequest:
    return ModelRequest(
        system="Use parallel tool calling.",
        messages=(Message.user(SECRETS_PROMPT), *history),
        tools=(SECRET_TOOL,),
    )


def json_response(body: Any, status: int = 200, **headers: str) -> httpx2.Response:
    return httpx2.Response(status, json=body, headers=headers)


def sse_response(*events: Any) -> httpx2.Response:
    lines = [e if isinstance(e, str) else f"data: {json.dumps(e)}\n\n" for e in events]
    body = "".join(lines) + "data: [DONE]\n\n"
    return httpx2.Response(200, text=body, headers={"content-type": "text/event-stream"})


def completion(
    message: dict[str, Any], finish: str | None = "stop", **extra: Any
) -> dict[str, Any]:
    choice = {"index": 0, "message": {"role": "assistant", **message}, "finish_reason": finish}
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "model": "m",
        "choices": [choice],
        **extra,
    }


def chunk(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> dict[str, Any]:
    choice = {"index": 0, "delta": delta, "finish_reason": finish}
    return {"id": "chatcmpl-1", "object": "chat.completion.chunk", "choices": [choice], **extra}


def call_wire(call_id: str, name: str, arguments: str, **extra: Any) -> dict[str, Any]:
    return {
        "id": call_id,
        "type": "function",
        "function": {"name": name, "arguments": arguments},
        **extra,
    }


def chunks_of(body: dict[str, Any], size: int = 4) -> list[dict[str, Any]]:
    """A recorded non-streamed completion re-expressed as stream chunks, arguments fragmented."""
    return wire.openai_chunks(
        body, text_size=len(body["choices"][0]["message"].get("content") or "") or 1, args_size=size
    )


# -- recorded exchanges ---------------------------------------------------------------------------


def test_non_streamed_parallel_tool_calls(respx_mock: respx.MockRouter) -> None:
    first = cassette("mirascope__call_with_tools__sync.yaml")[0]
    route = respx_mock.post(URL).mock(return_value=first.response())

    response = complete(secrets_request())

    assert provider_ids(response.tool_calls) == [
        ToolCallPart(
            id="call_v6LacIrChvs6ITVpIZqy5tFc",
            name="secret_retrieval_tool",
            arguments={"password": "mellon"},
        ),
        ToolCallPart(
            id="call_onyWzk4mLTGKzW9cthmf4Llq",
            name="secret_retrieval_tool",
            arguments={"password": "radiance"},
        ),
    ]
    assert response.text == ""
    assert response.stop_reason == "tool_use"
    assert response.usage == Usage(input_tokens=75, output_tokens=53)
    assert (response.provider, response.model) == ("oai", "gpt-4o")
    assert response.provider_details["model"] == "gpt-4o-2024-08-06"
    body = sent(route)
    recorded = first.request_json
    assert body["messages"] == recorded["messages"]
    assert [t["function"] for t in body["tools"]] == [
        {k: v for k, v in t["function"].items() if k != "strict"} for t in recorded["tools"]
    ]
    assert body["max_completion_tokens"] == 4096 and "max_tokens" not in body
    assert "stream" not in body and "temperature" not in body
    assert route.calls[0].request.headers["authorization"] == f"Bearer {KEY}"


def test_streamed_parallel_tool_calls_with_usage_chunk(respx_mock: respx.MockRouter) -> None:
    first = cassette("mirascope__call_with_tools__stream.yaml")[0]
    assert '"choices":[],"usage":{"prompt_tokens":75' in first.text  # the include_usage chunk
    route = respx_mock.post(URL).mock(return_value=first.response())

    events = stream(secrets_request())

    started = [e for e in events if isinstance(e, ToolCallStarted)]
    assert started == [
        ToolCallStarted(id="call_M26z19sncd7b4LBgzKRRbaUE", name="secret_retrieval_tool"),
        ToolCallStarted(id=started[1].id, name="secret_retrieval_tool"),
    ]
    response = streamed_response(events)
    assert [c.id for c in provider_ids(response.tool_calls)] == [s.id for s in started]
    assert [c.arguments for c in response.tool_calls] == [
        {"password": "mellon"},
        {"password": "radiance"},
    ]
    assert all(c.raw_arguments is None for c in response.tool_calls)
    assert response.stop_reason == "tool_use"
    assert response.usage == Usage(input_tokens=75, output_tokens=53)
    body = sent(route)
    assert body["stream"] is True and body["stream_options"] == {"include_usage": True}
    assert body["messages"] == first.request_json["messages"]


def test_streamed_final_answer_after_tool_results(respx_mock: respx.MockRouter) -> None:
    second = cassette("mirascope__call_with_tools__stream.yaml")[1]
    respx_mock.post(URL).mock(return_value=second.response())

    events = stream(secrets_request())

    deltas = [e.text for e in events if isinstance(e, TextDelta)]
    response = streamed_response(events)
    assert len(deltas) > 5 and "".join(deltas) == response.text
    assert response.text.endswith("Life before Death")
    assert response.parts == (TextPart(text=response.text),)
    assert response.stop_reason == "end_turn"
    assert response.usage == Usage(input_tokens=149, output_tokens=28)


def test_single_call_with_arguments_in_many_fragments(respx_mock: respx.MockRouter) -> None:
    first, second = cassette("llm__tool_use_basic_stream.yaml")
    assert first.text.count('"function":{"arguments"') >= 10
    route = respx_mock.post(URL).mock(side_effect=[first.response(), second.response()])
    multiply = ToolSpec(name="multiply", description="Multiply two numbers.", parameters={})
    request = ModelRequest(
        system="", messages=(Message.user("What is 1231 * 2331?"),), tools=(multiply,)
    )

    events = stream(request, model="gpt-4o-mini")

    call_id = "call_1EYWDzueHEp8OsB8jJSEp7WB"
    assert [e for e in events if not isinstance(e, ResponseDone)] == [
        ToolCallStarted(id=call_id, name="multiply")
    ]
    response = streamed_response(events)
    assert tuple(provider_ids(response.parts)) == (
        ToolCallPart(id=call_id, name="multiply", arguments={"a": 1231, "b": 2331}),
    )
    assert response.usage == Usage(input_tokens=54, output_tokens=20)
    assert sent(route)["messages"] == [{"role": "user", "content": "What is 1231 * 2331?"}]

    history = (
        *request.messages,
        response.to_message(),
        Message(
            role="tool",
            parts=(
                ToolResultPart(
                    call_id=response.tool_calls[0].id, name="multiply", content="2869461"
                ),
            ),
        ),
    )
    events = stream(request.model_copy(update={"messages": history}), model="gpt-4o-mini")

    answer = streamed_response(events)
    assert answer.stop_reason == "end_turn" and "2869461" in answer.text.replace(",", "")
    assert "".join(e.text for e in events if isinstance(e, TextDelta)) == answer.text
    # what llm sent, minus its empty assistant message
    recorded = [
        m for m in second.request_json["messages"] if m != {"role": "assistant", "content": ""}
    ]
    assert strip_none(sent(route)["messages"]) == recorded


def strip_none(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: v for k, v in m.items() if v is not None} for m in messages]


def test_chain_of_two_calls_round_trips(respx_mock: respx.MockRouter) -> None:
    recorded = cassette("llm__tool_use_chain_of_two_calls.yaml")
    route = respx_mock.post(URL).mock(side_effect=[i.response() for i in recorded])
    specs = tuple(
        ToolSpec(
            name=t["function"]["name"],
            description=t["function"]["description"],
            parameters=t["function"]["parameters"],
        )
        for t in recorded[0].request_json["tools"]
    )
    results = {"lookup_population": "123124", "can_have_dragons": "true"}
    history = [Message.user("Can the country of Crumpet have dragons? Answer with only YES or NO")]

    async def chain() -> list[ModelResponse]:
        p = provider(model="gpt-4o-mini")
        responses = []
        try:
            for _ in recorded:
                response = await p.complete(
                    ModelRequest(system="", messages=tuple(history), tools=specs)
                )
                responses.append(response)
                history.append(response.to_message())
                for call in response.tool_calls:
                    result = ToolResultPart(
                        call_id=call.id, name=call.name, content=results[call.name]
                    )
                    history.append(Message(role="tool", parts=(result,)))
        finally:
            await p.aclose()
        return responses

    responses = run(chain())

    assert [c.name for r in responses for c in r.tool_calls] == [
        "lookup_population",
        "can_have_dragons",
    ]
    assert responses[0].tool_calls[0].arguments == {"country": "Crumpet"}
    assert responses[1].tool_calls[0].arguments == {"population": 123124}
    assert responses[2].parts == (TextPart(text="YES"),) and responses[2].stop_reason == "end_turn"
    assert responses[2].usage == Usage(input_tokens=146, output_tokens=3)
    for index, interaction in enumerate(recorded):
        body = sent(route, index)
        assert strip_none(body["messages"]) == interaction.request_json["messages"]
        assert body["tools"] == interaction.request_json["tools"]


def test_round_trip_of_parallel_calls_matches_the_recorded_second_request(
    respx_mock: respx.MockRouter,
) -> None:
    first, second = cassette("mirascope__call_with_tools__sync.yaml")[:2]
    route = respx_mock.post(URL).mock(side_effect=[first.response(), second.response()])
    secrets = {"mellon": "Welcome to Moria!", "radiance": "Life before Death"}

    async def two_steps() -> ModelResponse:
        p = provider()
        try:
            calls = (await p.complete(secrets_request())).tool_calls
            results = tuple(
                ToolResultPart(call_id=c.id, name=c.name, content=secrets[c.arguments["password"]])
                for c in calls
            )
            assistant = Message(role="assistant", parts=tuple(calls))
            return await p.complete(secrets_request(assistant, Message(role="tool", parts=results)))
        finally:
            await p.aclose()

    answer = run(two_steps())

    assert answer.stop_reason == "end_turn" and "Life before Death" in answer.text
    ours, theirs = sent(route)["messages"], second.request_json["messages"]
    assert [m["role"] for m in ours] == [m["role"] for m in theirs]
    assert ours[2]["tool_calls"] == theirs[2]["tool_calls"]
    assert ours[3:] == theirs[3:]


def test_openrouter_repeated_tool_call_is_one_call(respx_mock: respx.MockRouter) -> None:
    first, second = cassette("llm__tools_streaming_variant_a_openrouter.yaml")
    assert first.text.count('"id":"0"') == 2
    route = respx_mock.post(URL).mock(side_effect=[first.response(), second.response()])
    tool = ToolSpec(
        name="llm_version",
        description="Return the installed version of llm",
        parameters={"properties": {}, "type": "object"},
    )
    request = ModelRequest(
        system="", messages=(Message.user("What is the current llm version?"),), tools=(tool,)
    )

    events = stream(request)

    assert [e for e in events if isinstance(e, ToolCallStarted)] == [
        ToolCallStarted(id="0", name="llm_version")
    ]
    response = streamed_response(events)
    assert tuple(provider_ids(response.parts)) == (
        ToolCallPart(id="0", name="llm_version", arguments={}),
    )
    assert response.stop_reason == "tool_use"  # no finish_reason at all in this stream
    assert response.usage == Usage(input_tokens=57, output_tokens=17)

    own_id = response.tool_calls[0].id
    result = ToolResultPart(call_id=own_id, name="llm_version", content="0.fixed-version")
    history = (*request.messages, response.to_message(), Message(role="tool", parts=(result,)))
    answer = streamed_response(stream(request.model_copy(update={"messages": history})))

    assert answer.stop_reason == "end_turn" and "fixed-version" in answer.text
    ours, theirs = sent(route)["messages"], second.request_json["messages"]
    assert ours[1]["tool_calls"] == theirs[2]["tool_calls"]
    assert ours[2] == theirs[3]


def test_streamed_and_non_streamed_recordings_agree(respx_mock: respx.MockRouter) -> None:
    sync = cassette("mirascope__call_with_tools__sync.yaml")[0]
    streamed = cassette("mirascope__call_with_tools__stream.yaml")[0]
    respx_mock.post(URL).mock(side_effect=[sync.response(), streamed.response()])

    whole = complete(secrets_request())
    pieces = streamed_response(stream(secrets_request()))

    def shape(r: ModelResponse) -> Any:
        return [(c.name, c.arguments) for c in r.tool_calls], r.text, r.stop_reason, r.usage

    assert shape(whole) == shape(pieces)


@pytest.mark.parametrize("index", [0, 1, 2])
def test_same_body_streamed_gives_identical_parts(respx_mock: respx.MockRouter, index: int) -> None:
    body = cassette("llm__tool_use_chain_of_two_calls.yaml")[index].json
    respx_mock.post(URL).mock(side_effect=[json_response(body), sse_response(*chunks_of(body))])
    request = ModelRequest(system="", messages=(Message.user("hi"),))

    whole = complete(request)
    pieces = streamed_response(stream(request))

    assert provider_ids(pieces.parts) == provider_ids(whole.parts)
    assert (pieces.stop_reason, pieces.usage) == (whole.stop_reason, whole.usage)
    assert pieces.provider_details == whole.provider_details


# -- mapping details ------------------------------------------------------------------------------


def test_usage_subtracts_cached_tokens_and_tolerates_nulls() -> None:
    p = provider()
    usage = {
        "prompt_tokens": 100,
        "completion_tokens": 7,
        "prompt_tokens_details": {"cached_tokens": 40},
    }
    assert p.from_wire(completion({"content": "ok"}, usage=usage)).usage == Usage(
        input_tokens=60, output_tokens=7, cache_read_tokens=40
    )
    nulls = {"prompt_tokens": None, "completion_tokens": None, "prompt_tokens_details": None}
    assert p.from_wire(completion({"content": "ok"}, usage=nulls)).usage == Usage()
    assert p.from_wire(completion({"content": "ok"})).usage == Usage()


def test_stream_without_usage_counts_zero(respx_mock: respx.MockRouter) -> None:
    respx_mock.post(URL).mock(
        return_value=sse_response(chunk({"content": "Hi"}), chunk({}, "stop"))
    )
    response = streamed_response(stream(ModelRequest(system="", messages=(Message.user("hi"),))))
    assert (
        response.usage == Usage() and response.text == "Hi" and response.stop_reason == "end_turn"
    )


@pytest.mark.parametrize(
    ("finish", "has_calls", "expected"),
    [
        ("stop", False, "end_turn"),
        ("tool_calls", True, "tool_use"),
        ("function_call", False, "tool_use"),
        ("length", False, "max_tokens"),
        ("content_filter", False, "refusal"),
        ("something_new", False, "other"),
        (None, False, "other"),
        ("stop", True, "tool_use"),  # local servers that say "stop" after tool calls
        (None, True, "tool_use"),
    ],
)
def test_finish_reason_mapping(finish: str | None, has_calls: bool, expected: str) -> None:
    calls = [call_wire("c1", "f", "{}")] if has_calls else None
    response = provider().from_wire(completion({"content": "x", "tool_calls": calls}, finish))
    assert response.stop_reason == expected


def test_refusal_becomes_text_and_stop_reason() -> None:
    response = provider().from_wire(
        completion({"content": None, "refusal": "I can't help with that."})
    )
    assert response.parts == (TextPart(text="I can't help with that."),)
    assert response.stop_reason == "refusal"


@pytest.mark.parametrize("arguments", ['{"a": 1', "[1, 2]", '"text"', "not json"])
def test_arguments_that_are_not_a_json_object_keep_the_raw_text(arguments: str) -> None:
    response = provider().from_wire(
        completion({"tool_calls": [call_wire("c1", "f", arguments)]}, "tool_calls")
    )
    assert provider_ids(response.tool_calls) == [
        ToolCallPart(id="c1", name="f", arguments={}, raw_arguments=arguments)
    ]
    # ... and send it back verbatim, so the model sees its own mistake
    history = (Message.user("hi"), response.to_message())
    wire = provider().to_wire(ModelRequest(system="", messages=history))
    assert wire["messages"][1]["tool_calls"][0]["function"]["arguments"] == arguments


def test_arguments_sent_as_an_object_or_empty_are_accepted() -> None:
    calls = [
        call_wire("c1", "f", ""),
        {"id": "c2", "type": "function", "function": {"name": "g", "arguments": {"x": 1}}},
    ]
    response = provider().from_wire(completion({"tool_calls": calls}, "tool_calls"))
    assert [(c.arguments, c.raw_arguments) for c in response.tool_calls] == [
        ({}, None),
        ({"x": 1}, None),
    ]


def test_to_wire_maps_every_role() -> None:
    anthropic_id = "toolu_01A09q90qw90lq917835lq9"
    request = ModelRequest(
        system="Be brief.",
        messages=(
            Message.user("Move my 3pm"),
            Message(
                role="assistant",
                parts=(
                    TextPart(text="Looking."),
                    ToolCallPart(
                        id=anthropic_id,
                        name="list_events",
                        arguments={"start": "2025-01-01T00:00:00+01:00"},
                    ),
                ),
            ),
            Message(
                role="tool",
                parts=(
                    ToolResultPart(
                        call_id=anthropic_id,
                        name="list_events",
                        content="calendar offline",
                        is_error=True,
                    ),
                ),
            ),
            Message(role="assistant", parts=(TextPart(text="The calendar is offline."),)),
        ),
        tools=(
            ToolSpec(name="list_events", description="List events.", parameters={"type": "object"}),
        ),
        temperature=0.2,
        max_tokens=321,
    )

    wire = provider().to_wire(request)

    assert wire == {
        "model": "gpt-4o",
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Move my 3pm"},
            {
                "role": "assistant",
                "content": "Looking.",
                "tool_calls": [
                    call_wire(anthropic_id, "list_events", '{"start": "2025-01-01T00:00:00+01:00"}')
                ],
            },
            {"role": "tool", "tool_call_id": anthropic_id, "content": "Error: calendar offline"},
            {"role": "assistant", "content": "The calendar is offline."},
        ],
        "tools": [
            {
                "type": "function",
                "function": {
                    "name": "list_events",
                    "description": "List events.",
                    "parameters": {"type": "object"},
                },
            }
        ],
        "max_completion_tokens": 321,
        "temperature": 0.2,
    }


def test_long_tool_call_ids_are_shortened_the_same_way_for_call_and_result() -> None:
    long_id = "fc_0f0e50a1476a6c35006912c58dc9f8819192c25864eb16f07f"  # 53 chars
    history = (
        Message.user("hi"),
        Message(
            role="assistant",
            parts=(ToolCallPart(id=long_id, name="f"), ToolCallPart(id=long_id + "x", name="f")),
        ),
        Message(
            role="tool",
            parts=(
                ToolResultPart(call_id=long_id, name="f", content="1"),
                ToolResultPart(call_id=long_id + "x", name="f", content="2"),
            ),
        ),
    )
    messages = provider().to_wire(ModelRequest(system="", messages=history))["messages"]
    call_ids = [c["id"] for c in messages[1]["tool_calls"]]
    assert call_ids == [m["tool_call_id"] for m in messages[2:]]
    assert all(len(i) <= 40 for i in call_ids) and call_ids[0] != call_ids[1]
    assert call_ids[0] == wire_tool_call_id(long_id) == wire_tool_call_id(long_id)
    assert messages[1]["content"] is None  # only tool calls


@pytest.mark.parametrize(
    "message",
    [
        Message(role="user", parts=(ToolResultPart(call_id="c", name="f", content="x"),)),
        Message(role="assistant", parts=(ToolResultPart(call_id="c", name="f", content="x"),)),
        Message(role="tool", parts=(TextPart(text="stray"),)),
    ],
)
def test_a_part_the_role_cannot_carry_raises(message: Message) -> None:
    with pytest.raises(ProviderRejected, match="cannot send"):
        provider().to_wire(ModelRequest(system="", messages=(message,)))


def test_local_servers_get_max_tokens_and_accept_a_placeholder_key(
    respx_mock: respx.MockRouter,
) -> None:
    route = respx_mock.post("http://127.0.0.1:11434/v1/chat/completions").mock(
        return_value=json_response(completion({"content": "hello"}))
    )
    response = complete(
        ModelRequest(system="", messages=(Message.user("hi"),)),
        base_url="http://127.0.0.1:11434/v1",
        api_key="ollama",
        model="llama3.2",
    )
    assert response.text == "hello"
    assert sent(route)["max_tokens"] == 4096 and "max_completion_tokens" not in sent(route)
    with pytest.raises(ConfigError):
        provider(api_key="")


def test_satisfies_the_provider_protocol() -> None:
    p = provider()
    try:
        assert isinstance(p, Provider)
    finally:
        run(p.aclose())


def test_injected_http_client_is_left_to_its_owner(respx_mock: respx.MockRouter) -> None:
    respx_mock.post(URL).mock(return_value=json_response(completion({"content": "ok"})))

    async def go() -> tuple[str, bool]:
        async with httpx2.AsyncClient() as client:
            p = provider(http_client=client)
            text = (await p.complete(ModelRequest(system="", messages=(Message.user("hi"),)))).text
            await p.aclose()
            return text, client.is_closed

    assert run(go()) == ("ok", False)


# -- Gemini through its OpenAI-compatible endpoint ------------------------------------------------

SIGNATURE = {"google": {"thought_signature": "CvYBAdHtim+sig=="}}


def gemini_history(response: ModelResponse) -> tuple[Message, ...]:
    call = response.tool_calls[0]
    result = ToolResultPart(call_id=call.id, name=call.name, content="6")
    return (Message.user("2*3?"), response.to_message(), Message(role="tool", parts=(result,)))


def test_gemini_default_url_and_thought_signature_echo(respx_mock: respx.MockRouter) -> None:
    body = completion(
        {
            "content": None,
            "tool_calls": [
                call_wire("function-call-1", "multiply", '{"a":2,"b":3}', extra_content=SIGNATURE)
            ],
        },
        "tool_calls",
    )
    route = respx_mock.post(GEMINI_URL).mock(
        side_effect=[json_response(body), json_response(completion({"content": "6"}))]
    )
    request = ModelRequest(system="", messages=(Message.user("2*3?"),))

    async def two_steps() -> ModelResponse:
        p = provider(kind="gemini", model="gemini-2.5-flash")
        try:
            assert p.base_url == GEMINI_BASE_URL
            first = await p.complete(request)
            await p.complete(request.model_copy(update={"messages": gemini_history(first)}))
            return first
        finally:
            await p.aclose()

    first = run(two_steps())

    call = first.tool_calls[0]
    assert call.provider_details == {"provider_kind": "gemini", "extra_content": SIGNATURE}
    assert sent(route, 0)["max_tokens"] == 4096
    echoed = sent(route, 1)["messages"][1]["tool_calls"][0]
    assert echoed == call_wire(
        "function-call-1", "multiply", '{"a": 2, "b": 3}', extra_content=SIGNATURE
    )
    # another kind of provider never sees Gemini's signature
    wire = provider().to_wire(request.model_copy(update={"messages": gemini_history(first)}))
    assert "extra_content" not in wire["messages"][1]["tool_calls"][0]


def test_gemini_streamed_thought_signature(respx_mock: respx.MockRouter) -> None:
    call = {
        "index": 0,
        **call_wire("function-call-1", "multiply", '{"a":2,"b":3}', extra_content=SIGNATURE),
    }
    respx_mock.post(GEMINI_URL).mock(
        return_value=sse_response(chunk({"role": "assistant", "tool_calls": [call]}, "tool_calls"))
    )
    events = stream(ModelRequest(system="", messages=(Message.user("2*3?"),)), kind="gemini")
    (part,) = streamed_response(events).tool_calls
    assert part.arguments == {"a": 2, "b": 3}
    assert part.provider_details == {"provider_kind": "gemini", "extra_content": SIGNATURE}


# -- streaming quirks -----------------------------------------------------------------------------


def test_parallel_calls_all_numbered_zero_stay_apart(respx_mock: respx.MockRouter) -> None:
    calls = [{"index": 0, **call_wire(f"c{i}", "f", json.dumps({"i": i}))} for i in (1, 2)]
    respx_mock.post(URL).mock(
        return_value=sse_response(
            *(chunk({"tool_calls": [c]}) for c in calls), chunk({}, "tool_calls")
        )
    )
    response = streamed_response(stream(ModelRequest(system="", messages=(Message.user("hi"),))))
    assert [(c.id, c.arguments) for c in provider_ids(response.tool_calls)] == [
        ("c1", {"i": 1}),
        ("c2", {"i": 2}),
    ]


def test_server_repeating_the_id_on_every_fragment(respx_mock: respx.MockRouter) -> None:
    fragments = ['{"a', '": 1', "}"]
    pieces = [chunk({"tool_calls": [{"index": 0, **call_wire("c1", "f", f)}]}) for f in fragments]
    respx_mock.post(URL).mock(return_value=sse_response(*pieces, chunk({}, "tool_calls")))
    events = stream(ModelRequest(system="", messages=(Message.user("hi"),)))
    assert [e for e in events if isinstance(e, ToolCallStarted)] == [
        ToolCallStarted(id="c1", name="f")
    ]
    assert streamed_response(events).tool_calls[0].arguments == {"a": 1}


# -- errors ---------------------------------------------------------------------------------------


def simple_request() -> ModelRequest:
    return ModelRequest(system="", messages=(Message.user("hi"),))


def test_recorded_401_is_rejected(respx_mock: respx.MockRouter) -> None:
    (recorded,) = cassette("mirascope__authentication_error_401.yaml")
    respx_mock.post(URL).mock(return_value=recorded.response())
    error = expect_error(_complete(simple_request()), ProviderRejected)
    assert error.status == 401 and not error.retryable
    assert "Incorrect API key" in str(error)


def test_recorded_openrouter_429s_are_retryable(respx_mock: respx.MockRouter) -> None:
    recorded = cassette("pydantic-ai__openrouter_rate_limited_429.yaml")
    base = "https://openrouter.ai/api/v1"
    route = respx_mock.post(base + "/chat/completions").mock(
        side_effect=[i.response() for i in recorded]
    )
    for _ in recorded:
        error = expect_error(_complete(simple_request(), base_url=base), ProviderUnavailable)
        assert error.status == 429 and error.retryable
        assert "Provider returned error" in str(error)
    assert route.call_count == len(recorded)  # one request per call: the SDK does not retry


@pytest.mark.parametrize("status", [408, 409, 429, 500, 502, 503, 529])
def test_transient_statuses_are_retryable(respx_mock: respx.MockRouter, status: int) -> None:
    route = respx_mock.post(URL).mock(
        return_value=json_response({"error": {"message": "busy", "type": "server_error"}}, status)
    )
    error = expect_error(_complete(simple_request()), ProviderUnavailable)
    assert error.status == status and error.retryable
    assert route.call_count == 1


@pytest.mark.parametrize("status", [400, 401, 403, 404, 413, 422])
def test_request_errors_are_not_retryable(respx_mock: respx.MockRouter, status: int) -> None:
    respx_mock.post(URL).mock(
        return_value=json_response(
            {"error": {"message": "no", "type": "invalid_request_error"}}, status
        )
    )
    error = expect_error(_complete(simple_request()), ProviderRejected)
    assert error.status == status and not error.retryable
    assert "invalid_request_error: no" in str(error)


@pytest.mark.parametrize(
    ("headers", "low", "high"),
    [
        ({"retry-after-ms": "1500"}, 1.5, 1.5),
        ({"retry-after": "7"}, 7.0, 7.0),
        # an HTTP date 30 s ahead, computed when the test runs (not when it is collected)
        ({"retry-after": "http-date+30"}, 20.0, 31.0),
    ],
)
def test_retry_after_is_honoured(
    respx_mock: respx.MockRouter, headers: dict[str, str], low: float, high: float
) -> None:
    if headers.get("retry-after") == "http-date+30":
        ahead = datetime.now(UTC) + timedelta(seconds=30)
        headers = {"retry-after": format_datetime(ahead, usegmt=True)}
    respx_mock.post(URL).mock(
        return_value=json_response({"error": {"message": "slow down"}}, 429, **headers)
    )
    error = expect_error(_complete(simple_request()), ProviderUnavailable)
    assert error.retry_after is not None and low <= error.retry_after <= high


def test_error_event_inside_the_stream(respx_mock: respx.MockRouter) -> None:
    overloaded = {"error": {"message": "The server is overloaded", "type": "server_error"}}
    invalid = {"error": {"message": "Invalid tool schema", "type": "invalid_request_error"}}
    respx_mock.post(URL).mock(
        side_effect=[sse_response(chunk({"content": "Hel"}), overloaded), sse_response(invalid)]
    )
    shown: list[StreamEvent] = []

    async def consume() -> None:
        p = provider()
        try:
            async for event in p.stream(simple_request()):
                shown.append(event)
        finally:
            await p.aclose()

    error = expect_error(consume(), ProviderUnavailable)
    assert "overloaded" in str(error)
    assert shown == [TextDelta(text="Hel")]  # no ResponseDone after a failure
    error = expect_error(_stream(simple_request()), ProviderRejected)
    assert "Invalid tool schema" in str(error)


def test_error_event_with_a_retryable_code(respx_mock: respx.MockRouter) -> None:
    respx_mock.post(URL).mock(
        return_value=sse_response({"error": {"code": 502, "message": "Provider returned error"}})
    )
    error = expect_error(_stream(simple_request()), ProviderUnavailable)
    assert error.status == 502


class CutStream(httpx2.AsyncByteStream):
    async def __aiter__(self) -> AsyncIterator[bytes]:
        yield f"data: {json.dumps(chunk({'content': 'Hel'}))}\n\n".encode()
        raise httpx2.RemoteProtocolError(
            "peer closed connection without sending complete message body"
        )


def test_stream_cut_midway_is_retryable(respx_mock: respx.MockRouter) -> None:
    cut = httpx2.Response(200, headers={"content-type": "text/event-stream"}, stream=CutStream())
    respx_mock.post(URL).mock(return_value=cut)
    error = expect_error(_stream(simple_request()), ProviderUnavailable)
    assert error.retryable


@pytest.mark.parametrize(
    "exc",
    [
        httpx2.RemoteProtocolError("peer closed"),
        httpx2.ReadError("reset"),
        httpx2.ReadTimeout("slow"),
    ],
)
def test_bare_transport_errors_map_to_unavailable(exc: Exception) -> None:
    assert isinstance(provider().map_error(exc), ProviderUnavailable)


@pytest.mark.parametrize("exc", [httpx2.ConnectError("refused"), httpx2.ReadTimeout("slow")])
def test_connection_failures_and_timeouts_are_retryable(
    respx_mock: respx.MockRouter, exc: Exception
) -> None:
    respx_mock.post(URL).mock(side_effect=exc)
    expect_error(_complete(simple_request()), ProviderUnavailable)


@pytest.mark.parametrize(
    "response",
    [
        httpx2.Response(
            200, text="<html>bad gateway</html>", headers={"content-type": "application/json"}
        ),
        httpx2.Response(
            200, text="<html>bad gateway</html>", headers={"content-type": "text/html"}
        ),
        json_response({"id": "x", "object": "chat.completion"}),
        json_response({"id": "x", "choices": []}),
        json_response({"id": "x", "choices": [{"index": 0, "finish_reason": "stop"}]}),
        json_response({"id": "x", "choices": "nonsense"}),
        json_response(completion({"tool_calls": [{"id": "c", "type": "function"}]})),
        json_response([1, 2, 3]),
    ],
    ids=[
        "non-json",
        "html",
        "no-choices",
        "empty-choices",
        "no-message",
        "bad-choices",
        "no-function",
        "array",
    ],
)
def test_malformed_bodies_are_rejected(
    respx_mock: respx.MockRouter, response: httpx2.Response
) -> None:
    respx_mock.post(URL).mock(return_value=response)
    error = expect_error(_complete(simple_request()), ProviderRejected)
    assert "malformed response" in str(error)


def test_malformed_sse_data_is_rejected(respx_mock: respx.MockRouter) -> None:
    respx_mock.post(URL).mock(return_value=sse_response("data: {not json\n\n"))
    expect_error(_stream(simple_request()), ProviderRejected)


def test_error_object_in_a_200_body(respx_mock: respx.MockRouter) -> None:
    respx_mock.post(URL).mock(
        return_value=json_response({"error": {"message": "upstream overloaded", "code": 502}})
    )
    expect_error(_complete(simple_request()), ProviderUnavailable)


def test_api_key_echoed_by_the_server_is_scrubbed(respx_mock: respx.MockRouter) -> None:
    body = {
        "error": {"message": f"Incorrect API key provided: {KEY}.", "type": "invalid_request_error"}
    }
    respx_mock.post(URL).mock(side_effect=[json_response(body, 401), sse_response(body)])
    assert "Incorrect API key provided" in str(
        expect_error(_complete(simple_request()), ProviderRejected)
    )
    expect_error(_stream(simple_request()), ProviderRejected)
