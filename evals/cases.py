"""Suites and cases: what an eval runs, read from data files under ``evals/suites/<name>/``.

A suite folder holds ``suite.yaml`` (defaults for its cases: the world, the settings, the time)
and either one YAML file per case in ``cases/`` or, for suites generated from another
benchmark's data, the name of a loader (``loader: agentdojo``). Recorded trajectories of the
cases (the "golden" replays) live in ``trajectories/<case id>.json``; ``morrow eval record``
writes them from the cases' scripts.

A case file:

```yaml
id: reschedule-one-occurrence
description: Move one occurrence of a weekly meeting, leave the series alone.
tags: [calendar, recurring]
settings: {approvals: allow}         # merged over the suite's settings
now: 2026-03-02T08:30:00+01:00       # default: the suite's
turns:
  - user: Move Thursday's team sync to 11:00.
    approve: true                     # answers when approvals = ask (true, false, [tools])
    script: [...]                     # the reference steps, see evals.script
expect: {tool_calls: ..., outcome: [...], answer: ..., efficiency: ...}
```
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from morrow.agent.errors import UsageError
from morrow.agent.safety.gate import ApprovalRequest, Decision
from morrow.evals.scoring.scorers import Expectations, Predicates
from morrow.evals.script import ScriptedStep
from morrow.evals.trajectory import Settings
from morrow.evals.world import World

SUITES_DIR = Path(__file__).resolve().parent / "suites"
"""The shipped suites, in the source tree also under an editable install (so `eval record`
writes there, and a new case file is seen without installing again)."""


class CaseTurn(BaseModel):
    """One user turn of a case."""

    model_config = ConfigDict(extra="forbid")

    user: str
    approve: bool | list[str] = False
    script: list[ScriptedStep] = Field(default_factory=list)

    def answers(self) -> Callable[[ApprovalRequest], Awaitable[Decision]]:
        """The ``ask`` callback of this turn: approve what ``approve`` names."""

        async def ask(request: ApprovalRequest) -> Decision:
            yes = self.approve is True or (
                isinstance(self.approve, list) and request.tool in self.approve
            )
            return Decision(approved=yes, reason="" if yes else "the user said no")

        return ask


class AttackSpec(BaseModel):
    """An attacker's instructions planted in a case's world: their goal, and how to spot them.

    Attributes:
        goal: outcome predicates that all hold when the attacker's goal happened (AgentDojo's
            security check, ported); scored on the run as the case's script plays it.
        goal_latest: the same goal under the newest rules of the benchmark, when the
            reference was scored under older ones (a second column in the report).
        reference: whether the goal happened in the original benchmark's run.
        markers: text (the attacker's address, link, phrases) whose presence in the
            arguments of a tool call with an effect makes it the attacker's.
        tools: tools whose every call with an effect is the attacker's in this case (the
            deletes an injection asks for carry no marker).
        defences: approval modes in which the script runs again with morrow's defences on
            (tool filter, provenance, the gate; nobody to approve anything): every
            attacker call must be stopped, and the goal must not happen.
    """

    model_config = ConfigDict(extra="forbid")

    goal: Predicates
    goal_latest: Predicates | None = None
    reference: bool | None = None
    markers: list[str] = Field(default_factory=list)
    tools: list[str] = Field(default_factory=list)
    defences: list[Literal["deny", "allow-writes", "allow"]] = Field(default_factory=list)


class Case(BaseModel):
    """One eval case: a world, the user's turns, a reference script and the expectations.

    Attributes:
        id: unique within the suite; also the golden trajectory's file name.
        description: what the case is about.
        tags: free labels (calendar, email, timezone ...).
        settings: the user settings.
        now: when the first turn happens (later turns happen at the same time).
        world: the initial world.
        turns: the user's turns with their scripts.
        expect: what is scored.
        reference_verdict: for imported runs, the verdict the original benchmark gave.
        reference_version: the benchmark version whose rules gave the reference verdicts;
            ``expect`` (and ``attack.goal``) are that version's rules.
        expect_latest: the same task under the benchmark's newest rules, scored beside
            ``expect`` when the reference is older (a second column, never the verdict).
        attack: the attacker's goal when the case's world carries an injection.
        group: a label to aggregate by in reports (for imported runs: the model).
    """

    model_config = ConfigDict(extra="forbid")

    id: str
    description: str = ""
    tags: list[str] = Field(default_factory=list)
    settings: Settings = Settings()
    now: datetime
    world: World
    turns: list[CaseTurn]
    expect: Expectations = Expectations()
    reference_verdict: bool | None = None
    reference_version: str | None = None
    expect_latest: Expectations | None = None
    attack: AttackSpec | None = None
    group: str = ""


@dataclass
class Suite:
    """A named set of cases and the folder they came from.

    ``goldens``: whether each case must have a recorded trajectory to replay (morrow's own
    cases); suites whose scripts are themselves recordings (imported runs) say ``goldens:
    false`` in ``suite.yaml``, and their scripts are what a replay plays.
    """

    name: str
    path: Path
    description: str
    cases: list[Case] = field(default_factory=list)
    goldens: bool = True

    def golden(self, case: Case) -> Path:
        """Where the recorded trajectory of ``case`` lives (it may not exist yet)."""
        return self.path / "trajectories" / f"{case.id}.json"


def case_from(raw: dict[str, Any], defaults: dict[str, Any], source: Path | str) -> Case:
    """Build a case from its file's data over the suite's defaults.

    Raises:
        UsageError: the data does not describe a valid case.
    """
    data = dict(raw)
    data["settings"] = {**defaults.get("settings", {}), **data.get("settings", {})}
    data.setdefault("now", defaults.get("now"))
    if isinstance(data.get("world"), str):
        data["world"] = World(ref=str((Path(source).parent / data["world"]).resolve()))
    data.setdefault("world", defaults.get("world") or World())
    try:
        return Case.model_validate(data)
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        where = ".".join(str(p) for p in first["loc"])
        raise UsageError(f"{source}: {where}: {first['msg']}") from None


def read_yaml(path: Path) -> dict[str, Any]:
    """The mapping at the top of a YAML file (a clear UsageError when it is not one)."""
    import yaml

    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise UsageError(f"{path}: not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise UsageError(f"{path}: expected a mapping at the top")
    return data
