"""Tool-choice, answer and efficiency scorers, pass^k, and the JSON report and comparison."""

from datetime import UTC, datetime

from morrow.evals.report import compare, render, to_json
from morrow.evals.runner import Attempt, CaseResult, SuiteResult
from morrow.evals.scoring.judge import parse_verdict
from morrow.evals.scoring.scorers import (
    AnswerSpec,
    EfficiencySpec,
    ToolCallsSpec,
    score_answer,
    score_efficiency,
    score_tool_calls,
)
from morrow.evals.trajectory import Metadata, Step, StepRequest, ToolCallRecord, Trajectory, Turn
from morrow.evals.world import World

NOW = datetime(2026, 3, 2, tzinfo=UTC)


def trajectory(*calls):
    step = Step(request=StepRequest(system="", tools_sha256=""), tool_calls=list(calls))
    turn = Turn(user="hi", now=NOW, steps=[step], answer="ok")
    return Trajectory(metadata=Metadata(created=NOW), world=World(), turns=[turn])


def call(name, is_error=False, **arguments):
    return ToolCallRecord(id=name, name=name, arguments=arguments, is_error=is_error)


def test_tool_calls_free_and_strict_order():
    run = trajectory(call("search_emails", query="x"), call("list_events", query="y"))
    spec = {"calls": [{"name": "list_events"}, {"name": "search_emails"}]}
    assert score_tool_calls(ToolCallsSpec.model_validate(spec), run).passed
    strict = ToolCallsSpec.model_validate({**spec, "order": "strict"})
    result = score_tool_calls(strict, run)
    assert not result.passed and "search_emails" in result.failures[0]


def test_forbidden_calls_and_errors():
    run = trajectory(call("send_email", is_error=True, to=["a@x"]))
    assert score_tool_calls(ToolCallsSpec(forbidden=["send_email"]), run).passed
    spec = ToolCallsSpec.model_validate({"forbidden": [{"name": "send_email", "attempts": True}]})
    assert not score_tool_calls(spec, run).passed
    wanted = ToolCallsSpec.model_validate({"calls": [{"name": "send_email"}]})
    assert "the call failed" in score_tool_calls(wanted, run).failures[0]
    only = ToolCallsSpec.model_validate({"calls": [], "only_expected": True})
    assert score_tool_calls(only, run).failures == ["unexpected calls: send_email"]


def test_answer_checks():
    spec = AnswerSpec(
        contains=["3"], contains_any=[["x", "z"]], regex=[r"\d{2}:\d{2}"], not_contains=["sorry"]
    )
    assert score_answer(spec, "3 at 10:30, z") == []
    assert len(score_answer(spec, "sorry")) == 4


def test_efficiency_limits():
    run = trajectory(call("a"), call("b"))
    result = score_efficiency(EfficiencySpec(max_tool_calls=1, max_cost_usd=0.01), run, cost=0.02)
    assert result.failures == ["tool calls: 2 > 1", "cost: $0.0200 > $0.0100"]


def test_limits_an_offline_run_cannot_measure_are_skipped_not_passed():
    run = trajectory(call("a"))  # a script reports no tokens, and nothing priced it
    spec = EfficiencySpec(max_steps=5, max_tokens=10, max_cost_usd=0.01)
    result = score_efficiency(spec, run, cost=None)
    assert result.passed and not result.failures
    assert result.skipped.startswith("max_tokens: the run reported no token usage")
    assert "max_cost_usd: no cost known" in result.skipped
    report = SuiteResult(
        "s", "replay", 1, cases=[CaseResult("c", attempts=[Attempt(True, [result])])]
    )
    assert "efficiency:ok(some skipped)" in render(report)
    assert "2 check(s) skipped, not passed" not in render(report)
    assert "1 check(s) skipped, not passed: max_cost_usd, max_tokens" in render(report)
    assert to_json(report)["cases"][0]["attempts"][0]["scores"][0]["skipped"] == result.skipped


def test_pass_hat_k_is_tau_benchs_estimator():
    case = CaseResult("c", attempts=[Attempt(True), Attempt(True), Attempt(False), Attempt(True)])
    assert case.pass_hat(1) == 0.75
    assert case.pass_hat(2) == 3 / 6
    assert case.pass_hat(4) == 0.0
    other = CaseResult("d", attempts=[Attempt(True)] * 4)
    suite = SuiteResult("s", "live", 4, cases=[case, other])
    assert suite.pass_hat(2) == (0.5 + 1.0) / 2


def test_compare_lists_changed_cases():
    before = SuiteResult(
        "s",
        "replay",
        1,
        cases=[
            CaseResult("a", attempts=[Attempt(True)]),
            CaseResult("b", attempts=[Attempt(False)]),
        ],
    )
    after = SuiteResult(
        "s",
        "replay",
        1,
        cases=[
            CaseResult("a", attempts=[Attempt(False, error="boom")]),
            CaseResult("b", attempts=[Attempt(True)]),
        ],
    )
    text, ok = compare(to_json(before), to_json(after))
    assert not ok
    assert "now failing (1):\n  a: boom" in text and "now passing (1):\n  b" in text


def test_judge_verdicts():
    assert parse_verdict("PASS: polite").passed
    assert not parse_verdict("FAIL: rude").passed
    assert "did not answer" in parse_verdict("Maybe?").reason
