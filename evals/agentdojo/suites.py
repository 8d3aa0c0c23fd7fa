"""The two suites built from AgentDojo's data: ``agentdojo`` and ``agentdojo-runs``.

``agentdojo``: each of the 24 email/calendar user tasks of the workspace suite becomes a case:
its prompt is the user's turn, its reference calls (mapped onto morrow's tools) are the script,
and its utility check, translated in ``checks.yaml``, is the expectation.

``agentdojo-runs``: each of the 120 benign runs of five models (``data/benign/<model>/``)
becomes a case: the model's recorded calls, mapped onto morrow's tools, are the script, its last
message is the answer, and the case is scored with the same checks as its task. The report
compares morrow's verdict with AgentDojo's recorded ``utility`` for every run.

The world is ``agentdojo/world.json``, generated from the environment YAML by
``python -m morrow.evals.agentdojo.suites --write-world`` (a test checks it still matches).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from morrow.evals.agentdojo.port import (
    TIMEZONE,
    USER_EMAIL,
    USER_NAME,
    CallMapper,
    Environment,
    build_world,
    load_environment,
    message_text,
)
from morrow.evals.cases import SUITES_DIR, Case, CaseTurn
from morrow.evals.scoring.scorers import Expectations
from morrow.evals.script import ScriptedStep
from morrow.evals.trajectory import Settings
from morrow.evals.world import World

WORKSPACE = SUITES_DIR / "agentdojo"
_ENV_CACHE: dict[Path, Environment] = {}


def environment() -> Environment:
    """The parsed AgentDojo environment (read once per process)."""
    data = WORKSPACE / "data"
    if data not in _ENV_CACHE:
        _ENV_CACHE[data] = load_environment(data)
    return _ENV_CACHE[data]


def settings() -> Settings:
    """Emma Johnson's settings; AgentDojo's agents act without asking, so effects are allowed."""
    return Settings(
        timezone=TIMEZONE,
        user_name=USER_NAME,
        user_email=USER_EMAIL,
        working_hours="09:00-17:00",
        approvals="allow",
        max_steps=20,
    )


LATEST = "v1.2.2"
"""The benchmark version of the tasks in ``data/tasks.json``: the newest rules."""


def version_key(version: str) -> tuple[int, ...]:
    """``"v1.2.1"`` as ``(1, 2, 1)``, for ordering benchmark versions."""
    return tuple(int(part) for part in version.lstrip("v").split("."))


def _checks() -> dict[str, dict[str, Any]]:
    import yaml

    raw = yaml.safe_load((WORKSPACE / "checks.yaml").read_text(encoding="utf-8"))
    return {key: value for key, value in raw.items() if not key.startswith("_")}


def check_for(check: dict[str, Any], version: str = LATEST) -> Expectations:
    """A task's check as AgentDojo scored it at ``version``.

    A check with ``by_version`` holds one rule per version that changed it; as in AgentDojo,
    the newest rule introduced at or before ``version`` applies.
    """
    rules = check.get("by_version")
    if rules is None:
        return _expect(check)
    known = sorted(rules, key=version_key)
    chosen = [v for v in known if version_key(v) <= version_key(version)] or known[:1]
    return _expect(rules[chosen[-1]])


def _world() -> World:
    return World(ref=str(WORKSPACE / "world.json"))


def _tasks() -> list[dict[str, Any]]:
    data = json.loads((WORKSPACE / "data" / "tasks.json").read_text(encoding="utf-8"))
    tasks: list[dict[str, Any]] = data["tasks"]
    return tasks


def _expect(check: dict[str, Any]) -> Expectations:
    return Expectations.model_validate(
        {k: v for k, v in check.items() if k not in ("reference_answer", "by_version")}
    )


def load_workspace_cases(path: Path, defaults: dict[str, Any]) -> list[Case]:
    """The ``agentdojo`` suite: one case per user task, scripted with its reference calls."""
    env, checks = environment(), _checks()
    cases = []
    for task in _tasks():
        check = checks[task["id"]]
        mapper = CallMapper(env)
        steps: list[ScriptedStep] = []
        for call in task["ground_truth_calls"]:
            steps += mapper.steps([(call["function"], call["args"])])
        answer = check.get("reference_answer") or task["ground_truth_output"] or "Done."
        steps.append(ScriptedStep(text=answer))
        cases.append(
            Case(
                id=task["id"],
                description=task["utility_check"],
                tags=list(task["tool_areas"]),
                settings=settings(),
                now=env.now,
                world=_world(),
                # the user asked for it: they approve what morrow asks about (an invitee
                # seen only in another event's attendee list)
                turns=[CaseTurn(user=task["prompt"], script=steps, approve=True)],
                expect=check_for(check),
            )
        )
    return cases


def load_run_cases(path: Path, defaults: dict[str, Any]) -> list[Case]:
    """The ``agentdojo-runs`` suite: one case per recorded benign run."""
    env, checks = environment(), _checks()
    index = json.loads((path / "data" / "index.json").read_text(encoding="utf-8"))
    cases = []
    for row in index["rows"]:
        if row["injection_task_id"] is not None:
            continue
        run = json.loads((path / "data" / row["path"]).read_text(encoding="utf-8"))
        steps, answer = run_script(run, CallMapper(env))
        prompt = next(message_text(m["content"]) for m in run["messages"] if m["role"] == "user")
        version = row["benchmark_version"]
        cases.append(
            Case(
                id=f"{row['model']}/{row['user_task_id']}",
                description=f"{row['model']} on {row['user_task_id']} ({version})",
                tags=[row["user_task_id"]],
                settings=settings(),
                now=env.now,
                world=_world(),
                **replayed(row, checks[row["user_task_id"]], prompt, steps, answer),
            )
        )
    return cases


def replayed(
    row: dict[str, Any],
    check: dict[str, Any],
    prompt: str,
    steps: list[ScriptedStep],
    answer: str,
) -> dict[str, Any]:
    """What a case replaying a recorded run shares with every other such case.

    The run's model decided, so every approval is granted; the check is the task's at the
    run's benchmark version (and at the newest, where they differ), and AgentDojo's verdict
    is the reference.
    """
    version = row["benchmark_version"]
    return {
        "turns": [CaseTurn(user=prompt, script=[*steps, ScriptedStep(text=answer)], approve=True)],
        "expect": check_for(check, version),
        "expect_latest": check_for(check) if "by_version" in check else None,
        "reference_verdict": bool(row["utility"]),
        "reference_version": version,
        "group": row["model"],
    }


def run_script(run: dict[str, Any], mapper: CallMapper) -> tuple[list[ScriptedStep], str]:
    """The mapped steps of a recorded run and its final answer (the last assistant text).

    A call whose AgentDojo tool raised (a bad date format, an unknown id, no match) changed
    nothing there, so it is left out here: replaying it on morrow's more lenient tools could
    make a change AgentDojo never saw.
    """
    messages = run["messages"]
    steps: list[ScriptedStep] = []
    answer = ""
    for index, message in enumerate(messages):
        if message["role"] != "assistant":
            continue
        calls = message.get("tool_calls") or []
        results = [m for m in messages[index + 1 : index + 1 + len(calls)] if m["role"] == "tool"]
        failed = [bool(r.get("error")) for r in results] + [False] * len(calls)
        kept = [
            (c["function"], c.get("args") or {})
            for c, error in zip(calls, failed, strict=False)
            if not error
        ]
        steps += mapper.steps(kept)
        answer = message_text(message.get("content"))
    return steps, answer


def write_world(target: Path | None = None) -> Path:
    """Regenerate ``world.json`` from the environment YAML."""
    target = target or WORKSPACE / "world.json"
    world = build_world(environment())
    target.write_text(world.model_dump_json(indent=1, exclude_none=True) + "\n", encoding="utf-8")
    return target


if __name__ == "__main__":
    if sys.argv[1:] != ["--write-world"]:
        sys.exit("usage: python -m morrow.evals.agentdojo.suites --write-world")
    sys.stdout.write(f"wrote {write_world()}\n")
