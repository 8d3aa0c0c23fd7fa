from hypothesis import given
from hypothesis import strategies as st

from morrow.agent.messages import (
    Message,
    ModelResponse,
    TextPart,
    ToolCallPart,
    ToolResultPart,
    Usage,
    dangling_tool_calls,
    dump_messages,
    load_messages,
)

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=5), children, max_size=3)
    ),
    max_leaves=8,
)
parts = st.one_of(
    st.builds(TextPart, text=st.text()),
    st.builds(
        ToolCallPart,
        id=st.text(min_size=1, max_size=12),
        name=st.text(min_size=1, max_size=12),
        arguments=st.dictionaries(st.text(max_size=6), json_values, max_size=4),
        raw_arguments=st.none() | st.text(),
    ),
    st.builds(
        ToolResultPart,
        call_id=st.text(min_size=1),
        name=st.text(min_size=1),
        content=st.text(),
        is_error=st.booleans(),
    ),
)
messages = st.lists(
    st.builds(
        Message,
        role=st.sampled_from(["user", "assistant", "tool"]),
        parts=st.lists(parts, max_size=4).map(tuple),
    ),
    max_size=6,
)


@given(messages)
def test_history_round_trips_through_json_losslessly(history):
    assert load_messages(dump_messages(history)) == history


def test_parts_keep_their_kind_in_json():
    history = [
        Message.user("hi"),
        Message(
            role="assistant",
            parts=(
                TextPart(text="let me look"),
                ToolCallPart(id="a", name="t", arguments={"x": 1}),
            ),
        ),
        Message(role="tool", parts=(ToolResultPart(call_id="a", name="t", content="ok"),)),
    ]
    text = dump_messages(history)
    assert '"kind":"tool_call"' in text and '"kind":"tool_result"' in text
    again = load_messages(text)
    assert isinstance(again[1].parts[1], ToolCallPart)
    assert again[1].tool_calls[0].arguments == {"x": 1}


def test_dangling_calls_are_found_positionally():
    call = ToolCallPart(id="0", name="t")
    answered = [
        Message(role="assistant", parts=(call,)),
        Message(role="tool", parts=(ToolResultPart(call_id="0", name="t", content=""),)),
    ]
    assert dangling_tool_calls(answered) == []
    # a later step reuses the id "0" (OpenRouter does): an earlier result does not answer it
    reused = [*answered, Message(role="assistant", parts=(call,))]
    assert dangling_tool_calls(reused) == [call]


def test_usage_adds_up():
    total = Usage(input_tokens=1, output_tokens=2, cache_read_tokens=3) + Usage(
        input_tokens=10, cache_write_tokens=4
    )
    assert total == Usage(
        input_tokens=11, output_tokens=2, cache_read_tokens=3, cache_write_tokens=4
    )
    assert total.total_tokens == 20


def test_response_to_message():
    response = ModelResponse(
        parts=(TextPart(text="a"), ToolCallPart(id="1", name="n")),
        stop_reason="tool_use",
        provider="p",
        model="m",
    )
    message = response.to_message()
    assert message.role == "assistant" and message.tool_calls[0].id == "1"
    assert response.text == "a"


def test_data_morrow_adds_is_sent_to_the_model_but_is_not_the_users_words():
    from morrow.agent.messages import DataPart, ModelRequest, TextPart
    from morrow.agent.providers.anthropic import AnthropicProvider
    from morrow.agent.providers.openai import OpenAIProvider

    block = (
        '<untrusted_content source="briefing-data">\n{"from": "x@evil.example"}\n'
        "</untrusted_content>"
    )
    message = Message(
        role="user",
        parts=(TextPart(text="Write my briefing."), DataPart(source="briefing-data", text=block)),
    )
    assert Message.model_validate_json(message.model_dump_json()) == message
    assert message.text == message.user_words == "Write my briefing."
    assert [d.source for d in message.data] == ["briefing-data"]
    legacy = Message.user(f"Write my briefing.\n{block}")  # how older versions stored it
    assert "evil.example" in legacy.text and "evil.example" not in legacy.user_words
    request = ModelRequest(system="s", messages=(message,))
    anthropic = AnthropicProvider(name="a", model="claude-x", api_key="sk-ant-test-0123456789")
    (sent,) = anthropic.to_wire(request)["messages"]
    assert [c["text"] for c in sent["content"]] == ["Write my briefing.", block]
    openai = OpenAIProvider(name="o", model="gpt-x", api_key="sk-test-0123456789abcdef")
    wire = openai.to_wire(request)["messages"]
    assert wire[-1] == {"role": "user", "content": f"Write my briefing.\n{block}"}
