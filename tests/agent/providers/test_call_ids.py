"""Tool call ids: morrow's own in the history, the provider's on the wire, never two alike.

Local OpenAI-compatible servers send no ids (or ``call_0``, ``call_1`` ... in every step),
OpenRouter numbers every step's calls ``0``, ``1`` ...: the adapters give each call an id of
morrow's own (unique across sessions, so the effect journal cannot confuse two calls) and keep
the provider's as ``wire_id``, which goes back to the provider as long as no earlier call of
the request went out with it.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from morrow.agent.messages import Message, ModelRequest, ToolCallPart, ToolResultPart
from morrow.agent.providers.anthropic import AnthropicProvider
from morrow.agent.providers.openai import OpenAIProvider


def openai() -> OpenAIProvider:
    return OpenAIProvider(name="local", model="m", api_key="x", base_url="http://127.0.0.1:1/v1")


def anthropic() -> AnthropicProvider:
    return AnthropicProvider(name="a", model="m", api_key="sk-ant-test-0123456789")


def local_step(*calls: dict[str, Any]) -> dict[str, Any]:
    """A completion of a local server: tool calls with whatever ids it sends (or none)."""
    message = {"role": "assistant", "content": None, "tool_calls": list(calls)}
    return {"choices": [{"index": 0, "message": message, "finish_reason": "tool_calls"}]}


def call(name: str, arguments: dict[str, Any], call_id: str | None = None) -> dict[str, Any]:
    wire: dict[str, Any] = {"type": "function"}
    if call_id is not None:
        wire["id"] = call_id
    wire["function"] = {"name": name, "arguments": json.dumps(arguments)}
    return wire


def conversation(steps: list[list[ToolCallPart]]) -> tuple[Message, ...]:
    """A history where each step's calls are answered, one result each."""
    messages = [Message.user("hi")]
    for calls in steps:
        messages.append(Message(role="assistant", parts=tuple(calls)))
        results = [ToolResultPart(call_id=c.id, name=c.name, content=c.id) for c in calls]
        messages.append(Message(role="tool", parts=tuple(results)))
    return tuple(messages)


def test_calls_without_ids_get_distinct_ids_of_morrows_own() -> None:
    steps = [
        openai().from_wire(local_step(call("f", {"n": 1}), call("f", {"n": 2}))).tool_calls,
        openai().from_wire(local_step(call("f", {"n": 3}))).tool_calls,
    ]
    ids = [c.id for step in steps for c in step]
    assert len(set(ids)) == 3 and all(i.startswith("mc_") for i in ids)
    assert [c.wire_id for step in steps for c in step] == [None, None, None]
    # before, these were call_0, call_1 and call_0 again


def test_ids_a_server_repeats_go_back_distinct_the_first_as_the_server_sent_it() -> None:
    numbered = [  # OpenRouter: "0" in every step; a local server: "call_0" twice in one step
        openai().from_wire(local_step(call("f", {"n": 1}, "0"))).tool_calls,
        openai().from_wire(local_step(call("f", {"n": 2}, "0"), call("g", {}, "0"))).tool_calls,
    ]
    history = conversation(numbered)
    wire = openai().to_wire(ModelRequest(system="", messages=history))
    sent = [c["id"] for m in wire["messages"] if m.get("tool_calls") for c in m["tool_calls"]]
    answered = [m["tool_call_id"] for m in wire["messages"] if m["role"] == "tool"]
    assert sent[0] == "0"  # the provider's own id, kept
    assert len(set(sent)) == 3 and sent == answered
    # each result still goes with its own call
    contents = [m["content"] for m in wire["messages"] if m["role"] == "tool"]
    assert contents == [c.id for step in numbered for c in step]


def test_failing_over_to_anthropic_sends_unique_tool_use_ids() -> None:
    numbered = [
        openai().from_wire(local_step(call("f", {"n": n}, "0"))).tool_calls for n in range(3)
    ]
    wire = anthropic().to_wire(ModelRequest(system="", messages=conversation(numbered)))
    uses = [b["id"] for m in wire["messages"] for b in m["content"] if b["type"] == "tool_use"]
    results = [
        b["tool_use_id"]
        for m in wire["messages"]
        for b in m["content"]
        if b["type"] == "tool_result"
    ]
    assert len(set(uses)) == 3 and uses == results and uses[0] == "0"


@pytest.mark.parametrize("kind", ["openai", "anthropic"])
def test_calls_stored_before_morrow_had_ids_of_its_own_go_out_as_before(kind: str) -> None:
    stored = (  # as sessions and trajectories kept calls before ``wire_id`` existed
        '{"role":"assistant","parts":[{"kind":"tool_call","id":"toolu_01Old","name":"f",'
        '"arguments":{},"raw_arguments":null,"provider_details":null},{"kind":"tool_call",'
        '"id":"call_abc","name":"g","arguments":{}}]}'
    )
    old = Message.model_validate_json(stored).tool_calls
    assert [c.wire_id for c in old] == [None, None]
    request = ModelRequest(system="", messages=conversation([old]))
    if kind == "openai":
        wire = openai().to_wire(request)
        sent = [c["id"] for c in wire["messages"][1]["tool_calls"]]
    else:
        wire = anthropic().to_wire(request)
        sent = [b["id"] for b in wire["messages"][1]["content"]]
    assert sent == ["toolu_01Old", "call_abc"]


def test_the_wire_ids_of_a_conversation_never_change_as_it_grows() -> None:
    """Each request sends the earlier calls with the same ids (a prompt cache stays warm)."""
    steps = [openai().from_wire(local_step(call("f", {"n": n}, "0"))).tool_calls for n in range(3)]
    seen: list[list[str]] = []
    for end in range(1, 4):
        wire = openai().to_wire(ModelRequest(system="", messages=conversation(steps[:end])))
        seen.append(
            [c["id"] for m in wire["messages"] if m.get("tool_calls") for c in m["tool_calls"]]
        )
    assert seen[1][:1] == seen[0] and seen[2][:2] == seen[1]
