"""A replay stops with a readable diff when morrow now sends the model something else."""

import asyncio
import dataclasses
import json

import pytest

from morrow.evals.catalog import load_suite
from morrow.evals.replay import replay
from morrow.evals.runner import RunOptions, run_case
from morrow.evals.trajectory import ReplayDivergence, load_trajectory
from morrow.tools import catalog
from morrow.tools.calendar import tools as calendar_tools

CORE = load_suite("core")


def case(case_id):
    return next(c for c in CORE.cases if c.id == case_id)


def golden(case_id):
    return load_trajectory(CORE.golden(case(case_id)))


def patch_tool(monkeypatch, patched):
    """Offer ``patched`` instead of the tool of the same name (as a code change would)."""
    everything = catalog.all_tools()
    monkeypatch.setattr(
        catalog, "all_tools", lambda: [patched if t.name == patched.name else t for t in everything]
    )


def test_a_broken_tool_makes_the_replayed_suite_fail_with_a_diff(monkeypatch):
    original = calendar_tools.list_events.func

    def broken(workspace, start, end, query=None):
        events = original(workspace, start, end, query)
        return [e.model_copy(update={"title": e.title.upper()}) for e in events]

    patch_tool(monkeypatch, dataclasses.replace(calendar_tools.list_events, func=broken))
    attempt = asyncio.run(run_case(CORE, case("agenda-today"), RunOptions(mode="replay")))
    assert not attempt.passed
    assert "replay diverged at model step 2" in attempt.error
    assert "--- recorded" in attempt.error and "+++ replayed" in attempt.error
    assert '-  "title": "Team sync",' in attempt.error
    assert '+  "title": "TEAM SYNC",' in attempt.error


def test_a_changed_tool_schema_is_a_divergence(monkeypatch):
    tool = calendar_tools.list_events
    parameters = json.loads(json.dumps(tool.parameters))
    parameters["properties"]["limit"] = {"type": "integer"}
    patch_tool(monkeypatch, dataclasses.replace(tool, parameters=parameters))
    with pytest.raises(ReplayDivergence, match="the tool schemas differ") as caught:
        asyncio.run(replay(golden("agenda-today")))
    assert '+    "limit": {' in str(caught.value)


def test_descriptions_and_the_time_of_day_are_not_compared():
    trajectory = golden("agenda-today")
    trajectory.tools[0] = trajectory.tools[0].model_copy(update={"description": "new copy"})
    step = trajectory.turns[0].steps[0]
    assert "Now: Monday 2026-03-02 08:30 in Europe/Berlin (UTC+01:00)." in step.request.system
    step.request.system = step.request.system.replace(" 08:30 in", " 09:47 in")
    asyncio.run(replay(trajectory))


@pytest.mark.parametrize(
    ("right", "wrong"),
    [
        ("(UTC+01:00)", "(UTC+00:00)"),  # the clock told in another zone's offset
        ("in Europe/Berlin", "in Europe/London"),
        ("Monday 2026-03-02", "Sunday 2026-03-01"),
    ],
)
def test_the_zone_offset_and_date_of_the_clock_are_compared(right, wrong):
    trajectory = golden("agenda-today")
    for step in trajectory.steps:
        step.request.system = step.request.system.replace(right, wrong)
    with pytest.raises(ReplayDivergence, match="the system prompt differs") as caught:
        asyncio.run(replay(trajectory))
    assert wrong in str(caught.value) and "<time>" in str(caught.value)


def test_a_changed_system_prompt_is_a_divergence_unless_ignored():
    trajectory = golden("agenda-today")
    for step in trajectory.steps:
        step.request.system += "\nAlways answer in French."
    with pytest.raises(ReplayDivergence, match="the system prompt differs"):
        asyncio.run(replay(trajectory))
    asyncio.run(replay(trajectory, compare_system=False))


def test_a_missing_step_and_an_extra_step_are_divergences():
    trajectory = golden("recover-unknown-id")
    shorter = trajectory.model_copy(deep=True)
    del shorter.turns[0].steps[-1]
    with pytest.raises(ReplayDivergence, match="asked for another step"):
        asyncio.run(replay(shorter))
    longer = trajectory.model_copy(deep=True)
    longer.turns[0].steps.append(longer.turns[0].steps[-1].model_copy(deep=True))
    with pytest.raises(ReplayDivergence, match="the recording has 5"):
        asyncio.run(replay(longer))


def test_a_different_final_world_is_a_divergence():
    trajectory = golden("change-location")
    assert trajectory.final_world is not None
    event = next(e for e in trajectory.final_world.events if e.uid == "one-on-one@demo.morrow")
    event.location = "Room 9.99"
    with pytest.raises(ReplayDivergence, match="the final world differs") as caught:
        asyncio.run(replay(trajectory))
    assert '-      "location": "Room 9.99",' in str(caught.value)


def test_ids_minted_during_the_run_are_mapped():
    # send-draft: the draft's id and Message-ID are fresh in every run, yet the replay matches.
    trajectory = golden("send-draft")
    result = asyncio.run(replay(trajectory))
    recorded = json.loads(trajectory.steps[0].tool_calls[0].result)["draft_id"]
    assert recorded in result.provider.ids.mapping
    assert result.provider.ids.mapping[recorded] != recorded


def test_an_approval_the_recording_never_gave_is_a_divergence():
    trajectory = golden("refuse-send-without-approval")
    trajectory.turns[0].approvals.clear()
    with pytest.raises(ReplayDivergence, match="never asked"):
        asyncio.run(replay(trajectory))
