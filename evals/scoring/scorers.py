"""Scorers: did the run call the right tools, leave the right world, say the right thing, cheaply?

Four scorers, each reading a finished run (its trajectory and the world before and after):

- **tool choice** (:func:`score_tool_calls`): expected calls with argument matchers
  (:mod:`morrow.evals.scoring.matchers`), in strict or free order, and forbidden calls;
- **outcome** (:func:`score_outcome`, predicates in :mod:`morrow.evals.scoring.outcome`): the final
world, as
  tau2-bench and AgentDojo judge it;
- **answer** (:func:`score_answer`): the final text contains, or matches, what it should; an
  optional LLM judge with a rubric (:mod:`morrow.evals.scoring.judge`, off unless asked for);
- **efficiency** (:func:`score_efficiency`): steps, tool calls, tokens and cost under limits.

A case passes when every scorer it uses passes. Every failure carries a readable reason.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from morrow.evals.scoring.matchers import check, check_fields
from morrow.evals.scoring.outcome import evaluate, validate
from morrow.evals.trajectory import ToolCallRecord, Trajectory
from morrow.evals.world import WorldDigest

Predicates = Annotated[list[dict[str, Any]], AfterValidator(validate)]
"""Outcome predicates, checked for shape when a case is read (an unknown one is a usage error)."""


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ExpectedCall(_Spec):
    """One call the model should make.

    Attributes:
        name: the tool.
        arguments: matchers for the arguments that matter (others are free).
        error: whether the call is expected to fail (a tool error the model should recover from).
    """

    name: str
    arguments: dict[str, Any] = Field(default_factory=dict)
    error: bool = False


class ForbiddenCall(_Spec):
    """A call the model must not make.

    Attributes:
        name: the tool ("*" for any tool with an effect is not supported: list them).
        arguments: matchers; the call is forbidden only when they all match.
        attempts: also count calls that were refused or failed (default: only calls that ran).
    """

    name: str
    arguments: dict[str, Any] = Field(default_factory=dict)
    attempts: bool = False


class ToolCallsSpec(_Spec):
    """The tool-choice expectations of a case."""

    calls: list[ExpectedCall] = Field(default_factory=list)
    order: Literal["free", "strict"] = "free"
    forbidden: list[ForbiddenCall | str] = Field(default_factory=list)
    only_expected: bool = False


class AnswerSpec(_Spec):
    """The answer expectations: texts it must contain, patterns, an optional judge rubric."""

    contains: list[str] = Field(default_factory=list)
    icontains: list[str] = Field(default_factory=list)
    contains_any: list[list[str]] = Field(default_factory=list)
    not_contains: list[str] = Field(default_factory=list)
    regex: list[str] = Field(default_factory=list)
    judge: str | None = None


class EfficiencySpec(_Spec):
    """Upper bounds on what the run may spend."""

    max_steps: int | None = None
    max_tool_calls: int | None = None
    max_tokens: int | None = None
    max_cost_usd: float | None = None


class Expectations(_Spec):
    """Everything a case checks; a missing section is not scored."""

    tool_calls: ToolCallsSpec | None = None
    outcome: Predicates = Field(default_factory=list)
    answer: AnswerSpec | None = None
    efficiency: EfficiencySpec | None = None


@dataclass
class ScoreResult:
    """One scorer's verdict.

    Attributes:
        scorer: "tool_calls", "outcome", "answer" or "efficiency".
        passed: the verdict (a skipped scorer passes).
        failures: why it failed, one reason per line.
        skipped: why it did not run (e.g. the judge is off), if it did not.
        metrics: numbers worth reporting (steps, tokens, cost ...).
    """

    scorer: str
    passed: bool
    failures: list[str] = field(default_factory=list)
    skipped: str | None = None
    metrics: dict[str, float] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """A plain dict for reports."""
        out: dict[str, Any] = {"scorer": self.scorer, "passed": self.passed}
        if self.failures:
            out["failures"] = self.failures
        if self.skipped:
            out["skipped"] = self.skipped
        if self.metrics:
            out["metrics"] = self.metrics
        return out


def all_calls(trajectory: Trajectory) -> list[ToolCallRecord]:
    """Every tool call of the run, in order."""
    return [call for step in trajectory.steps for call in step.tool_calls]


def score_tool_calls(spec: ToolCallsSpec, trajectory: Trajectory) -> ScoreResult:
    """Match the expected calls (in order if strict), then look for forbidden ones."""
    calls = all_calls(trajectory)
    failures: list[str] = []
    used: set[int] = set()
    floor = 0
    for expected in spec.calls:
        index = _find_call(expected, calls, used, floor if spec.order == "strict" else 0)
        if index is None:
            failures.append(_missing_reason(expected, calls))
            continue
        used.add(index)
        floor = index + 1
    for forbidden in spec.forbidden:
        rule = ForbiddenCall(name=forbidden) if isinstance(forbidden, str) else forbidden
        for call in calls:
            if _is_forbidden(rule, call):
                failures.append(f"forbidden call {call.name}({_args(call.arguments)})")
    if spec.only_expected:
        extra = [c.name for i, c in enumerate(calls) if i not in used]
        if extra:
            failures.append(f"unexpected calls: {', '.join(extra)}")
    return ScoreResult("tool_calls", not failures, failures, metrics={"calls": len(calls)})


def _find_call(
    expected: ExpectedCall, calls: list[ToolCallRecord], used: set[int], start: int
) -> int | None:
    for index in range(start, len(calls)):
        call = calls[index]
        if index in used or call.name != expected.name or call.is_error != expected.error:
            continue
        if not check_fields(expected.arguments, call.arguments):
            return index
    return None


def _missing_reason(expected: ExpectedCall, calls: list[ToolCallRecord]) -> str:
    same = [c for c in calls if c.name == expected.name]
    label = f"expected call {expected.name}({_args(expected.arguments)})"
    if not same:
        return f"{label}: never called"
    reasons = check_fields(expected.arguments, same[0].arguments)
    if not reasons and same[0].is_error != expected.error:
        reasons = ["the call failed" if same[0].is_error else "the call was expected to fail"]
    return f"{label}: closest call differs: {'; '.join(reasons)}"


def _is_forbidden(rule: ForbiddenCall, call: ToolCallRecord) -> bool:
    if call.name != rule.name or (call.is_error and not rule.attempts):
        return False
    return not check_fields(rule.arguments, call.arguments)


def _args(arguments: dict[str, Any], limit: int = 100) -> str:
    text = ", ".join(f"{k}={v!r}" for k, v in arguments.items())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def score_outcome(
    predicates: list[dict[str, Any]], initial: WorldDigest, final: WorldDigest
) -> ScoreResult:
    """Evaluate the outcome predicates on the world before and after the run."""
    failures = evaluate(predicates, initial, final)
    return ScoreResult("outcome", not failures, failures)


def score_answer(spec: AnswerSpec, answer: str) -> list[str]:
    """The deterministic answer checks (the judge runs separately); the failures."""
    failures = [f"answer lacks {s!r}" for s in spec.contains if s not in answer]
    folded = answer.casefold()
    failures += [
        f"answer lacks {s!r} (any case)" for s in spec.icontains if s.casefold() not in folded
    ]
    failures += [
        f"answer has none of {options!r}"
        for options in spec.contains_any
        if not any(o in answer for o in options)
    ]
    failures += [f"answer contains {s!r}" for s in spec.not_contains if s in answer]
    failures += [f"answer does not match /{p}/" for p in spec.regex if check({"regex": p}, answer)]
    return failures


def score_efficiency(
    spec: EfficiencySpec, trajectory: Trajectory, cost: float | None
) -> ScoreResult:
    """Steps, tool calls, tokens and cost against their limits (each only when set).

    A limit the run cannot be measured against is reported as skipped, never as passed: an
    offline run (a script, or a replay of one) reports no tokens, and cost needs a live run
    and a price table.
    """
    steps = len(trajectory.steps)
    calls = len(all_calls(trajectory))
    tokens = trajectory.usage.total_tokens
    metrics: dict[str, float] = {"steps": steps, "tool_calls": calls, "tokens": tokens}
    if cost is not None:
        metrics["cost_usd"] = cost
    failures, skipped = [], []
    for label, value, limit in (
        ("steps", steps, spec.max_steps),
        ("tool calls", calls, spec.max_tool_calls),
        ("tokens", tokens, spec.max_tokens),
    ):
        if limit is not None and label == "tokens" and not tokens:
            skipped.append("max_tokens: the run reported no token usage (offline)")
        elif limit is not None and value > limit:
            failures.append(f"{label}: {value} > {limit}")
    if spec.max_cost_usd is not None and cost is None:
        skipped.append("max_cost_usd: no cost known (offline, or no price table)")
    elif spec.max_cost_usd is not None and cost is not None and cost > spec.max_cost_usd:
        failures.append(f"cost: ${cost:.4f} > ${spec.max_cost_usd:.4f}")
    return ScoreResult(
        "efficiency", not failures, failures, skipped="; ".join(skipped) or None, metrics=metrics
    )
