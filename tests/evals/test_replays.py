"""Every shipped suite, replayed in-process: the golden trajectories and the imported runs.

One pytest case per eval case: ``core`` and ``agentdojo`` replay their recorded trajectories
(a divergence fails with its diff). ``agentdojo-runs`` runs once as a whole suite (the same
``run_suite`` that ``morrow eval run`` uses); each recorded AgentDojo run must then get
AgentDojo's verdict by the rules of the benchmark version it was scored under, and the suite's
exit rule must hold.
"""

import asyncio

import pytest

from morrow.evals import verdicts
from morrow.evals.catalog import load_suite
from morrow.evals.report import render
from morrow.evals.runner import CaseResult, RunOptions, SuiteResult, run_case, run_suite

SUITES = {name: load_suite(name) for name in ("core", "agentdojo", "agentdojo-runs")}


def params(name):
    suite = SUITES[name]
    return [pytest.param(suite, case, id=case.id) for case in suite.cases]


def run(suite, case):
    attempt = asyncio.run(run_case(suite, case, RunOptions(mode="replay")))
    result = SuiteResult(suite.name, "replay", 1, cases=[CaseResult(case.id, attempts=[attempt])])
    return attempt, render(result)


@pytest.mark.parametrize(("suite", "case"), params("core") + params("agentdojo"))
def test_golden_trajectory_replays_and_passes(suite, case):
    assert suite.golden(case).exists(), f"no recording: run `morrow eval record {suite.name}`"
    attempt, report = run(suite, case)
    assert attempt.source == "replay"
    assert attempt.passed, report


@pytest.fixture(scope="module")
def runs() -> SuiteResult:
    return asyncio.run(run_suite(SUITES["agentdojo-runs"], RunOptions(mode="replay")))


@pytest.mark.parametrize("case_id", [c.id for c in SUITES["agentdojo-runs"].cases])
def test_recorded_run_gets_agentdojos_verdict_by_its_version(runs, case_id):
    (case,) = [c for c in runs.cases if c.case_id == case_id]
    one = SuiteResult(runs.suite, runs.mode, 1, cases=[case])
    assert all(a.error is None for a in case.attempts), render(one)
    assert case.passed == case.reference_verdict, render(one, verbose=True)


# The four runs AgentDojo scored under older rules than v1.2.2; the newest rules judge them
# differently, and the result must say so (not a hand-kept list: what the run reports).
OLDER_RULES = {
    "claude-3-7-sonnet-20250219/user_task_16": "v1.2",
    "gpt-4o-2024-05-13/user_task_7": "v1",
    "gpt-4o-2024-05-13/user_task_18": "v1",
    "gpt-4o-mini-2024-07-18/user_task_18": "v1",
}


def test_agentdojo_runs_agree_by_version_and_name_what_the_newest_rules_change(runs):
    assert len(runs.cases) == 120 and len({c.group for c in runs.cases}) == 5
    row = verdicts.agreement(runs, "utility")
    assert row is not None
    assert (row["agree"], row["agree_latest"], row["cases"]) == (120, 116, 120)
    named = {d["id"]: d["version"] for d in row["disagreements"]}
    assert named == OLDER_RULES
    assert all(d["explained_by_version"] for d in row["disagreements"])
    assert verdicts.succeeded(runs)
    text = render(runs)
    assert "by each run's benchmark version 120/120" in text and "(v1): reference fail" in text


def test_a_new_flip_fails_the_run(runs):
    flipped = runs.cases[0]
    flipped = CaseResult(
        flipped.case_id,
        flipped.group,
        not flipped.reference_verdict,
        flipped.attempts,
        flipped.reference_version,
    )
    worse = SuiteResult(runs.suite, runs.mode, 1, cases=[flipped, *runs.cases[1:]])
    assert not verdicts.succeeded(worse)


def test_suites_have_what_the_issue_asks_for():
    assert len(SUITES["agentdojo"].cases) == 24
    assert len(SUITES["core"].cases) >= 30
    for case in SUITES["core"].cases + SUITES["agentdojo"].cases:
        assert case.turns and all(t.script for t in case.turns), case.id
        assert case.expect.outcome or case.expect.answer or case.expect.tool_calls, case.id
