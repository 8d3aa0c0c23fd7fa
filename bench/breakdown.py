"""Where morrow's extra time per turn goes: its own steps timed one by one, on real inputs.

cProfile (``run.py --profile morrow``) points at these pieces but inflates them several times;
here each is timed alone (best of five repeats of many calls), then multiplied by how often a
turn runs it (two model steps, one tool call). Inputs are captured from the fake server: the
SDK objects the provider really receives, and the requests the loop really builds.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import variants

REPEATS = 5


def _best_us(func: Callable[[], object], calls: int = 2000) -> float:
    """Microseconds per call of ``func``: the best of REPEATS batches."""
    best = float("inf")
    for _ in range(REPEATS):
        started = time.perf_counter()
        for _ in range(calls):
            func()
        best = min(best, (time.perf_counter() - started) / calls)
    return best * 1e6


def _best_async_us(make: Callable[[], Any], calls: int = 2000) -> float:
    async def batch() -> float:
        started = time.perf_counter()
        for _ in range(calls):
            await make()
        return (time.perf_counter() - started) / calls

    async def best() -> float:
        return min([await batch() for _ in range(REPEATS)])

    return asyncio.run(best()) * 1e6


def _capture(url: str) -> dict[str, Any]:
    """One real turn (non-streamed) and one raw streamed pass, recording what flows through."""
    import openai  # noqa: TID251  (the bench drives the raw SDK on purpose)

    from morrow.agent.loop import run_turn
    from morrow.agent.providers.openai import OpenAIProvider
    from morrow.agent.safety.gate import ApprovalGate
    from morrow.tools.base import ToolRegistry
    from morrow.tools.context import ToolContext

    seen: dict[str, Any] = {"requests": [], "completions": [], "recording": True}

    class Recording(OpenAIProvider):
        def to_wire(self, request: Any) -> Any:
            if seen["recording"]:
                seen["requests"].append(request)
            return super().to_wire(request)

        def from_wire(self, completion: object) -> Any:
            if seen["recording"]:
                seen["completions"].append(completion)
            return super().from_wire(completion)

    provider = Recording(name="bench", model=variants.MODEL, api_key="x", base_url=url + "/v1")
    client = openai.AsyncOpenAI(base_url=url + "/v1", api_key="x", max_retries=0)

    async def go() -> list[list[Any]]:
        await run_turn(
            [],
            variants.QUESTION,
            provider=provider,
            tools=ToolRegistry([variants.morrow_tool()]),
            tool_context=ToolContext(None),  # type: ignore[arg-type]  (the tool needs no world)
            gate=ApprovalGate(mode="deny"),
            system=variants.ROOT_SYSTEM,
            stream=False,
        )
        await provider.aclose()
        seen["recording"] = False
        streams = []
        for request in seen["requests"]:  # the same two steps, streamed, as the adapter reads
            body = {**provider.to_wire(request), "stream": True}
            body["stream_options"] = {"include_usage": True}
            chunks = await client.post(
                "/chat/completions",
                body=body,
                cast_to=object,
                options={"security": {"bearer_auth": True}},
                stream=True,
                stream_cls=openai.AsyncStream[object],
            )
            streams.append([chunk async for chunk in chunks])
        await client.close()
        return streams

    seen["streams"] = asyncio.run(go())
    seen["provider"] = provider
    return seen


def measure(url: str, logs: str) -> dict[str, Any]:
    """Microseconds per turn for each piece of work morrow does that the raw loop does not."""
    variants.configure_logs(logs)
    work = _Work(_capture(url))
    chunks = sum(len(c) for c in work.streams)
    thread_us = _best_async_us(work.tool_in_thread, 1000) - _best_async_us(work.tool_direct, 1000)
    pieces = {
        "log events (3 per turn)": _best_us(work.log_events, 500),
        "tool run in a worker thread (asyncio.to_thread) vs a direct call": thread_us,
        "build ModelRequest (2 steps, history revalidated)": _best_us(work.build_requests),
        "to_wire (2 steps)": _best_us(work.to_wire),
        "from_wire + to_message, non-streamed (2 steps)": _best_us(work.from_wire),
        "streamed: chunks -> assembler -> from_wire (2 steps)": _best_us(work.stream_in),
        f"not done since issue 10: an SDK object built per chunk ({chunks} chunks)": _best_us(
            work.chunk_objects
        ),
        "tool validate + result JSON + result message": _best_us(work.tool_bookkeeping),
    }
    return {"logs": logs, "us_per_turn": pieces, "chunks_per_turn": chunks}


class _Work:
    """morrow's own steps of one turn, each callable alone on the captured inputs."""

    def __init__(self, seen: dict[str, Any]) -> None:
        from morrow.agent.messages import ToolCallPart
        from morrow.tools.context import ToolContext

        self.provider = seen["provider"]
        self.requests = seen["requests"]
        self.completions = seen["completions"]
        self.streams = seen["streams"]
        self.tool = variants.morrow_tool()
        history = list(self.requests[-1].messages)
        self.call = next(p for m in history for p in m.parts if isinstance(p, ToolCallPart))
        self.args = self.tool.validate(self.call.arguments)
        self.context = ToolContext(None)  # type: ignore[arg-type]  (the tool needs no world)

    def build_requests(self) -> None:
        from morrow.agent.messages import ModelRequest, ToolSpec

        t = self.tool
        specs = (ToolSpec(name=t.name, description=t.description, parameters=t.parameters),)
        for request in self.requests:
            ModelRequest(
                system=request.system,
                messages=tuple(request.messages),
                tools=specs,
                max_tokens=request.max_tokens,
            )

    def to_wire(self) -> None:
        for request in self.requests:
            self.provider.to_wire(request)

    def from_wire(self) -> None:
        for completion in self.completions:
            self.provider.from_wire(completion).to_message()

    def stream_in(self) -> None:
        from morrow.agent.providers.openai import _as_dict, _ChunkAssembler

        for chunks in self.streams:
            assembler = _ChunkAssembler()
            for chunk in chunks:
                assembler.add(_as_dict(chunk) or {})
            self.provider.from_wire(assembler.completion()).to_message()

    def chunk_objects(self) -> None:
        """What ``chat.completions.create`` does per chunk (and the raw loop pays)."""
        from openai._models import construct_type  # noqa: TID251
        from openai.types.chat import ChatCompletionChunk  # noqa: TID251

        for chunks in self.streams:
            for chunk in chunks:
                construct_type(type_=ChatCompletionChunk, value=chunk)

    def tool_bookkeeping(self) -> None:
        from morrow.agent.messages import Message, ToolResultPart
        from morrow.tools.base import to_json

        validated = self.tool.validate(self.call.arguments)
        content = to_json(variants.weather(validated.city))
        part = ToolResultPart(call_id=self.call.id, name=self.call.name, content=content)
        Message(role="tool", parts=(part,))

    def log_events(self) -> None:
        from morrow.agent.loop import log

        for step in (1, 2):
            log.info(
                "model_step",
                step=step,
                provider="bench",
                model=variants.MODEL,
                latency_ms=1.0,
                input_tokens=100,
                output_tokens=20,
                stop="tool_use",
                tool_calls=1,
            )
        log.info("tool_call", tool="get_weather", is_error=False, latency_ms=0.1)

    async def tool_in_thread(self) -> Any:
        return await self.tool.run(self.context, self.args)

    async def tool_direct(self) -> Any:
        return variants.weather("Paris")
