"""Every shipped suite, replayed in-process: the golden trajectories and the imported runs.

One pytest case per eval case: ``core`` and ``agentdojo`` replay their recorded trajectories
(a divergence fails with its diff), ``agentdojo-runs`` replays each recorded AgentDojo run and
checks that morrow's verdict matches AgentDojo's (the known disagreements are expected).
"""

import asyncio

import pytest

from morrow.evals.catalog import load_suite
from morrow.evals.report import render
from morrow.evals.runner import CaseResult, RunOptions, SuiteResult, run_case

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


@pytest.mark.parametrize(("suite", "case"), params("agentdojo-runs"))
def test_recorded_run_gets_agentdojos_verdict(suite, case):
    attempt, report = run(suite, case)
    assert attempt.error is None, report
    if case.id in suite.known_disagreements:
        assert attempt.passed != case.reference_verdict, f"now agrees: {case.id}"
    else:
        assert attempt.passed == case.reference_verdict, report


def test_agentdojo_runs_agreement_meets_the_aim():
    suite = SUITES["agentdojo-runs"]
    assert len(suite.cases) == 120
    assert len({c.group for c in suite.cases}) == 5
    agreeing = len(suite.cases) - len(suite.known_disagreements)
    assert agreeing / len(suite.cases) >= suite.min_agreement


def test_suites_have_what_the_issue_asks_for():
    assert len(SUITES["agentdojo"].cases) == 24
    assert len(SUITES["core"].cases) >= 30
    for case in SUITES["core"].cases + SUITES["agentdojo"].cases:
        assert case.turns and all(t.script for t in case.turns), case.id
        assert case.expect.outcome or case.expect.answer or case.expect.tool_calls, case.id
