"""A session that used an external MCP tool replays offline: the recording answers for it."""

import asyncio
import sys
from pathlib import Path

import pytest

from morrow.agent.mcp.client import McpHub, ServerSpec
from morrow.agent.mcp.wiring import external_tools
from morrow.agent.providers.scripted import ScriptedProvider, call, calls, text
from morrow.evals.catalog import load_suite
from morrow.evals.replay import replay
from morrow.evals.session import EvalSession, TurnInput
from morrow.evals.trajectory import Metadata, ReplayDivergence, load_trajectory, parse_trajectory

TIME_SERVER = str(Path(sys.executable).parent / "mcp-server-time")


@pytest.fixture(scope="module")
def recorded():
    """A session recorded live against the real ``mcp-server-time``, then the server stopped."""
    core = load_suite("core")
    base = load_trajectory(core.golden(next(c for c in core.cases if c.id == "agenda-today")))
    hub = McpHub([ServerSpec(name="time", command=TIME_SERVER, args=("--local-timezone", "UTC"))])
    now = base.turns[0].now
    try:
        with EvalSession(base.world, base.settings, now, Metadata(created=now)) as session:
            session.app.extra_tools = external_tools(hub)
            provider = ScriptedProvider(
                [
                    calls(
                        call(
                            "time.convert_time",
                            source_timezone="UTC",
                            time="12:00",
                            target_timezone="Asia/Tokyo",
                        )
                    ),
                    text("Noon UTC is 21:00 in Tokyo."),
                ]
            )
            trajectory = asyncio.run(session.run(provider, [TurnInput("noon UTC in Tokyo?", now)]))
            provider.assert_done()
    finally:
        hub.close()
    return trajectory


def test_the_trajectory_lists_the_external_tools_and_their_results(recorded):
    names = {t.name: t.effect for t in recorded.external_tools}
    assert names == {"time.get_current_time": "read", "time.convert_time": "read"}
    (step, _) = recorded.steps
    (tool_call,) = step.tool_calls
    assert tool_call.name == "time.convert_time" and not tool_call.is_error
    assert 'source="mcp:time.convert_time"' in tool_call.result and "21:00" in tool_call.result
    again = parse_trajectory(recorded.dump())  # the document round-trips
    assert again.external_tools == recorded.external_tools


def test_it_replays_offline_without_the_server(recorded, monkeypatch):
    def no_server(*args, **kwargs):
        raise AssertionError("a replay must not start an MCP server")

    monkeypatch.setattr(McpHub, "_submit", no_server)
    result = asyncio.run(replay(recorded))
    assert result.provider.served == 2
    assert result.trajectory.turns[0].answer == "Noon UTC is 21:00 in Tokyo."


def test_a_replay_answers_from_the_recording_so_a_changed_result_diverges(recorded):
    tampered = recorded.model_copy(deep=True)
    tampered.steps[0].tool_calls[0].result = (
        tampered.steps[0].tool_calls[0].result.replace("21:00", "22:00")
    )
    with pytest.raises(ReplayDivergence, match="the history sent to the model differs"):
        asyncio.run(replay(tampered))
