import asyncio
import threading
from datetime import datetime

import pytest
from pydantic import AwareDatetime
from support.turns import bare_context

from morrow.agent.errors import ProviderUnavailable, TurnLimitExceeded
from morrow.agent.loop import Limits, Observer, run_turn
from morrow.agent.messages import (
    Message,
    TextPart,
    ToolCallPart,
    Usage,
    dangling_tool_calls,
)
from morrow.agent.providers.scripted import Reply, ScriptedProvider, call, calls, text
from morrow.agent.safety.gate import ApprovalGate, ApprovalRequest, Decision
from morrow.tools.base import ToolRegistry, tool
from morrow.tools.context import ToolContext
from morrow.tools.errors import ToolError

LOG: list[str] = []


@tool(effect="read")
def lookup(ctx: ToolContext, city: str) -> dict[str, str]:
    """Look up a city.

    Args:
        city: the city's name.
    """
    LOG.append(f"lookup {city}")
    return {"city": city, "population": "many"}


SIDE_BY_SIDE = threading.Barrier(3, timeout=10)


@tool(effect="read")
def slow_read(ctx: ToolContext, name: str) -> str:
    """A read that returns only once three of its kind are running at the same time."""
    SIDE_BY_SIDE.wait()  # run one at a time, and this breaks instead of passing
    LOG.append(f"slow {name}")
    return name


@tool(effect="read")
def when(ctx: ToolContext, at: AwareDatetime) -> str:
    """Echo a time."""
    return at.isoformat()


@tool(effect="read")
def broken(ctx: ToolContext) -> str:
    """Always fails."""
    raise ToolError("the backend is down")


@tool(effect="read")
def buggy(ctx: ToolContext) -> str:
    """Crashes with a bug."""
    raise ZeroDivisionError("division by zero")


@tool(effect="write")
def create(ctx: ToolContext, title: str) -> str:
    """Create something."""
    LOG.append(f"create {title}")
    return "created"


@tool(effect="send")
def send(ctx: ToolContext, to: list[str]) -> str:
    """Send something."""
    LOG.append(f"send {to}")
    return "sent"


HANG_STARTED = threading.Event()
HANG_RELEASE = threading.Event()


@tool(effect="read")
def hang(ctx: ToolContext) -> str:
    """Returns only when the test releases it."""
    HANG_STARTED.set()
    HANG_RELEASE.wait(timeout=10)
    return "late"


@tool(effect="read")
def listing(ctx: ToolContext) -> list[str]:
    """What ``create`` made so far."""
    return [entry.removeprefix("create ") for entry in LOG if entry.startswith("create ")]


REGISTRY = ToolRegistry([lookup, slow_read, when, broken, buggy, create, send, hang, listing])


@pytest.fixture(autouse=True)
def _clear_log():
    LOG.clear()


def turn(
    provider,
    history=None,
    *,
    gate=None,
    limits=None,
    observer=None,
    stream=True,
    tools=REGISTRY,
    prompt="hi",
):
    history = [] if history is None else history
    result = asyncio.run(
        run_turn(
            history,
            prompt,
            provider=provider,
            tools=tools,
            tool_context=bare_context(),
            gate=gate or ApprovalGate(mode="deny"),
            system="sys",
            limits=limits,
            observer=observer,
            stream=stream,
        )
    )
    return result, history


@pytest.mark.parametrize("stream", [True, False])
def test_plain_answer(stream):
    provider = ScriptedProvider([text("Hello there")])
    result, history = turn(provider, stream=stream)
    assert result.answer == "Hello there"
    assert result.stop == "answer"
    assert [m.role for m in history] == ["user", "assistant"]
    provider.assert_done()
    request = provider.requests[0]
    assert request.system == "sys"
    assert {t.name for t in request.tools} == set(REGISTRY.names())


def test_tool_call_then_answer_sends_result_back():
    provider = ScriptedProvider([calls(call("lookup", city="Paris")), text("Paris is big")])
    result, _ = turn(provider)
    assert result.answer == "Paris is big"
    assert LOG == ["lookup Paris"]
    second = provider.requests[1]
    tool_message = second.messages[-1]
    assert tool_message.role == "tool"
    (part,) = tool_message.tool_results
    assert part.call_id == second.messages[-2].tool_calls[0].id
    assert '"population":"many"' in part.content
    assert not part.is_error
    assert [c.name for c in result.calls] == ["lookup"]
    assert result.usage == Usage(input_tokens=20, output_tokens=10)


def test_two_calls_in_one_step_get_both_results_in_one_request():
    provider = ScriptedProvider(
        [calls(call("lookup", city="Oslo"), call("lookup", city="Rome")), text("done")]
    )
    turn(provider)
    follow_up = provider.requests[1].messages[-1]
    assert [r.content.count("Oslo") + r.content.count("Rome") for r in follow_up.tool_results] == [
        1,
        1,
    ]
    assert len(provider.requests) == 2


def test_reads_of_one_step_run_concurrently_and_results_keep_call_order():
    provider = ScriptedProvider(
        [
            calls(
                call("slow_read", name="a"),
                call("slow_read", name="b"),
                call("slow_read", name="c"),
            ),
            text("ok"),
        ]
    )
    SIDE_BY_SIDE.reset()
    turn(provider)
    results = provider.requests[1].messages[-1].tool_results
    assert not any(r.is_error for r in results)  # the barrier was met: all three ran at once
    assert [r.content for r in results] == ["a", "b", "c"]


def test_calls_run_in_the_models_order_so_a_read_after_an_effect_sees_it():
    """[create X, list] must list X; [list, create X] must not: each effect is a barrier."""
    provider = ScriptedProvider(
        [
            calls(
                call("listing"),
                call("create", title="x"),
                call("listing"),
                call("lookup", city="Oslo"),
                call("create", title="y"),
                call("listing"),
            ),
            text("ok"),
        ]
    )
    turn(provider, gate=ApprovalGate(mode="allow"))
    results = provider.requests[1].messages[-1].tool_results
    assert [r.name for r in results] == [
        "listing",
        "create",
        "listing",
        "lookup",
        "create",
        "listing",
    ]
    assert [r.content for r in results if r.name == "listing"] == ["[]", '["x"]', '["x","y"]']
    assert LOG == ["create x", "lookup Oslo", "create y"]


def test_two_calls_with_one_id_in_a_step_each_get_their_own_result():
    """A server that gives two calls of one step the same id: neither result is lost."""
    twins = (
        ToolCallPart(id="call_0", name="lookup", arguments={"city": "Oslo"}),
        ToolCallPart(id="call_0", name="lookup", arguments={"city": "Rome"}),
    )
    provider = ScriptedProvider([calls(*twins), calls(twins[0]), text("ok")])
    _, history = turn(provider)
    first, second = provider.requests[1].messages[-2:]
    ids = [c.id for c in first.tool_calls]
    assert len(set(ids)) == 2 and [c.wire_id for c in first.tool_calls] == [None, "call_0"]
    assert [r.call_id for r in second.tool_results] == ids
    assert ['"Oslo"' in r.content for r in second.tool_results] == [True, False]
    assert ['"Rome"' in r.content for r in second.tool_results] == [False, True]
    # the same id again in a later step: a third id, unique in the history
    later = provider.requests[2].messages[-2].tool_calls[0]
    assert later.id not in ids and later.wire_id == "call_0"
    assert LOG == ["lookup Oslo", "lookup Rome", "lookup Oslo"]
    assert dangling_tool_calls(history) == []


def test_a_paused_turn_is_sent_back_and_continued():
    paused = Reply(parts=[TextPart(text="Searching... ")], stop_reason="pause_turn")
    provider = ScriptedProvider([paused, text("found it.")])
    result, history = turn(provider)
    assert result.answer == "Searching... found it."
    assert result.stop == "answer" and result.steps == 2
    assert provider.requests[1].messages[-1].text == "Searching... "  # sent back as it was
    assert [m.role for m in history] == ["user", "assistant", "assistant"]


def test_a_reply_cut_by_the_context_window_runs_no_tool_and_says_so():
    cut = Reply(
        parts=[
            TextPart(text="I will"),
            ToolCallPart(id="t1", name="create", arguments={"title": "x"}),
        ],
        stop_reason="context_window_exceeded",
    )
    provider = ScriptedProvider([cut])
    result, history = turn(provider, gate=ApprovalGate(mode="allow"))
    assert result.stop == "context_window_exceeded"
    assert result.answer == "I will"
    assert LOG == []
    assert "context_window_exceeded" in history[-1].tool_results[0].content
    assert dangling_tool_calls(history) == []


@pytest.mark.parametrize(
    ("bad_call", "expected"),
    [
        (call("nope"), "unknown tool 'nope'"),
        (call("lookup"), "city: Field required"),
        (call("lookup", city="x", extra=1), "extra: not an argument of this tool (it takes: city)"),
        (call("when", at="2026-03-01T10:00:00"), "timezone"),
        (ToolCallPart(id="c1", name="lookup", raw_arguments='{"city": '), "not a valid JSON"),
        (call("broken"), "the backend is down"),
        (call("buggy"), "internal error in buggy: ZeroDivisionError"),
    ],
)
def test_mistakes_become_error_results_the_model_can_read(bad_call, expected):
    provider = ScriptedProvider([calls(bad_call), text("sorry")])
    result, _ = turn(provider)
    assert result.answer == "sorry"
    (part,) = provider.requests[1].messages[-1].tool_results
    assert part.is_error
    assert expected in part.content
    assert result.calls[0].is_error


def test_naive_datetime_then_corrected():
    provider = ScriptedProvider(
        [
            calls(call("when", at="2026-03-01T10:00:00")),
            calls(call("when", at="2026-03-01T10:00:00+01:00")),
            text("ok"),
        ]
    )
    result, _ = turn(provider)
    assert [c.is_error for c in result.calls] == [True, False]


def test_effects_are_refused_by_the_deny_gate_and_nothing_runs():
    provider = ScriptedProvider(
        [calls(call("create", title="x"), call("send", to=["a@b.c"])), text("I could not")]
    )
    turn(provider, gate=ApprovalGate(mode="deny"))
    assert LOG == []
    results = provider.requests[1].messages[-1].tool_results
    assert all(r.is_error and "not approved" in r.content for r in results)


def test_allow_writes_runs_writes_but_not_sends():
    gate = ApprovalGate(mode="allow-writes")
    provider = ScriptedProvider(
        [calls(call("create", title="x"), call("send", to=["a@b.c"])), text("half")]
    )
    turn(provider, gate=gate)
    assert LOG == ["create x"]
    assert [d.approved for _, d in gate.decisions] == [True, False]


def test_ask_callback_can_edit_the_action():
    async def ask(request: ApprovalRequest) -> Decision:
        assert request.arguments == {"title": "draft"}
        return Decision(approved=True, arguments={"title": "edited"})

    provider = ScriptedProvider([calls(call("create", title="draft")), text("ok")])
    turn(provider, gate=ApprovalGate(mode="ask", ask=ask))
    assert LOG == ["create edited"]


def test_step_limit_raises_and_leaves_a_valid_history():
    provider = ScriptedProvider([calls(call("lookup", city=str(i))) for i in range(3)])
    history: list[Message] = []
    with pytest.raises(TurnLimitExceeded):
        turn(provider, history, limits=Limits(max_steps=3))
    assert dangling_tool_calls(history) == []
    assert history[-1].role == "tool"


def test_max_tokens_with_a_cut_tool_call_answers_it_without_running():
    cut = Reply(
        parts=[TextPart(text="Let me"), ToolCallPart(id="t1", name="lookup", raw_arguments='{"ci')],
        stop_reason="max_tokens",
    )
    provider = ScriptedProvider([cut])
    result, history = turn(provider)
    assert result.stop == "max_tokens"
    assert result.answer == "Let me"
    assert LOG == []
    assert dangling_tool_calls(history) == []
    assert "max_tokens" in history[-1].tool_results[0].content


def test_refusal_is_reported():
    provider = ScriptedProvider([text("I can't help with that", stop_reason="refusal")])
    result, _ = turn(provider)
    assert result.stop == "refusal"


def test_provider_error_propagates_with_history_valid():
    provider = ScriptedProvider(
        [calls(call("lookup", city="x")), ProviderUnavailable("down", provider="p", status=503)]
    )
    history: list[Message] = []
    with pytest.raises(ProviderUnavailable):
        turn(provider, history)
    assert dangling_tool_calls(history) == []


def test_cancellation_during_tools_answers_every_call():
    provider = ScriptedProvider([calls(call("lookup", city="a"), call("hang"))])
    history: list[Message] = []
    HANG_STARTED.clear()
    HANG_RELEASE.clear()

    class Watch(Observer):
        def __init__(self):
            self.lookup_done = asyncio.Event()

        def tool_finished(self, call, result, seconds):
            if call.name == "lookup":
                self.lookup_done.set()

    async def main():
        watch = Watch()
        task = asyncio.ensure_future(
            run_turn(
                history,
                "hi",
                provider=provider,
                tools=REGISTRY,
                tool_context=bare_context(),
                gate=ApprovalGate(),
                system="s",
                observer=watch,
            )
        )
        await asyncio.wait_for(watch.lookup_done.wait(), timeout=10)
        assert await asyncio.to_thread(HANG_STARTED.wait, 10)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        HANG_RELEASE.set()  # let the worker thread finish

    asyncio.run(main())
    assert dangling_tool_calls(history) == []
    results = history[-1].tool_results
    assert results[0].content.startswith('{"city":"a"')
    assert results[1].is_error and "interrupted" in results[1].content
    # the next turn works on the same history
    follow = ScriptedProvider([text("ok")])
    result, _ = turn(follow, history)
    assert result.answer == "ok"


def test_observer_sees_text_and_tools():
    seen: list[str] = []

    class Watch(Observer):
        def text(self, delta):
            seen.append(delta)

        def tool_started(self, call):
            seen.append(f"start {call.name}")

        def tool_finished(self, call, result, seconds):
            seen.append(f"end {call.name} {result.is_error}")

    provider = ScriptedProvider([calls(call("lookup", city="a")), text("all done")])
    turn(provider, observer=Watch())
    assert seen == ["start lookup", "end lookup False", "all ", "done"]


def test_history_from_earlier_turns_is_sent():
    history = [
        Message.user("my name is Ada"),
        Message(role="assistant", parts=(TextPart(text="Hi Ada"),)),
    ]
    provider = ScriptedProvider([text("Ada")])
    turn(provider, history, prompt="what is my name?")
    assert [m.text for m in provider.requests[0].messages] == [
        "my name is Ada",
        "Hi Ada",
        "what is my name?",
    ]


def test_scripted_provider_fails_on_unscripted_and_unused():
    provider = ScriptedProvider([text("a"), text("b")])
    turn(provider)
    with pytest.raises(AssertionError, match="1 scripted replies unused"):
        provider.assert_done()
    empty = ScriptedProvider([])
    with pytest.raises(AssertionError, match="unscripted request"):
        turn(empty)


def test_datetime_tools_keep_offset():
    provider = ScriptedProvider([calls(call("when", at="2026-03-29T01:30:00+01:00")), text("ok")])
    turn(provider)
    content = provider.requests[1].messages[-1].tool_results[0].content
    assert datetime.fromisoformat(content.strip('"')).utcoffset().total_seconds() == 3600
