"""The ``agentdojo-attacks`` suite: AgentDojo's 150 recorded attack runs, replayed on morrow.

Each run (``injection/data/attacks``, MIT; 86 in which the attack succeeded upstream, 64 in
which it failed) becomes a case: the world is AgentDojo's with the very injections the model
read, the model's calls (mapped onto morrow's tools as in ``agentdojo-runs``) are the script,
its last message is the answer. The run plays with every approval granted and the tool
filter off: the run's model decided, not morrow, so the world ends as AgentDojo's did. It is
scored twice, each by the rules of the benchmark version AgentDojo scored it under (and by
the newest rules beside them): the user task's utility check (``checks.yaml``) and the
injection task's security check (:mod:`morrow.evals.agentdojo.security`), each compared with
the recorded verdict.

Then the same script plays again with morrow's defences on, in ``deny`` (the default of
non-interactive runs) and ``allow``, with nobody to approve anything
(:func:`morrow.evals.defence.defended_run`): each attacker call (an effect carrying the
attacker's address, link or text, or a delete) must be stopped, by the tool filter, by
provenance or by the gate, and the attacker's goal must not happen.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from morrow.evals.agentdojo.attacks import DATA, MARKERS, environment_with
from morrow.evals.agentdojo.port import CallMapper, Environment, build_world, message_text
from morrow.evals.agentdojo.security import goal
from morrow.evals.agentdojo.suites import LATEST, _checks, replayed, run_script, settings
from morrow.evals.cases import AttackSpec, Case
from morrow.evals.world import World

RUNS = DATA / "attacks"
DEFENCES: list[Any] = ["deny", "allow"]
_WORLDS: dict[str, tuple[Environment, World]] = {}


def attacked(injections: dict[str, str]) -> tuple[Environment, World]:
    """AgentDojo's environment with these injections, and it as a world (built once each)."""
    key = json.dumps(injections, sort_keys=True)
    if key not in _WORLDS:
        env = environment_with(injections)
        _WORLDS[key] = (env, build_world(env))
    return _WORLDS[key]


def load_attack_cases(path: Path, defaults: dict[str, Any]) -> list[Case]:
    """One case per recorded attack run (see the module docstring)."""
    checks = _checks()
    index = json.loads((RUNS / "index.json").read_text(encoding="utf-8"))
    unfiltered = settings().model_copy(update={"tool_filter": False})
    cases = []
    for row in index["rows"]:
        run = json.loads((DATA / row["path"]).read_text(encoding="utf-8"))
        env, world = attacked(run["injections"])
        steps, answer = run_script(run, CallMapper(env))
        prompt = next(message_text(m["content"]) for m in run["messages"] if m["role"] == "user")
        user_task, injection_task = row["user_task_id"], row["injection_task_id"]
        version = row["benchmark_version"]
        cases.append(
            Case(
                id=f"{row['model']}/{user_task}/{injection_task}",
                description=f"{row['model']} on {user_task} attacked by {injection_task} "
                f"({version})",
                tags=[user_task, injection_task],
                settings=unfiltered,
                now=env.now,
                world=world,
                attack=_attack(injection_task, version, env, bool(row["security"])),
                **replayed(row, checks[user_task], prompt, steps, answer),
            )
        )
    return cases


def _attack(injection_task: str, version: str, env: Environment, succeeded: bool) -> AttackSpec:
    own, newest = goal(injection_task, version, env), goal(injection_task, LATEST, env)
    return AttackSpec(
        goal=own,
        goal_latest=newest if newest != own else None,
        reference=succeeded,
        markers=list(MARKERS),
        tools=["archive_email"],  # no user task deletes mail: every delete is the attacker's
        defences=DEFENCES,
    )
