"""Fallback across providers: the whole history moves to the next API, failures are explained."""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx2
import pytest
import respx
from support.cli import morrow
from support.faults import RUNS, TOOLS, URLS, FakeTime, adapter, error, ok, retrying
from support.turns import bare_context

from morrow.agent.errors import AllProvidersFailed
from morrow.agent.loop import TurnResult, run_turn
from morrow.agent.messages import (
    Message,
    TextPart,
    ToolCallPart,
    ToolResultPart,
    dangling_tool_calls,
)
from morrow.agent.providers.base import Provider
from morrow.agent.providers.health import HealthStore
from morrow.agent.providers.resilience import FallbackProvider
from morrow.agent.safety.gate import ApprovalGate
from morrow.memory.store import Store


@pytest.fixture(autouse=True)
def _fresh_runs() -> None:
    RUNS.clear()


def earlier_conversation(call_ids: list[str]) -> list[Message]:
    """A history whose tool calls were made by another provider (its ids, its style)."""
    return [
        Message.user("I was in Oslo and Bergen."),
        Message(
            role="assistant",
            parts=(
                TextPart(text="Recording both."),
                *(
                    ToolCallPart(id=i, name="record_visit", arguments={"city": c})
                    for i, c in zip(call_ids, ["Oslo", "Bergen"], strict=True)
                ),
            ),
        ),
        Message(
            role="tool",
            parts=tuple(
                ToolResultPart(call_id=i, name="record_visit", content=f"recorded {c}")
                for i, c in zip(call_ids, ["Oslo", "Bergen"], strict=True)
            ),
        ),
        Message(role="assistant", parts=(TextPart(text="Both recorded."),)),
    ]


def chain(*kinds: str, time: FakeTime, health: HealthStore | None = None) -> FallbackProvider:
    members = [retrying(adapter(kind), time, max_attempts=3) for kind in kinds]
    for member in members:
        member.health = health
    return FallbackProvider(members, health=health, clock=time.clock)


def turn(
    provider: Provider, history: list[Message], text: str = "How many cities so far?", **kw: Any
) -> TurnResult:
    async def go() -> TurnResult:
        try:
            return await run_turn(
                history,
                text,
                provider=provider,
                tools=TOOLS,
                tool_context=bare_context(),
                gate=ApprovalGate(mode="allow"),
                system="You record visits.",
                stream=kw.get("stream", False),
                observer=kw.get("observer"),
            )
        finally:
            await provider.aclose()

    return asyncio.run(go())


def sent(route: respx.Route, index: int = -1) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(route.calls[index].request.content)
    return body


# --- the whole history moves to the other API ----------------------------------------------------


@pytest.mark.parametrize("stream", [False, True])
def test_anthropic_overloaded_the_conversation_continues_on_openai(
    respx_mock: respx.MockRouter, stream: bool
) -> None:
    a = respx_mock.post(URLS["anthropic"]).mock(return_value=error("anthropic", 529))
    b = respx_mock.post(URLS["openai"]).mock(
        return_value=ok("openai", "Two cities.") if not stream else None,
        side_effect=None if not stream else lambda _: _streamed_text("openai", "Two cities."),
    )
    history = earlier_conversation(["toolu_01Oslo", "toolu_01Bergen"])
    time = FakeTime()

    result = turn(chain("anthropic", "openai", time=time), history, stream=stream)

    assert (result.answer, result.provider) == ("Two cities.", "openai")
    assert a.call_count == 3 and b.call_count == 1
    assert time.waits == [1.0, 2.0]  # anthropic's retries, then the failover: no extra wait
    assert sent(b)["messages"] == [
        {"role": "system", "content": "You record visits."},
        {"role": "user", "content": "I was in Oslo and Bergen."},
        {
            "role": "assistant",
            "content": "Recording both.",
            "tool_calls": [
                {
                    "id": "toolu_01Oslo",
                    "type": "function",
                    "function": {"name": "record_visit", "arguments": '{"city": "Oslo"}'},
                },
                {
                    "id": "toolu_01Bergen",
                    "type": "function",
                    "function": {"name": "record_visit", "arguments": '{"city": "Bergen"}'},
                },
            ],
        },
        {"role": "tool", "tool_call_id": "toolu_01Oslo", "content": "recorded Oslo"},
        {"role": "tool", "tool_call_id": "toolu_01Bergen", "content": "recorded Bergen"},
        {"role": "assistant", "content": "Both recorded."},
        {"role": "user", "content": "How many cities so far?"},
    ]
    assert dangling_tool_calls(history) == [] and history[-1].text == "Two cities."


def test_openai_down_the_conversation_continues_on_anthropic(respx_mock: respx.MockRouter) -> None:
    respx_mock.post(URLS["openai"]).mock(return_value=error("openai", 503))
    b = respx_mock.post(URLS["anthropic"]).mock(return_value=ok("anthropic", "Two cities."))
    # OpenAI-style ids, one with characters Anthropic refuses (as some servers send)
    history = earlier_conversation(["call_8xQ2", "call:1/weird id"])

    result = turn(chain("openai", "anthropic", time=FakeTime()), history)

    assert result.provider == "anthropic"
    messages = sent(b)["messages"]
    uses = [blk for m in messages for blk in m["content"] if blk["type"] == "tool_use"]
    results = [blk for m in messages for blk in m["content"] if blk["type"] == "tool_result"]
    assert [u["id"] for u in uses] == [r["tool_use_id"] for r in results]
    assert uses[0]["id"] == "call_8xQ2"
    assert all(c.isalnum() or c in "_-" for u in uses for c in u["id"])
    assert [m["role"] for m in messages] == ["user", "assistant", "user", "assistant", "user"]
    assert messages[-1]["content"] == [{"type": "text", "text": "How many cities so far?"}]


# --- failures retrying cannot fix move on at once ------------------------------------------------


@pytest.mark.parametrize(
    "bad",
    [
        httpx2.Response(200, headers={"content-type": "application/json"}, content=b"{not json"),
        httpx2.Response(200, json={"id": "chatcmpl-x", "object": "chat.completion"}),
        httpx2.Response(401, json={"error": {"message": "Incorrect API key provided"}}),
        httpx2.Response(404, json={"error": {"message": "The model does not exist"}}),
    ],
    ids=["not-json", "missing-fields", "auth", "unknown-model"],
)
def test_unfixable_failures_fail_over_without_retrying(
    respx_mock: respx.MockRouter, bad: httpx2.Response
) -> None:
    a = respx_mock.post(URLS["openai"]).mock(return_value=bad)
    respx_mock.post(URLS["anthropic"]).mock(return_value=ok("anthropic", "fine"))
    time = FakeTime()

    result = turn(chain("openai", "anthropic", time=time), [])

    assert (result.answer, a.call_count, time.waits) == ("fine", 1, [])
    assert RUNS == []


def test_context_too_long_fails_over(respx_mock: respx.MockRouter) -> None:
    message = "prompt is too long: 250000 tokens > 200000 maximum"
    too_long = {"type": "error", "error": {"type": "invalid_request_error", "message": message}}
    a = respx_mock.post(URLS["anthropic"]).mock(return_value=httpx2.Response(400, json=too_long))
    respx_mock.post(URLS["openai"]).mock(return_value=ok("openai", "fine"))

    result = turn(chain("anthropic", "openai", time=FakeTime()), [])

    assert (result.answer, a.call_count) == ("fine", 1)


def test_a_tool_call_with_broken_arguments_never_runs(respx_mock: respx.MockRouter) -> None:
    broken = {
        "id": "chatcmpl-b",
        "object": "chat.completion",
        "created": 0,
        "model": "gpt-5-mini",
        "choices": [
            {
                "index": 0,
                "message": {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [
                        {
                            "id": "call_bad",
                            "type": "function",
                            "function": {"name": "record_visit", "arguments": '{"city": Osl'},
                        }
                    ],
                },
                "finish_reason": "tool_calls",
            }
        ],
    }
    route = respx_mock.post(URLS["openai"]).mock(
        side_effect=[httpx2.Response(200, json=broken), ok("openai", "Sorry, let me fix that.")]
    )
    history: list[Message] = []

    result = turn(retrying(adapter("openai"), FakeTime()), history, "Record Oslo")

    assert RUNS == []
    assert result.answer == "Sorry, let me fix that."
    (outcome,) = history[2].tool_results
    assert outcome.is_error and "not a valid JSON object" in outcome.content
    handed_back = sent(route)["messages"][-1]
    assert handed_back["role"] == "tool" and handed_back["tool_call_id"] == "call_bad"


# --- everyone down ------------------------------------------------------------------------------


def test_all_failing_names_each_provider_and_keeps_the_history_valid(
    respx_mock: respx.MockRouter,
) -> None:
    calls = {"n": 0}

    def anthropic(_: httpx2.Request) -> httpx2.Response:
        calls["n"] += 1  # the first step asks for a tool; then it is overloaded for good
        if calls["n"] == 1:
            return httpx2.Response(200, json=_tool_call_message())
        return error("anthropic", 529)

    respx_mock.post(URLS["anthropic"]).mock(side_effect=anthropic)
    respx_mock.post(URLS["openai"]).mock(side_effect=httpx2.ConnectError("connection refused"))
    history: list[Message] = []

    with pytest.raises(AllProvidersFailed) as info:
        turn(chain("anthropic", "openai", time=FakeTime()), history, "Record Oslo")

    lines = str(info.value).splitlines()
    assert lines[0] == "no provider could answer:"
    assert lines[1].startswith("  anthropic: overloaded_error: status 529")
    assert "gave up after 3 attempts" in lines[1]
    assert lines[2].startswith("  openai: connection failed")
    assert len(lines) == 3
    assert info.value.exit_code == 69
    assert RUNS == [{"city": "Oslo"}]  # the first step's call ran once, before the outage
    assert dangling_tool_calls(history) == []
    assert [m.role for m in history] == ["user", "assistant", "tool"]


def _tool_call_message() -> dict[str, Any]:
    return {
        "id": "msg_tool",
        "type": "message",
        "role": "assistant",
        "model": "claude-sonnet-5",
        "content": [
            {"type": "tool_use", "id": "toolu_1", "name": "record_visit", "input": {"city": "Oslo"}}
        ],
        "stop_reason": "tool_use",
        "stop_sequence": None,
        "usage": {"input_tokens": 10, "output_tokens": 5},
    }


def _streamed_text(kind: str, text: str) -> httpx2.Response:
    from support.faults import sse_events, streamed

    return streamed(b"".join(sse_events(kind, text, [])))


def test_a_provider_that_failed_is_tried_last_on_the_next_step(
    respx_mock: respx.MockRouter, tmp_path: Path
) -> None:
    a = respx_mock.post(URLS["anthropic"]).mock(return_value=error("anthropic", 529))
    b = respx_mock.post(URLS["openai"]).mock(
        side_effect=[
            httpx2.Response(200, json=_openai_tool_call()),
            ok("openai", "Recorded."),
        ]
    )
    store = Store.open(tmp_path / "morrow.sqlite")
    health = HealthStore(store, cool_down=600)

    result = turn(chain("anthropic", "openai", time=FakeTime(), health=health), [], "Record Oslo")

    assert result.answer == "Recorded."
    assert a.call_count == 3  # only the first step spent its attempts on the dead provider
    assert b.call_count == 2
    assert health.order(["anthropic", "openai"]) == ["openai", "anthropic"]
    assert "overloaded_error" in health.get("anthropic").reason
    store.close()


def _openai_tool_call() -> dict[str, Any]:
    return {
        "id": "chatcmpl-t",
        "object": "chat.completion",
        "created": 0,
        "model": "gpt-5-mini",
        "choices": [
            {
                "index": 0,
                "message": {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [
                        {
                            "id": "call_t",
                            "type": "function",
                            "function": {"name": "record_visit", "arguments": '{"city": "Oslo"}'},
                        }
                    ],
                },
                "finish_reason": "tool_calls",
            }
        ],
    }


def test_a_deadline_that_stops_retries_leaves_the_rest_to_the_next_provider(
    respx_mock: respx.MockRouter,
) -> None:
    a = respx_mock.post(URLS["anthropic"]).mock(return_value=error("anthropic", 503))
    b = respx_mock.post(URLS["openai"]).mock(return_value=ok("openai", "in time"))
    time = FakeTime()
    members = [
        retrying(adapter("anthropic"), time, max_attempts=5, backoff_initial=1.0),
        retrying(adapter("openai"), time),
    ]

    result = turn(FallbackProvider(members, step_deadline=3.0, clock=time.clock), [])

    assert time.waits == [1.0]  # 2 s more would reach the 3 s deadline: anthropic stops
    assert (a.call_count, b.call_count, result.answer) == (2, 1, "in time")


def test_after_the_deadline_the_next_providers_are_not_tried(respx_mock: respx.MockRouter) -> None:
    time = FakeTime()

    def slow_failure(_: httpx2.Request) -> httpx2.Response:
        time.now += 5.0  # a request that took 5 s to fail
        return error("anthropic", 500)

    respx_mock.post(URLS["anthropic"]).mock(side_effect=slow_failure)
    b = respx_mock.post(URLS["openai"]).mock(return_value=ok("openai"))
    members = [retrying(adapter("anthropic"), time), retrying(adapter("openai"), time)]

    with pytest.raises(AllProvidersFailed) as info:
        turn(FallbackProvider(members, step_deadline=3.0, clock=time.clock), [])

    assert b.call_count == 0 and time.waits == []
    lines = str(info.value).splitlines()
    assert "the step deadline of 3 s left no time to retry" in lines[1]
    assert lines[2] == "  openai: not tried: the step deadline of 3 s had passed"


# --- the real command ---------------------------------------------------------------------------


class _Unavailable(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        return

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("content-length", "0")))
        body = b'{"type": "error", "error": {"type": "api_error", "message": "down for repair"}}'
        self.send_response(503)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def unavailable() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Unavailable)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@pytest.fixture
def silent() -> Iterator[str]:
    """A port that accepts connections and never answers."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        listener.close()


def morrow_ask(home: Path, config: str) -> tuple[subprocess.CompletedProcess[str], float]:
    (home / "config.toml").write_text(config)
    started = time.monotonic()
    done = morrow(home, "ask", "hello")
    return done, time.monotonic() - started


def test_ask_with_every_provider_down_exits_69_naming_each(
    tmp_path: Path, unavailable: str, refused_url: str
) -> None:
    done, _ = morrow_ask(
        tmp_path,
        f'[[providers]]\nname = "primary"\nkind = "anthropic"\nmodel = "claude-sonnet-5"\n'
        f'base_url = "{unavailable}"\nmax_attempts = 2\nbackoff_initial_seconds = 0.01\n\n'
        f'[[providers]]\nname = "backup"\nkind = "openai"\nmodel = "gpt-5-mini"\n'
        f'base_url = "{refused_url}/v1"\nmax_attempts = 2\n'
        "backoff_initial_seconds = 0.01\n\n[resilience]\nstep_deadline_seconds = 20\n",
    )

    assert done.returncode == 69, done.stderr
    (line,) = done.stderr.splitlines()  # one line, each provider's reason in turn
    head, _, backup = line.split(": ", 1)[1].partition("primary: ")
    assert head == "no provider could answer: "
    assert backup.startswith("api_error: down for repair; gave up after 2 attempts")
    assert "; backup: connection failed" in backup
    assert done.stdout == ""


def test_ask_gives_up_at_the_step_deadline_not_the_request_timeout(
    tmp_path: Path, silent: str, refused_url: str
) -> None:
    done, seconds = morrow_ask(
        tmp_path,
        f'[[providers]]\nname = "mute"\nkind = "anthropic"\nmodel = "claude-sonnet-5"\n'
        f'base_url = "{silent}"\ntimeout_seconds = 600\n\n'
        f'[[providers]]\nname = "gone"\nkind = "openai"\nmodel = "gpt-5-mini"\n'
        f'base_url = "{refused_url}/v1"\n\n'
        "[resilience]\nstep_deadline_seconds = 2\n",
    )

    assert done.returncode == 69, done.stderr
    assert "mute: no answer within the step deadline of 2 s" in done.stderr
    assert "gone: not tried: the step deadline of 2 s had passed" in done.stderr
    assert seconds < 60  # the request timeout (600 s) would have held it far longer
