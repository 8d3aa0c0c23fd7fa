"""The trajectory document: round trip, versions, clear errors, and the published schema."""

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from morrow.evals.trajectory import (
    VERSION,
    Metadata,
    Trajectory,
    TrajectoryError,
    json_schema,
    load_trajectory,
    parse_trajectory,
)
from morrow.evals.world import World

ROOT = Path(__file__).parents[2]


def minimal() -> Trajectory:
    return Trajectory(metadata=Metadata(created=datetime(2026, 3, 2, tzinfo=UTC)), world=World())


def test_round_trip():
    trajectory = minimal()
    assert parse_trajectory(trajectory.dump()) == trajectory


def test_a_newer_version_is_refused_with_a_clear_error():
    raw = json.loads(minimal().dump())
    raw["version"] = VERSION + 1
    with pytest.raises(TrajectoryError, match="written by a newer morrow"):
        parse_trajectory(json.dumps(raw), source="x.json")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{", "not JSON"),
        ('{"format": "other"}', "not a morrow trajectory"),
        ('{"format": "morrow.trajectory", "version": "one"}', "invalid trajectory version"),
        ('{"format": "morrow.trajectory", "version": 1}', "metadata: Field required"),
    ],
)
def test_bad_documents_name_the_problem(text, message):
    with pytest.raises(TrajectoryError, match=message):
        parse_trajectory(text, source="x.json")


def test_a_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(TrajectoryError, match="cannot read"):
        load_trajectory(tmp_path / "nope.json")


def test_save_is_atomic_and_relative_world_refs_resolve(tmp_path):
    trajectory = minimal().model_copy(update={"world": World(ref="../world.json")})
    path = tmp_path / "t" / "case.json"
    trajectory.save(path)
    assert not list(path.parent.glob("*.partial"))
    assert load_trajectory(path).world.ref == str((tmp_path / "world.json").resolve())


def test_the_published_schema_is_current():
    published = json.loads((ROOT / "docs" / "trajectory.schema.json").read_text())
    assert published == json_schema(), (
        "run: python -m morrow.evals.trajectory --schema docs/trajectory.schema.json"
    )
