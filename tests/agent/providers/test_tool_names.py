"""An external tool's dotted name is sent as the APIs allow it and read back exactly."""

import pytest

from morrow.agent.messages import Message, ModelRequest, ToolCallPart, ToolSpec
from morrow.agent.providers._names import from_wire_name, to_wire_name
from morrow.agent.providers.anthropic import AnthropicProvider
from morrow.agent.providers.openai import OpenAIProvider
from morrow.tools.catalog import all_tools

SPEC = ToolSpec(name="time.get_current_time", description="now", parameters={"type": "object"})
CALL = ToolCallPart(id="toolu_1", name="time.get_current_time", arguments={"timezone": "UTC"})
REQUEST = ModelRequest(
    system="s",
    messages=(Message.user("time?"), Message(role="assistant", parts=(CALL,))),
    tools=(SPEC,),
    max_tokens=10,
)


@pytest.mark.parametrize(
    ("name", "wire"),
    [
        ("list_events", "list_events"),
        ("time.get_current_time", "time__get_current_time"),
        ("my-srv.get__odd_name", "my-srv__get__odd_name"),
    ],
)
def test_names_go_out_valid_and_come_back_exactly(name, wire):
    assert to_wire_name(name) == wire
    assert from_wire_name(wire) == name


def test_no_built_in_tool_name_holds_the_separator():
    assert not [t.name for t in all_tools() if "__" in t.name]


def test_anthropic_sends_and_reads_the_wire_name():
    provider = AnthropicProvider(name="a", model="m", api_key="k")
    wire = provider.to_wire(REQUEST)
    assert wire["tools"][0]["name"] == "time__get_current_time"
    assert wire["messages"][1]["content"][0]["name"] == "time__get_current_time"
    message = {
        "content": [
            {"type": "tool_use", "id": "toolu_2", "name": "time__get_current_time", "input": {}}
        ],
        "stop_reason": "tool_use",
        "usage": {},
    }
    assert provider.from_wire(message).tool_calls[0].name == "time.get_current_time"


def test_openai_sends_and_reads_the_wire_name():
    provider = OpenAIProvider(name="o", model="m", api_key="k")
    wire = provider.to_wire(REQUEST)
    assert wire["tools"][0]["function"]["name"] == "time__get_current_time"
    assert wire["messages"][2]["tool_calls"][0]["function"]["name"] == "time__get_current_time"
    completion = {
        "choices": [
            {
                "message": {
                    "role": "assistant",
                    "tool_calls": [
                        {
                            "id": "c1",
                            "type": "function",
                            "function": {"name": "time__get_current_time", "arguments": "{}"},
                        }
                    ],
                },
                "finish_reason": "tool_calls",
            }
        ],
        "usage": {},
        "model": "m",
    }
    assert provider.from_wire(completion).tool_calls[0].name == "time.get_current_time"
