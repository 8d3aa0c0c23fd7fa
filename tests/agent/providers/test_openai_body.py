"""The OpenAI adapter sends ``to_wire`` as the body and reads the JSON itself (issue 10).

Since the adapter goes through the client's generic ``post`` rather than
``chat.completions.create``, these pin down what that must not change: the exact body, the API
key, and a completion whose content type is not JSON (some local servers).
"""

from __future__ import annotations

import asyncio
import json

import httpx2
import respx

from morrow.agent.messages import Message, ModelRequest, ToolSpec
from morrow.agent.providers.openai import OpenAIProvider

URL = "http://127.0.0.1:11434/v1/chat/completions"
KEY = "sk-local-0123456789abcdef"
TOOL = ToolSpec(
    name="get_weather",
    description="The weather.",
    parameters={"type": "object", "properties": {"city": {"type": "string"}}},
)
COMPLETION = {
    "id": "c1",
    "model": "m",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "Sunny."}}],
    "usage": {"prompt_tokens": 5, "completion_tokens": 2},
}


def request() -> ModelRequest:
    return ModelRequest(system="Be brief.", messages=(Message.user("Weather?"),), tools=(TOOL,))


def complete(provider: OpenAIProvider) -> object:
    async def go() -> object:
        try:
            return await provider.complete(request())
        finally:
            await provider.aclose()

    return asyncio.run(go())


def local() -> OpenAIProvider:
    return OpenAIProvider(name="l", model="m", api_key=KEY, base_url="http://127.0.0.1:11434/v1")


def test_the_body_sent_is_to_wire_and_the_key_is_the_bearer(respx_mock: respx.MockRouter):
    route = respx_mock.post(URL).mock(return_value=httpx2.Response(200, json=COMPLETION))
    provider = local()
    expected = provider.to_wire(request())
    response = complete(provider)
    sent = route.calls.last.request
    assert json.loads(sent.content) == expected
    assert sent.headers["authorization"] == f"Bearer {KEY}"
    assert response.text == "Sunny."  # type: ignore[attr-defined]


def test_a_streamed_body_asks_for_usage(respx_mock: respx.MockRouter):
    chunks = [
        {"id": "c1", "model": "m", "choices": [{"index": 0, "delta": {"content": "Hi"}}]},
        {"id": "c1", "model": "m", "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]},
        {"id": "c1", "model": "m", "choices": [], "usage": {"prompt_tokens": 3}},
    ]
    body = "".join(f"data: {json.dumps(c)}\n\n" for c in chunks) + "data: [DONE]\n\n"
    route = respx_mock.post(URL).mock(
        return_value=httpx2.Response(
            200, content=body.encode(), headers={"content-type": "text/event-stream"}
        )
    )
    provider = local()

    async def go() -> list[object]:
        try:
            return [event async for event in provider.stream(request())]
        finally:
            await provider.aclose()

    events = asyncio.run(go())
    sent = json.loads(route.calls.last.request.content)
    assert sent["stream"] is True and sent["stream_options"] == {"include_usage": True}
    done = events[-1]
    assert done.response.text == "Hi" and done.response.usage.input_tokens == 3  # type: ignore[attr-defined]


def test_json_sent_without_a_json_content_type_is_still_read(respx_mock: respx.MockRouter):
    respx_mock.post(URL).mock(
        return_value=httpx2.Response(
            200, content=json.dumps(COMPLETION).encode(), headers={"content-type": "text/plain"}
        )
    )
    assert complete(local()).text == "Sunny."  # type: ignore[attr-defined]
