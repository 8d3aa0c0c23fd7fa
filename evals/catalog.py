"""The suites morrow ships, and how each is loaded: its own case files, or a loader.

A suite folder (``evals/suites/<name>/``, or any folder given by path) holds ``suite.yaml``;
its cases are YAML files in ``cases/`` (:mod:`morrow.evals.cases`) unless ``loader:`` names
one of :data:`LOADERS`, which build the cases from another benchmark's data (AgentDojo's
workspace suite, its recorded benign and attack runs, the injection attacks).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from morrow.agent.errors import UsageError
from morrow.evals.agentdojo.attack_runs import load_attack_cases
from morrow.evals.agentdojo.injection import load_cases as load_injection_cases
from morrow.evals.agentdojo.suites import load_run_cases, load_workspace_cases
from morrow.evals.cases import SUITES_DIR, Case, Suite, case_from, read_yaml
from morrow.evals.world import World

LOADERS: dict[str, Callable[[Path, dict[str, Any]], list[Case]]] = {
    "agentdojo": load_workspace_cases,
    "agentdojo-runs": load_run_cases,
    "agentdojo-attacks": load_attack_cases,
    "injection": load_injection_cases,
}
"""The loaders a ``suite.yaml`` may name; without one, the suite's ``cases/*.yaml`` are read."""


def suite_names() -> list[str]:
    """The suites shipped with morrow."""
    return sorted(p.name for p in SUITES_DIR.iterdir() if (p / "suite.yaml").exists())


def load_suite(name: str) -> Suite:
    """A shipped suite by name, or a suite folder by path.

    Raises:
        UsageError: no such suite, or a case file that does not validate.
    """
    path = Path(name)
    if not (path / "suite.yaml").exists():
        path = SUITES_DIR / name
    if not (path / "suite.yaml").exists():
        known = ", ".join(suite_names())
        raise UsageError(f"no eval suite {name!r} (shipped suites: {known}; or give a folder)")
    meta = read_yaml(path / "suite.yaml")
    for removed in ("min_agreement", "known_disagreements"):
        if removed in meta:
            raise UsageError(
                f"{path / 'suite.yaml'}: {removed} was removed: every disagreement with a "
                "reference verdict now fails the run (docs/evals.md, 'Exit code')"
            )
    suite = Suite(
        name=meta.get("name", path.name),
        path=path,
        description=meta.get("description", ""),
        goldens=bool(meta.get("goldens", True)),
    )
    defaults = _defaults(meta, path)
    loader = meta.get("loader", "cases")
    if loader == "cases":
        files = sorted((path / "cases").glob("*.yaml"))
        suite.cases = [case_from(read_yaml(f), defaults, f) for f in files]
    else:
        if loader not in LOADERS:
            raise UsageError(f"{path / 'suite.yaml'}: unknown loader {loader!r}")
        suite.cases = LOADERS[loader](path, defaults)
    _check_unique(suite)
    return suite


def _defaults(meta: dict[str, Any], path: Path) -> dict[str, Any]:
    out: dict[str, Any] = {"settings": meta.get("settings", {}), "now": meta.get("now")}
    world = meta.get("world")
    if isinstance(world, str):
        out["world"] = World(ref=str((path / world).resolve()))
    elif isinstance(world, dict):
        out["world"] = World.model_validate(world).resolved(path)
    return out


def _check_unique(suite: Suite) -> None:
    seen: set[str] = set()
    for case in suite.cases:
        if case.id in seen:
            raise UsageError(f"suite {suite.name}: two cases have the id {case.id!r}")
        seen.add(case.id)
