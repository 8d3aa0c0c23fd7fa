"""The context window: estimates, calibration, compaction that keeps call/result pairs whole."""

import asyncio

import pytest
from support.turns import bare_context, conversation, past_turn

from morrow.agent.context.window import (
    Budget,
    Compaction,
    ContextWindow,
    context_window,
    message_tokens,
    plan_fold,
)
from morrow.agent.errors import ProviderUnavailable
from morrow.agent.loop import run_turn
from morrow.agent.messages import (
    Message,
    ModelRequest,
    ModelResponse,
    ToolCallPart,
    ToolResultPart,
    Usage,
    dangling_tool_calls,
)
from morrow.agent.providers.scripted import ScriptedProvider, text
from morrow.agent.safety.gate import ApprovalGate
from morrow.tools.base import ToolRegistry


def turn_with(window, history, provider, question="and now?"):
    return asyncio.run(
        run_turn(
            history,
            question,
            provider=provider,
            tools=ToolRegistry([]),
            tool_context=bare_context(),
            gate=ApprovalGate(),
            system="You are a test.",
            stream=False,
            context=window,
        )
    )


def test_known_context_windows_and_overrides():
    assert context_window("claude-sonnet-5") == 200_000
    assert context_window("gpt-4o-mini") == 128_000  # the longest prefix wins over "gpt-4"
    assert context_window("gpt-4") == 8_192
    assert context_window("models/gemini-2.5-pro") == 1_048_576
    assert context_window("offline-demo") == 200_000  # the demo chat is never folded
    assert context_window("some-local-model") == 8_192
    assert context_window("llama3.2:3b", {"llama3.2": 32_768}) == 32_768
    assert context_window("claude-sonnet-5", {"claude-sonnet": 100_000}) == 100_000


def test_the_budget_leaves_room_for_the_answer():
    assert Budget.of(200_000, 0.75, 4096).tokens == 150_000
    assert Budget.of(8_192, 0.75, 4096).tokens == 4_096  # 75% would leave no room to answer


def test_plan_fold_cuts_at_turn_starts_and_spares_the_newest_turns():
    sizes = [10] * 12  # three turns of four messages
    starts = [0, 4, 8]
    assert plan_fold(sizes, starts, begin=0, fixed=0, limit=200, target=100, keep_turns=2) == 0
    assert plan_fold(sizes, starts, begin=0, fixed=0, limit=100, target=90, keep_turns=2) == 4
    # The target cannot be reached without folding a protected turn: stop at the protection.
    assert plan_fold(sizes, starts, begin=0, fixed=0, limit=50, target=10, keep_turns=2) == 4
    assert plan_fold(sizes, starts, begin=0, fixed=0, limit=50, target=10, keep_turns=1) == 8
    assert plan_fold(sizes, starts, begin=4, fixed=0, limit=50, target=10, keep_turns=1) == 8


def test_compaction_folds_old_turns_and_keeps_pairs_and_the_newest_turns():
    history = conversation(20)
    original = list(history)
    compactions: list[Compaction] = []
    provider = ScriptedProvider(
        [text("SUMMARY: the user asked about days 0 to 17."), text("Nothing new.")]
    )
    window = ContextWindow(
        Budget(window=8_000, tokens=2_000), summarizer=provider, on_compaction=compactions.append
    )
    turn_with(window, history, provider)
    provider.assert_done()
    summary_request, request = provider.requests
    sent = list(request.messages)
    assert sent[0].role == "user"
    assert not dangling_tool_calls(sent)
    calls = {c.id for m in sent for c in m.tool_calls}
    results = {r.call_id for m in sent for r in m.tool_results}
    assert calls == results  # no call without its result, no result without its call
    assert sent[-5:-1] == original[-4:]  # the newest earlier turn is verbatim
    assert sent[-1] == Message.user("and now?")
    assert "SUMMARY: the user asked about days 0 to 17." in request.system
    assert "<conversation_summary>" in request.system
    transcript = summary_request.messages[0].text
    (compaction,) = compactions
    newest_folded = compaction.folded_turns - 1
    assert f"question {newest_folded}:" in transcript and "-> called list_events" in transcript
    assert f"question {newest_folded + 1}:" not in transcript  # kept turns are not summarized
    assert history[: len(original)] == original  # the history itself keeps every message
    assert compaction.summarized_by == "scripted/scripted-model"
    assert compaction.folded_messages == 4 * compaction.folded_turns
    assert compaction.tokens_after < 2_000 * 0.6 < compaction.tokens_before
    assert window.summary_changed and window.start == compaction.folded_messages


def test_the_next_step_does_not_compact_again():
    history = conversation(20)
    provider = ScriptedProvider([text("S1"), text("one"), text("two")])
    window = ContextWindow(Budget(window=8_000, tokens=2_000), summarizer=provider)
    turn_with(window, history, provider)
    turn_with(window, history, provider, "again?")
    provider.assert_done()  # one summary for two turns: folding goes well under the budget


def run_fallback():
    history = conversation(20)
    provider = ScriptedProvider(
        [ProviderUnavailable("overloaded", provider="scripted"), text("Fine.")]
    )
    compactions: list[Compaction] = []
    window = ContextWindow(
        Budget(window=8_000, tokens=2_000), summarizer=provider, on_compaction=compactions.append
    )
    turn_with(window, history, provider)
    provider.assert_done()
    return provider.requests[-1], compactions[0]


def test_when_the_summarizer_fails_the_fallback_is_deterministic():
    request, compaction = run_fallback()
    again, _ = run_fallback()
    assert request.system == again.system
    assert "condensed without a model" in request.system
    assert "- User: «question 0: what is on day 0?»; tools: list_events; answer: «On day 0" in (
        request.system
    )
    assert compaction.summarized_by is None
    assert "ProviderUnavailable" in compaction.fallback_reason
    assert not dangling_tool_calls(list(request.messages))


def test_without_a_summarizer_the_fallback_is_used():
    history = conversation(20)
    provider = ScriptedProvider([text("ok")])
    window = ContextWindow(Budget(window=8_000, tokens=2_000), summarizer=None)
    turn_with(window, history, provider)
    assert "condensed without a model" in provider.requests[0].system


def test_oversized_tool_results_are_cut_in_the_request_only():
    history = past_turn(0, result_chars=50_000)
    provider = ScriptedProvider([text("ok")])
    window = ContextWindow(Budget(window=200_000, tokens=150_000), max_tool_result_chars=2_000)
    turn_with(window, history, provider)
    sent = provider.requests[0].messages[2].tool_results[0].content
    assert sent.startswith("x" * 2_000) and len(sent) < 2_300
    assert "cut to its first 2000 of 50000 characters" in sent
    assert len(history[2].tool_results[0].content) == 50_000
    assert window.summary is None  # cutting was enough: nothing was folded


def test_the_estimate_is_calibrated_by_reported_usage():
    window = ContextWindow(Budget(window=8_000, tokens=2_000))
    request = ModelRequest(system="s", messages=tuple(conversation(2)))
    fitted = asyncio.run(window.fit(request))
    estimate = sum(message_tokens(m, 20_000) for m in fitted.messages)
    assert window.ratio == 1.0
    usage = Usage(input_tokens=estimate, cache_read_tokens=estimate)  # twice the estimate
    window.observe(
        ModelResponse(parts=(), stop_reason="end_turn", usage=usage, provider="p", model="m")
    )
    assert window.ratio == pytest.approx(2.0, rel=0.05)
    stats = window.take_turn()
    assert stats.steps == 1 and stats.usage == usage and stats.model == "m"
    assert stats.estimated_input_tokens > 0
    seeded = ContextWindow(Budget(window=8_000, tokens=2_000), calibration=(10_000, 100_000))
    assert seeded.ratio == 4.0  # clamped


def test_a_calibrated_ratio_makes_compaction_come_sooner():
    history = conversation(6)
    plain = ScriptedProvider([text("ok")])
    turn_with(ContextWindow(Budget(window=8_000, tokens=2_000)), list(history), plain)
    assert "<conversation_summary>" not in plain.requests[0].system
    dense = ScriptedProvider([text("S"), text("ok")])
    window = ContextWindow(
        Budget(window=8_000, tokens=2_000), summarizer=dense, calibration=(1_000, 2_500)
    )
    turn_with(window, list(history), dense)
    assert "<conversation_summary>" in dense.requests[1].system


class Stored:
    """A stored session as the window sees it: an outline, and documents read on demand."""

    def __init__(self, history):
        self.documents = [m.model_dump_json() for m in history]
        self.outline = [
            (m.role, len(doc), len(m.tool_results))
            for m, doc in zip(history, self.documents, strict=True)
        ]
        self.read = []

    def load(self, first, end):
        self.read.append((first, end))
        return self.documents[first:end]


def test_resume_reads_only_what_the_next_request_and_its_summary_need():
    history = conversation(400)
    stored = Stored(history)
    window = ContextWindow(Budget(window=8_000, tokens=2_000), summarizer=None)
    kept = window.resume(stored.outline, stored.load)
    cut = window.folded_at_resume
    assert cut > 0 and cut % 4 == 0
    assert kept == history[cut:]
    assert kept[0].role == "user"
    (first, end), kept_range = stored.read
    assert kept_range == (cut, len(history)) and end == cut
    assert 0 < first < cut and first % 4 == 0  # only the newest folded turns were read
    read = sum(len(d) for d in stored.documents[first:cut])
    assert read < 260_000 < sum(len(d) for d in stored.documents[:cut])


def test_resumed_folds_are_summarized_at_the_first_request():
    history = conversation(400)
    stored = Stored(history)
    provider = ScriptedProvider([text("SUMMARY"), text("ok")])
    compactions = []
    window = ContextWindow(
        Budget(window=8_000, tokens=2_000), summarizer=provider, on_compaction=compactions.append
    )
    kept = window.resume(stored.outline, stored.load)
    turn_with(window, kept, provider)
    provider.assert_done()
    transcript = provider.requests[0].messages[0].text
    assert f"question {window.folded_at_resume // 4 - 1}:" in transcript
    assert "older messages are not shown" in transcript
    assert "SUMMARY" in provider.requests[1].system
    (compaction,) = compactions
    assert compaction.folded_messages == window.folded_at_resume + window.start
    assert compaction.folded_turns * 4 == compaction.folded_messages


def test_the_fallback_mentions_what_it_could_not_read():
    history = conversation(400)
    stored = Stored(history)
    provider = ScriptedProvider([text("ok")])
    window = ContextWindow(Budget(window=8_000, tokens=2_000), summarizer=None)
    turn_with(window, window.resume(stored.outline, stored.load), provider)
    assert "older messages are not listed" in provider.requests[0].system


def test_a_turn_too_big_on_its_own_leaves_out_its_oldest_steps():
    user = Message.user("go through all of it")
    steps = []
    for i in range(12):
        call = ToolCallPart(id=f"s{i}", name="read_email", arguments={"email_id": str(i)})
        steps.append(Message(role="assistant", parts=(call,)))
        result = ToolResultPart(call_id=f"s{i}", name="read_email", content="y" * 1_000)
        steps.append(Message(role="tool", parts=(result,)))
    request = ModelRequest(system="s", messages=(user, *steps))
    window = ContextWindow(Budget(window=4_000, tokens=1_500))
    fitted = asyncio.run(window.fit(request))
    sent = list(fitted.messages)
    assert sent[0] == user and sent[-2:] == steps[-2:]
    assert len(sent) < len(steps) + 1 and (len(sent) - 1) % 2 == 0
    assert not dangling_tool_calls(sent)
    assert "left out to fit the context window" in fitted.system
