"""The seeded mutants still reach their targets, and the runner reads pytest's verdicts right.

``make mutants`` itself takes minutes (docs/evals.md has its table); this guards what a
refactor can break cheaply: a mutant whose target was renamed must fail here, not show up
later as "survived" (or as "killed" by a crash).
"""

import subprocess
import sys

from morrow.evals.mutants.catalog import MUTANTS
from morrow.evals.mutants.run import Row, _pytest_verdict, table


def test_every_mutant_applies_in_a_fresh_process():
    code = "from morrow.evals.mutants.catalog import MUTANTS\nfor m in MUTANTS: m.apply()\n"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert len(MUTANTS) == 10 and len({m.name for m in MUTANTS}) == 10


def completed(code, out):
    return subprocess.CompletedProcess([], code, stdout=out, stderr="")


def test_the_runner_tells_killed_survived_and_not_applied_apart():
    killed = _pytest_verdict(completed(1, "FAILED tests/a.py::test_x - AssertionError: no\n"))
    assert (killed.outcome, killed.by) == ("killed", "tests/a.py::test_x")
    assert _pytest_verdict(completed(0, "1 passed")).outcome == "survived"
    gone = _pytest_verdict(completed(3, "NotApplied: 'loop' has no '_run_calls'"))
    assert gone.outcome == "not applied"
    assert _pytest_verdict(completed(4, "usage: pytest")).outcome == "error"
    text = table([Row("m", "breaks", killed)])
    assert "killed: 1/1 by the tests, 0/1 by the suites, 1/1 by either" in text
