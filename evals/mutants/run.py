"""``make mutants``: every mutant against the tests and the eval suites, each in a subprocess.

For each mutant (:mod:`morrow.evals.mutants.catalog`):

- **tests**: pytest with the mutant applied (:mod:`morrow.evals.mutants.plugin`), stopping at
  the first failure: first the mutant's own test files, then, if they all pass, the whole
  suite. Killed means a test failed; the first one is named.
- **suites**: ``morrow eval run SUITE`` with the mutant applied
  (:mod:`morrow.evals.mutants.under`), cheapest suite first, stopping at the first that fails
  (``--all-suites`` runs every one).

First the suites run once without any mutant (``--no-baseline`` skips it): a suite that fails
on its own would "kill" everything. A mutant whose target is gone is reported as not applied,
never as survived or killed. Exit 0 when every mutant was killed by the tests or a suite.

```
python -m morrow.evals.mutants.run [--only NAME ...] [--all-suites] [--no-baseline]
                                   [--json FILE] [--markdown]
```
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from morrow.evals.mutants.catalog import MUTANTS, Mutant
from morrow.evals.mutants.under import NOT_APPLIED

ROOT = Path(__file__).resolve().parents[2]
SUITES = ("core", "agentdojo", "agentdojo-runs", "agentdojo-attacks", "injection")
"""Cheapest first: a mutant is usually killed before the slow ones run."""


@dataclass
class Verdict:
    """What one kind of check made of one mutant.

    Attributes:
        outcome: "killed", "survived", "not applied" or "error".
        by: what killed it (a test id, suite names), or why it errored.
        seconds: time spent.
    """

    outcome: str
    by: str = ""
    seconds: float = 0.0


@dataclass
class Row:
    """One mutant's line of the table."""

    name: str
    breaks: str
    tests: Verdict = field(default_factory=lambda: Verdict("survived"))
    suites: Verdict = field(default_factory=lambda: Verdict("survived"))

    @property
    def killed(self) -> bool:
        """Whether the tests or a suite noticed it."""
        return "killed" in (self.tests.outcome, self.suites.outcome)


def _run(command: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, check=False)


def against_tests(mutant: Mutant) -> Verdict:
    """Pytest under the mutant: its own test files first, then everything."""
    started = time.perf_counter()
    env = {**os.environ, "MORROW_MUTANT": mutant.name}
    for paths in (list(mutant.tests), []):
        command = [sys.executable, "-m", "pytest", "-p", "morrow.evals.mutants.plugin"]
        done = _run([*command, "-x", "-rfE", *paths], env)
        verdict = _pytest_verdict(done)
        if verdict.outcome != "survived":
            verdict.seconds = time.perf_counter() - started
            return verdict
    return Verdict("survived", "", time.perf_counter() - started)


def _pytest_verdict(done: subprocess.CompletedProcess[str]) -> Verdict:
    text = done.stdout + done.stderr
    if done.returncode == 0:
        return Verdict("survived")
    if "NotApplied" in text:
        return Verdict("not applied", _line_with(text, "NotApplied"))
    first = _line_with(text, "FAILED ") or _line_with(text, "ERROR ")
    if done.returncode == 1 and first:
        return Verdict("killed", first.split(" - ")[0].removeprefix("FAILED "))
    return Verdict("error", first or text.strip().splitlines()[-1:][0] if text.strip() else "")


def _line_with(text: str, needle: str) -> str:
    return next((ln.strip() for ln in text.splitlines() if needle in ln), "")


def against_suites(mutant: Mutant | None, every: bool) -> Verdict:
    """``eval run`` of each suite under the mutant (None: no mutant, the baseline)."""
    started = time.perf_counter()
    killers, errors = [], []
    for suite in SUITES:
        if mutant is None:
            command = [sys.executable, "-m", "morrow.agent.cli", "eval", "run", suite]
        else:
            under = [sys.executable, "-m", "morrow.evals.mutants.under", mutant.name]
            command = [*under, "eval", "run", suite]
        done = _run(command, dict(os.environ))
        if done.returncode == NOT_APPLIED:
            return Verdict("not applied", done.stderr.strip(), time.perf_counter() - started)
        if done.returncode == 1:
            killers.append(suite)
        elif done.returncode != 0:
            errors.append(f"{suite}: exit {done.returncode}: {done.stderr.strip()[-200:]}")
        if killers and not every:
            break
    seconds = time.perf_counter() - started
    if killers:
        return Verdict("killed", ", ".join(killers), seconds)
    if errors:
        return Verdict("error", "; ".join(errors), seconds)
    return Verdict("survived", "", seconds)


def table(rows: list[Row], *, markdown: bool = False) -> str:
    """The result, one mutant a line: what killed it in the tests and in the suites."""

    def cell(v: Verdict) -> str:
        return f"{v.outcome}: {v.by}" if v.by else v.outcome

    if markdown:
        lines = ["| mutant | breaks | `make test` | eval suites |", "|---|---|---|---|"]
        lines += [f"| `{r.name}` | {r.breaks} | {cell(r.tests)} | {cell(r.suites)} |" for r in rows]
    else:
        lines = [f"{r.name:<26} tests: {cell(r.tests)}\n{'':<26} suites: {cell(r.suites)}"
                 for r in rows]  # fmt: skip
    by_tests = sum(r.tests.outcome == "killed" for r in rows)
    by_suites = sum(r.suites.outcome == "killed" for r in rows)
    either = sum(r.killed for r in rows)
    lines.append(
        f"\nkilled: {by_tests}/{len(rows)} by the tests, {by_suites}/{len(rows)} by the suites, "
        f"{either}/{len(rows)} by either"
    )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Run the mutants (see the module docstring); exit 1 when one survived everything."""
    parser = argparse.ArgumentParser(prog="python -m morrow.evals.mutants.run")
    parser.add_argument("--only", action="append", default=[], help="just this mutant (repeat)")
    parser.add_argument("--all-suites", action="store_true", help="every suite for every mutant")
    parser.add_argument("--no-baseline", action="store_true", help="skip the unmutated run")
    parser.add_argument("--json", metavar="FILE", help="write the rows as JSON")
    parser.add_argument("--markdown", action="store_true", help="print a Markdown table")
    args = parser.parse_args(argv)
    chosen = [m for m in MUTANTS if not args.only or m.name in args.only]
    if not args.no_baseline:
        baseline = against_suites(None, every=True)
        if baseline.outcome != "survived":
            print(f"the suites fail without any mutant ({baseline.by}): fix them first")
            return 1
        print(f"baseline: every suite passes without a mutant ({baseline.seconds:.0f} s)")
    rows = []
    for mutant in chosen:
        row = Row(mutant.name, mutant.breaks, against_tests(mutant))
        row.suites = against_suites(mutant, every=args.all_suites)
        print(table([row]).split("\nkilled:")[0], flush=True)
        rows.append(row)
    print(table(rows, markdown=args.markdown))
    if args.json:
        Path(args.json).write_text(json.dumps([asdict(r) for r in rows], indent=2) + "\n")
    return 0 if all(r.killed for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
