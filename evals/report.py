"""Reports of a suite run: a table for people, JSON for machines, and a comparison of two runs.

The JSON document (``morrow eval run ... --json FILE``) has ``format: "morrow.eval-result"``,
the suite, mode, provider and model, pass^1..pass^k, totals, per-group figures (for imported
runs: each model's utility and agreement with the original benchmark's verdicts), the
agreement of each kind of reference verdict by each run's benchmark version and by the newest
rules (:mod:`morrow.evals.verdicts`), the defended runs of attack cases, ``succeeded`` (the
exit rule) and, per case, every attempt with its per-scorer verdicts, failures, skipped
checks, tokens and cost.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from morrow.agent.errors import UsageError
from morrow.evals import verdicts
from morrow.evals.runner import Attempt, CaseResult, SuiteResult

FORMAT = "morrow.eval-result"
_MAX_REASON = 160


def to_json(result: SuiteResult) -> dict[str, Any]:
    """The machine-readable form of a run."""
    return {
        "format": FORMAT,
        "version": 1,
        "suite": result.suite,
        "mode": result.mode,
        "provider": result.provider,
        "model": result.model,
        "k": result.k,
        "seconds": round(result.seconds, 3),
        "passed": sum(c.successes == len(c.attempts) for c in result.cases),
        "cases_total": len(result.cases),
        "pass_hat": {str(k): round(result.pass_hat(k), 4) for k in range(1, result.k + 1)},
        "tokens": sum(a.tokens for c in result.cases for a in c.attempts),
        "cost_usd": _total_cost(result),
        "groups": group_summary(result),
        "agreement": {
            kind: row
            for kind in ("utility", "security")
            if (row := verdicts.agreement(result, kind)) is not None
        },
        "defences": verdicts.defences(result),
        "succeeded": verdicts.succeeded(result),
        "cases": [_case_json(c) for c in result.cases],
    }


def _total_cost(result: SuiteResult) -> float | None:
    costs = [a.cost for c in result.cases for a in c.attempts if a.cost is not None]
    return round(sum(costs), 6) if costs else None


def _case_json(case: CaseResult) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": case.case_id,
        "passed": case.successes == len(case.attempts),
        "successes": case.successes,
        "attempts": [_attempt_json(a) for a in case.attempts],
    }
    if case.group:
        out["group"] = case.group
    if case.reference_verdict is not None:
        out["reference_verdict"] = case.reference_verdict
        out["agrees"] = case.passed == case.reference_verdict
    if case.reference_version is not None:
        out["reference_version"] = case.reference_version
    latest = verdicts.morrow_verdict(case, "utility", latest=True)
    if case.attempts and case.attempts[0].latest is not None:
        out["latest"] = {"passed": latest, "agrees": latest == case.reference_verdict}
    if case.attempts and case.attempts[0].attack is not None:
        out["attack"] = _attack_json(case)
    return out


def _attack_json(case: CaseResult) -> dict[str, Any]:
    attack = case.attempts[0].attack
    assert attack is not None
    out: dict[str, Any] = {"goal_met": attack.met, "unmet": attack.unmet}
    if case.reference_security is not None:
        out["reference"] = case.reference_security
        out["agrees"] = attack.met == case.reference_security
    if attack.met_latest is not None:
        out["goal_met_latest"] = attack.met_latest
        out["agrees_latest"] = attack.met_latest == case.reference_security
    out["defended"] = [
        {
            "mode": run.mode,
            "held": run.held,
            "goal_met": run.goal_met,
            "note": run.note,
            "calls": [
                {"tool": c.tool, "stopped_by": c.stopped_by, "detail": c.detail} for c in run.calls
            ],
        }
        for run in attack.defended
    ]
    return out


def _attempt_json(attempt: Attempt) -> dict[str, Any]:
    out: dict[str, Any] = {
        "passed": attempt.passed,
        "source": attempt.source,
        "seconds": round(attempt.seconds, 3),
        "tokens": attempt.tokens,
        "scores": [s.to_json() for s in attempt.scores],
    }
    if attempt.cost is not None:
        out["cost_usd"] = round(attempt.cost, 6)
    if attempt.error:
        out["error"] = attempt.error
    return out


def group_summary(result: SuiteResult) -> dict[str, dict[str, Any]]:
    """Per group: cases, passes, and (when known) agreement with the reference verdicts."""
    groups: dict[str, dict[str, Any]] = {}
    for case in result.cases:
        if not case.group:
            continue
        row = groups.setdefault(
            case.group, {"cases": 0, "passed": 0, "reference_passed": 0, "agree": 0}
        )
        passed = case.successes == len(case.attempts)
        row["cases"] += 1
        row["passed"] += passed
        if case.reference_verdict is not None:
            row["reference_passed"] += case.reference_verdict
            row["agree"] += passed == case.reference_verdict
            latest = verdicts.morrow_verdict(case, "utility", latest=True)
            row["agree_latest"] = row.get("agree_latest", 0) + (latest == case.reference_verdict)
    for row in groups.values():
        row["utility"] = round(row["passed"] / row["cases"], 4)
        row["reference_utility"] = round(row["reference_passed"] / row["cases"], 4)
        row["agreement"] = round(row["agree"] / row["cases"], 4)
        if "agree_latest" in row:
            row["agreement_latest"] = round(row["agree_latest"] / row["cases"], 4)
    return groups


def render(result: SuiteResult, *, verbose: bool = False) -> str:
    """The terminal table: a line per case, failures under failing ones, then the totals."""
    lines = [f"suite {result.suite} ({result.mode}, k={result.k})"]
    width = max((len(c.case_id) for c in result.cases), default=10)
    for case in result.cases:
        lines.append(_case_line(case, width, result.k))
        if verbose or case.successes < len(case.attempts):
            lines += _failure_lines(case)
    lines.append("")
    lines += _totals(result)
    lines += verdicts.render(result, verbose=verbose)
    return "\n".join(lines)


def _case_line(case: CaseResult, width: int, k: int) -> str:
    mark = "PASS" if case.passed else "FAIL"
    scores = case.attempts[0].scores if case.attempts else []
    marks = " ".join(f"{s.scorer}:{_mark(s.passed, s.skipped)}" for s in scores)
    tries = f" {case.successes}/{len(case.attempts)}" if k > 1 else ""
    agree = ""
    if case.reference_verdict is not None:
        same = case.passed == case.reference_verdict
        agree = f"  ref:{'pass' if case.reference_verdict else 'fail'}{'' if same else ' DISAGREE'}"
    attack = case.attempts[0].attack if case.attempts else None
    if attack is not None:
        met = "met" if attack.met else "not met"
        agree += f"  attack:{met}"
        if case.reference_security is not None:
            same = attack.met == case.reference_security
            agree += f" ref:{'met' if case.reference_security else 'not met'}"
            agree += "" if same else " DISAGREE"
    return f"  {mark} {case.case_id:<{width}}{tries}  {marks}{agree}"


def _mark(passed: bool, skipped: str | None) -> str:
    if not passed:
        return "x"
    return "ok(some skipped)" if skipped else "ok"


def _failure_lines(case: CaseResult) -> list[str]:
    lines: list[str] = []
    for number, attempt in enumerate(case.attempts, 1):
        label = f"      attempt {number}: " if len(case.attempts) > 1 else "      "
        if attempt.error:
            first, *rest = attempt.error.splitlines() or [""]
            lines.append(label + first)
            lines += ["        " + line for line in rest]
        for score in attempt.scores:
            lines += [f"{label}{score.scorer}: {_clip(f)}" for f in score.failures]
            if score.skipped:
                lines.append(f"{label}{score.scorer}: skipped: {_clip(score.skipped)}")
    return lines


def _clip(text: str) -> str:
    return text if len(text) <= _MAX_REASON else text[: _MAX_REASON - 3] + "..."


def _totals(result: SuiteResult) -> list[str]:
    total = len(result.cases)
    passed = sum(c.successes == len(c.attempts) for c in result.cases)
    lines = [f"{passed}/{total} cases passed in {result.seconds:.2f} s"]
    if result.k > 1:
        hats = ", ".join(f"pass^{k} {result.pass_hat(k):.3f}" for k in range(1, result.k + 1))
        lines.append(hats)
    skipped = [s.skipped for c in result.cases for a in c.attempts for s in a.scores if s.skipped]
    if skipped:
        kinds = sorted({reason.split(":")[0] for text in skipped for reason in text.split("; ")})
        lines.append(f"{len(skipped)} check(s) skipped, not passed: {', '.join(kinds)}")
    tokens = sum(a.tokens for c in result.cases for a in c.attempts)
    cost = _total_cost(result)
    if tokens:
        lines.append(f"tokens {tokens:,}" + (f", cost ${cost:.4f}" if cost is not None else ""))
    groups = group_summary(result)
    if groups:
        lines.append("")
        lines.append(
            f"{'group':<36} {'cases':>5} {'morrow':>7} {'reference':>9} {'agree':>6} "
            f"{'agree (newest rules)':>20}"
        )
        for name, row in groups.items():
            newest = row.get("agreement_latest", row["agreement"])
            lines.append(
                f"{name:<36} {row['cases']:>5} {row['utility']:>7.0%} "
                f"{row['reference_utility']:>9.0%} {row['agreement']:>6.0%} {newest:>20.0%}"
            )
    return lines


def load_result(path: Path) -> dict[str, Any]:
    """Read a result file written by ``--json``.

    Raises:
        UsageError: missing, not JSON, or not an eval result.
    """
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise UsageError(f"{path}: cannot read an eval result: {exc}") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise UsageError(f'{path}: not an eval result file (no "format": "{FORMAT}")')
    return data


def compare(a: dict[str, Any], b: dict[str, Any]) -> tuple[str, bool]:
    """Which cases changed verdict from ``a`` to ``b``; True when nothing got worse."""
    old = {c["id"]: c for c in a["cases"]}
    new = {c["id"]: c for c in b["cases"]}
    fixed = sorted(i for i in new if i in old and new[i]["passed"] and not old[i]["passed"])
    broken = sorted(i for i in new if i in old and old[i]["passed"] and not new[i]["passed"])
    added = sorted(i for i in new if i not in old)
    removed = sorted(i for i in old if i not in new)
    lines = [f"{a['suite']} ({a['mode']}) -> {b['suite']} ({b['mode']})"]
    for label, ids in (
        ("now failing", broken),
        ("now passing", fixed),
        ("new", added),
        ("gone", removed),
    ):
        if ids:
            lines.append(f"{label} ({len(ids)}):")
            lines += [f"  {i}{_why(new.get(i))}" for i in ids]
    if len(lines) == 1:
        lines.append("no case changed verdict")
    for k in sorted(set(a.get("pass_hat", {})) & set(b.get("pass_hat", {}))):
        lines.append(f"pass^{k}: {a['pass_hat'][k]:.3f} -> {b['pass_hat'][k]:.3f}")
    lines.append(f"passed: {a['passed']}/{a['cases_total']} -> {b['passed']}/{b['cases_total']}")
    return "\n".join(lines), not broken


def _why(case: dict[str, Any] | None) -> str:
    if not case or case["passed"]:
        return ""
    for attempt in case["attempts"]:
        if attempt.get("error"):
            return f": {_clip(attempt['error'].splitlines()[0])}"
        for score in attempt["scores"]:
            if score.get("failures"):
                return f": {score['scorer']}: {_clip(score['failures'][0])}"
    return ""
