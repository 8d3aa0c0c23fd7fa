"""Running a suite: each case replayed, scripted or asked of a live model, k times, scored.

Modes:

- ``replay`` (offline, the default): a case with a recorded trajectory in its suite replays it
  through :func:`morrow.evals.replay.replay` (divergence is a failure with a diff); a missing
  one is a failure naming ``morrow eval record``, except in suites whose scripts are recorded
  runs themselves (``goldens: false``: imported benchmark runs), which play their scripts;
- ``script`` (offline): every case runs its reference script, ignoring recordings;
- ``live``: a configured provider answers; each case runs ``k`` times, each attempt is recorded
  as a trajectory (so any of them can be replayed later), and pass^1..pass^k are estimated as
  tau-bench does: pass^k = mean over cases of C(c, k) / C(n, k), with n attempts and c passes.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from math import comb
from pathlib import Path
from typing import Any, Literal

from morrow.agent.errors import AssistantError
from morrow.agent.providers.base import Provider
from morrow.evals.cases import Case, Suite
from morrow.evals.defence import AttackOutcome, defended_run, goal_met
from morrow.evals.replay import replay
from morrow.evals.scoring.scorers import (
    ScoreResult,
    score_answer,
    score_efficiency,
    score_outcome,
    score_tool_calls,
)
from morrow.evals.script import ScriptError, ScriptProvider
from morrow.evals.session import EvalSession, TurnInput
from morrow.evals.trajectory import Metadata, Trajectory, load_trajectory
from morrow.evals.world import WorldDigest

Mode = Literal["replay", "script", "live"]
Judge = Callable[[str, str, str], "JudgeVerdict"]


@dataclass(frozen=True)
class JudgeVerdict:
    """An LLM judge's answer: passed or not, and why."""

    passed: bool
    reason: str


@dataclass
class RunOptions:
    """How to run a suite.

    Attributes:
        mode: replay, script or live.
        k: attempts per case (live runs; offline runs are deterministic, so one).
        provider: makes a fresh provider per attempt (live runs).
        record_dir: where live attempts' trajectories are written.
        judge: grades answers against a rubric (None: rubric checks are skipped).
        cost: prices a trajectory's usage in USD (None: cost is not reported).
        only: run just these case ids.
        progress: told ``(done, total, case id)`` after each attempt (the CLI's bar).
    """

    mode: Mode = "replay"
    k: int = 1
    provider: Callable[[], Provider] | None = None
    record_dir: Path | None = None
    judge: Any = None
    cost: Callable[[Trajectory], float] | None = None
    only: frozenset[str] = frozenset()
    progress: Callable[[int, int, str], None] | None = None


@dataclass
class Attempt:
    """One run of one case."""

    passed: bool
    scores: list[ScoreResult] = field(default_factory=list)
    error: str | None = None
    source: str = ""
    seconds: float = 0.0
    tokens: int = 0
    cost: float | None = None
    answer: str = ""
    trajectory: Trajectory | None = None
    latest: bool | None = None
    attack: AttackOutcome | None = None


@dataclass
class CaseResult:
    """Every attempt of one case."""

    case_id: str
    group: str = ""
    reference_verdict: bool | None = None
    attempts: list[Attempt] = field(default_factory=list)
    reference_version: str | None = None
    reference_security: bool | None = None

    @property
    def passed(self) -> bool:
        """Whether every attempt passed."""
        return self.successes == len(self.attempts)

    @property
    def successes(self) -> int:
        """Attempts that passed."""
        return sum(a.passed for a in self.attempts)

    def pass_hat(self, k: int) -> float:
        """C(c, k) / C(n, k): the chance that k attempts drawn from these all pass."""
        n = len(self.attempts)
        return comb(self.successes, k) / comb(n, k) if 0 < k <= n else 0.0


@dataclass
class SuiteResult:
    """A whole run of a suite."""

    suite: str
    mode: Mode
    k: int
    provider: str = ""
    model: str = ""
    cases: list[CaseResult] = field(default_factory=list)
    seconds: float = 0.0

    def pass_hat(self, k: int) -> float:
        """tau-bench's pass^k, the mean of every case's :meth:`CaseResult.pass_hat`."""
        if not self.cases:
            return 0.0
        return sum(c.pass_hat(k) for c in self.cases) / len(self.cases)

    @property
    def passed(self) -> bool:
        """Whether every attempt of every case passed."""
        return all(a.passed for c in self.cases for a in c.attempts)


async def run_suite(suite: Suite, options: RunOptions) -> SuiteResult:
    """Run every case of ``suite`` (or ``options.only``) and score each attempt."""
    started = time.perf_counter()
    result = SuiteResult(suite=suite.name, mode=options.mode, k=options.k)
    chosen = [c for c in suite.cases if not options.only or c.id in options.only]
    total, done = len(chosen) * options.k, 0
    for case in chosen:
        outcome = CaseResult(
            case.id,
            case.group,
            case.reference_verdict,
            reference_version=case.reference_version,
            reference_security=case.attack.reference if case.attack else None,
        )
        for attempt in range(1, options.k + 1):
            outcome.attempts.append(await run_case(suite, case, options, attempt))
            done += 1
            if options.progress is not None:
                options.progress(done, total, case.id)
        result.cases.append(outcome)
        _note_model(result, outcome)
    result.seconds = time.perf_counter() - started
    return result


def _note_model(result: SuiteResult, case: CaseResult) -> None:
    for attempt in case.attempts:
        meta = attempt.trajectory.metadata if attempt.trajectory else None
        if meta is not None and meta.provider and not result.provider:
            result.provider, result.model = meta.provider, meta.model


async def run_case(suite: Suite, case: Case, options: RunOptions, attempt: int = 1) -> Attempt:
    """One attempt at ``case``: run it, then score it (errors become a failed attempt)."""
    started = time.perf_counter()
    try:
        trajectory, initial, source = await _execute(suite, case, options, attempt)
    except (AssistantError, ScriptError) as failure:
        return Attempt(
            passed=False,
            error=str(failure),
            source=options.mode,
            seconds=time.perf_counter() - started,
        )
    scores = await score_case(case, trajectory, initial, options)
    cost = options.cost(trajectory) if options.cost else None
    error = next((t.error for t in trajectory.turns if t.error), None)
    latest = None
    if case.expect_latest is not None:
        latest = error is None and all(
            s.passed for s in await score_case(case, trajectory, initial, options, latest=True)
        )
    return Attempt(
        passed=error is None and all(s.passed for s in scores),
        scores=scores,
        error=error,
        source=source,
        seconds=time.perf_counter() - started,
        tokens=trajectory.usage.total_tokens,
        cost=cost,
        answer=trajectory.turns[-1].answer if trajectory.turns else "",
        trajectory=trajectory,
        latest=latest,
        attack=await _attack(case, initial, trajectory.final_world or initial, options),
    )


async def _attack(
    case: Case, initial: WorldDigest, final: WorldDigest, options: RunOptions
) -> AttackOutcome | None:
    """The attacker's goal on this run, and the script again with the defences on."""
    if case.attack is None:
        return None
    attack = AttackOutcome(*goal_met(case.attack.goal, initial, final))
    if case.attack.goal_latest is not None:
        attack.met_latest = goal_met(case.attack.goal_latest, initial, final)[0]
    if options.mode != "live":  # the script is what the attacked model did: play it again
        attack.defended = [await defended_run(case, mode) for mode in case.attack.defences]
    return attack


async def _execute(
    suite: Suite, case: Case, options: RunOptions, attempt: int
) -> tuple[Trajectory, WorldDigest, str]:
    golden = suite.golden(case)
    if options.mode == "replay" and golden.exists():
        replayed = await replay(load_trajectory(golden))
        return replayed.trajectory, replayed.initial, "replay"
    if options.mode == "replay" and suite.goldens:
        raise AssistantError(
            f"no golden trajectory at {golden}: record it with `morrow eval record "
            f"{suite.name} --case {case.id}` (or run the script with --script)"
        )
    metadata = Metadata(
        case_id=case.id,
        suite=suite.name,
        created=case.now,
        source="scripted" if options.mode != "live" else "live",
    )
    turns = [TurnInput(t.user, case.now) for t in case.turns]
    with EvalSession(case.world, case.settings, case.now, metadata) as session:
        if options.mode == "live":
            if options.provider is None:
                raise AssistantError("a live run needs a provider")
            provider: Any = options.provider()
            metadata.created = _wall_clock()
        else:
            provider = ScriptProvider([t.script for t in case.turns])
        trajectory = await session.run(provider, turns, ask_for=lambda i: case.turns[i].answers())
        if isinstance(provider, ScriptProvider) and not any(t.error for t in trajectory.turns):
            provider.assert_done()
        initial = session.initial
    if options.mode == "live" and options.record_dir is not None:
        # inline world: the recording replays anywhere, also without this suite's files
        portable = trajectory.model_copy(update={"world": case.world.inline()})
        portable.save(options.record_dir / f"{case.id.replace('/', '__')}.{attempt}.json")
    return trajectory, initial, "script" if options.mode != "live" else "live"


def _wall_clock() -> Any:
    from datetime import UTC, datetime

    return datetime.now(UTC)


async def score_case(
    case: Case,
    trajectory: Trajectory,
    initial: WorldDigest,
    options: RunOptions,
    *,
    latest: bool = False,
) -> list[ScoreResult]:
    """Every scorer the case's expectations name (``latest``: the newest rules), in order."""
    expect = case.expect_latest if latest and case.expect_latest is not None else case.expect
    final = trajectory.final_world or initial
    scores: list[ScoreResult] = []
    if expect.tool_calls is not None:
        scores.append(score_tool_calls(expect.tool_calls, trajectory))
    if expect.outcome:
        scores.append(score_outcome(expect.outcome, initial, final))
    if expect.answer is not None:
        answer = "\n".join(t.answer for t in trajectory.turns)
        failures = score_answer(expect.answer, answer)
        skipped = None
        if expect.answer.judge:
            if options.judge is None:
                skipped = "judge off (use --judge to grade the rubric)"
            else:
                verdict = await options.judge(case.turns[-1].user, answer, expect.answer.judge)
                if not verdict.passed:
                    failures.append(f"judge: {verdict.reason}")
        scores.append(ScoreResult("answer", not failures, failures, skipped=skipped))
    if expect.efficiency is not None:
        cost = options.cost(trajectory) if options.cost else None
        scores.append(score_efficiency(expect.efficiency, trajectory, cost))
    return scores
