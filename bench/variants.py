"""The loops measured: the raw openai SDK loop (the floor), morrow's ``run_turn``, the peers.

Each does the same task against the same fake server: the user asks, the model calls
``get_weather``, the tool answers with a small dict, the model answers, so two HTTP requests per
run. Every variant checks its answer, so a broken loop cannot pass for a fast one.

Imports are made inside the builders, so a child process running one variant alone loads only
what that variant needs (its peak RSS is then attributable).
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

ROOT_SYSTEM = "You are a helpful assistant. Use the tools when they help."
QUESTION = "What is the weather in Paris?"
ANSWER = "It is sunny in Paris."
MAX_TOKENS = 4096
MODEL = "bench-model"
# raw-json: the same raw loop reading the JSON itself (``client.post(cast_to=object)``), as
# morrow's adapter does since issue 10: the floor without the SDK's typed layer.
VARIANTS = (
    "raw",
    "raw-stream",
    "raw-json",
    "raw-json-stream",
    "morrow",
    "morrow-stream",
)  # fmt: skip  (the peers' are in peers.py)
# What the fake server calls when a request offers one of these tools (bench/run.py --serve).
SCRIPTED_CALLS: dict[str, dict[str, Any]] = {
    "get_weather": {"city": "Paris"},
    "list_events": {"start": "2026-11-30T00:00:00+01:00", "end": "2026-12-01T00:00:00+01:00"},
}

# The same schema morrow derives from the tool below (checked by --check).
WEATHER_SCHEMA: dict[str, Any] = {
    "additionalProperties": False,
    "properties": {"city": {"description": "The city, e.g. Paris.", "type": "string"}},
    "required": ["city"],
    "type": "object",
}
WEATHER_DESCRIPTION = "The current weather in a city."


def weather(city: str) -> dict[str, Any]:
    """The trivial in-process tool both loops run."""
    return {"city": city, "sky": "sunny", "celsius": 21}


@dataclass
class Variant:
    """One loop, ready to run: ``run()`` does one whole task; ``close()`` releases the client."""

    name: str
    run: Callable[[], Awaitable[str]]
    close: Callable[[], Awaitable[None]]


def build_own(name: str, url: str) -> Variant:
    """One of :data:`VARIANTS` (the floor or morrow), pointed at the fake server at ``url``."""
    if name.startswith("raw"):
        return _raw(name, url, stream=name.endswith("-stream"))
    return _morrow(name, url, stream=name.endswith("-stream"))


# -- the floor: a raw loop on the openai SDK --------------------------------------------------


def _raw(name: str, url: str, *, stream: bool) -> Variant:
    import openai  # noqa: TID251  (the floor is the raw SDK, by definition)

    client = openai.AsyncOpenAI(base_url=url + "/v1", api_key="x", max_retries=0)
    tools = [
        {
            "type": "function",
            "function": {
                "name": "get_weather",
                "description": WEATHER_DESCRIPTION,
                "parameters": WEATHER_SCHEMA,
            },
        }
    ]
    if name.startswith("raw-json"):
        step = _json_stream_step if stream else _json_step
    else:
        step = _raw_stream_step if stream else _raw_step

    async def run() -> str:
        messages: list[dict[str, Any]] = [
            {"role": "system", "content": ROOT_SYSTEM},
            {"role": "user", "content": QUESTION},
        ]
        while True:
            text, calls = await step(client, messages, tools)
            if not calls:
                return text
            messages.append({"role": "assistant", "content": text or None, "tool_calls": calls})
            for call in calls:
                result = weather(**json.loads(call["function"]["arguments"]))
                messages.append(
                    {"role": "tool", "tool_call_id": call["id"], "content": json.dumps(result)}
                )

    return Variant(name, run, client.close)


async def _raw_step(client: Any, messages: list[Any], tools: list[Any]) -> tuple[str, list[Any]]:
    completion = await client.chat.completions.create(
        model=MODEL, messages=messages, tools=tools, max_tokens=MAX_TOKENS
    )
    message = completion.choices[0].message
    calls = [
        {
            "id": c.id,
            "type": "function",
            "function": {"name": c.function.name, "arguments": c.function.arguments},
        }
        for c in message.tool_calls or []
    ]
    return message.content or "", calls


async def _raw_stream_step(
    client: Any, messages: list[Any], tools: list[Any]
) -> tuple[str, list[Any]]:
    chunks = await client.chat.completions.create(
        model=MODEL,
        messages=messages,
        tools=tools,
        max_tokens=MAX_TOKENS,
        stream=True,
        stream_options={"include_usage": True},
    )
    text: list[str] = []
    calls: dict[int, dict[str, Any]] = {}
    async for chunk in chunks:
        for choice in chunk.choices:
            delta = choice.delta
            if delta.content:
                text.append(delta.content)
            for part in delta.tool_calls or []:
                call = calls.setdefault(
                    part.index,
                    {"id": "", "type": "function", "function": {"name": "", "arguments": ""}},
                )
                call["id"] = part.id or call["id"]
                if part.function is not None:
                    call["function"]["name"] += part.function.name or ""
                    call["function"]["arguments"] += part.function.arguments or ""
    return "".join(text), [calls[i] for i in sorted(calls)]


_OPTIONS: Any = {"security": {"bearer_auth": True}}


async def _json_step(client: Any, messages: list[Any], tools: list[Any]) -> tuple[str, list[Any]]:
    body = {"model": MODEL, "messages": messages, "tools": tools, "max_tokens": MAX_TOKENS}
    data = await client.post("/chat/completions", body=body, cast_to=object, options=_OPTIONS)
    message = data["choices"][0]["message"]
    calls = [
        {"id": c["id"], "type": "function", "function": c["function"]}
        for c in message.get("tool_calls") or []
    ]
    return message.get("content") or "", calls


async def _json_stream_step(
    client: Any, messages: list[Any], tools: list[Any]
) -> tuple[str, list[Any]]:
    import openai  # noqa: TID251

    body = {"model": MODEL, "messages": messages, "tools": tools, "max_tokens": MAX_TOKENS}
    body |= {"stream": True, "stream_options": {"include_usage": True}}
    chunks = await client.post(
        "/chat/completions",
        body=body,
        cast_to=object,
        options=_OPTIONS,
        stream=True,
        stream_cls=openai.AsyncStream[object],
    )
    text: list[str] = []
    calls: dict[int, dict[str, Any]] = {}
    async for chunk in chunks:
        for choice in chunk["choices"]:
            delta = choice["delta"]
            if delta.get("content"):
                text.append(delta["content"])
            for part in delta.get("tool_calls") or []:
                call = calls.setdefault(
                    part["index"],
                    {"id": "", "type": "function", "function": {"name": "", "arguments": ""}},
                )
                call["id"] = part.get("id") or call["id"]
                function = part.get("function") or {}
                call["function"]["name"] += function.get("name") or ""
                call["function"]["arguments"] += function.get("arguments") or ""
    return "".join(text), [calls[i] for i in sorted(calls)]


# -- morrow: run_turn with OpenAIProvider -------------------------------------------------------


def configure_logs(mode: str) -> None:
    """Set up logging as ``morrow ask`` does (``file``), or leave it off (``off``)."""
    from morrow.agent import logs

    if mode == "file":  # warnings to stderr, info events as JSON lines to a file, as the CLI does
        logs.configure(level="warning", log_dir=_log_dir())
    else:  # no file, only critical events: info events are filtered at the call
        logs.configure(level="critical")


def _log_dir() -> Any:
    from pathlib import Path

    return Path(tempfile.mkdtemp(prefix="morrow-bench-logs-"))


def morrow_tool() -> Any:
    """``get_weather`` as a morrow tool, around the same function as the raw loop's."""
    from morrow.tools.base import tool
    from morrow.tools.context import ToolContext

    def get_weather(ctx: ToolContext, city: str) -> dict[str, Any]:
        """The current weather in a city.

        Args:
            city: The city, e.g. Paris.
        """
        return weather(city)

    get_weather.__annotations__["ctx"] = ToolContext  # imported here, not in the module
    return tool(effect="read")(get_weather)


def _morrow(name: str, url: str, *, stream: bool) -> Variant:
    from morrow.agent.loop import run_turn
    from morrow.agent.messages import Message
    from morrow.agent.providers.openai import OpenAIProvider
    from morrow.agent.safety.gate import ApprovalGate
    from morrow.tools.base import ToolRegistry
    from morrow.tools.context import ToolContext

    provider = OpenAIProvider(
        name="bench", model=MODEL, api_key="x", base_url=url + "/v1", kind="openai"
    )
    tools = ToolRegistry([morrow_tool()])

    async def run() -> str:
        history: list[Message] = []
        result = await run_turn(
            history,
            QUESTION,
            provider=provider,
            tools=tools,
            tool_context=ToolContext(None),  # type: ignore[arg-type]  (the tool needs no world)
            gate=ApprovalGate(mode="deny"),
            system=ROOT_SYSTEM,
            stream=stream,
        )
        return result.answer

    return Variant(name, run, provider.aclose)


def check_schema() -> None:
    """Fail loudly if the raw loop would send a different tool than morrow does."""
    got = morrow_tool()
    if got.parameters != WEATHER_SCHEMA or got.description != WEATHER_DESCRIPTION:
        raise SystemExit(f"tool drift: {got.description!r} {got.parameters!r}")
