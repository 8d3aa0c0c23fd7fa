"""Running turns in a stored session, as ``morrow ask`` and ``morrow chat`` do (for tests)."""

from __future__ import annotations

from pathlib import Path
from zoneinfo import ZoneInfo

from morrow.agent.app import App
from morrow.agent.config import Config, Paths, parse_config
from morrow.agent.context.sessions import Session
from morrow.agent.loop import TurnResult, run_turn
from morrow.agent.messages import Message, TextPart, ToolCallPart, ToolResultPart
from morrow.agent.providers.base import Provider
from morrow.agent.safety.gate import ApprovalGate
from morrow.tools.context import ToolContext
from morrow.tools.workspace import Workspace


def bare_context() -> ToolContext:
    """A tools' context without calendar, mailbox or store: for turns over fake tools only."""
    return ToolContext(Workspace(calendar=None, mail=None, timezone=ZoneInfo("UTC")))  # type: ignore[arg-type]


def make_app(home: Path, config: dict | None = None) -> App:
    """An App over ``home`` with the given config (a dict, as TOML would give)."""
    home.mkdir(parents=True, exist_ok=True)
    paths = Paths(home=home, config=home / "config.toml", config_explicit=False, logs=home / "logs")
    parsed = parse_config(config, source="test") if config else Config()
    return App(paths=paths, config=parsed)


async def ask(
    app: App,
    session: Session,
    provider: Provider,
    text: str,
    *,
    gate: ApprovalGate | None = None,
) -> TurnResult:
    """One turn in ``session``, saved when it ends (the wiring of ``morrow ask``)."""
    turn = session.begin(text)
    running = run_turn(
        session.history,
        text,
        provider=provider,
        tools=app.tools(),
        tool_context=turn.tools,
        gate=gate or ApprovalGate(mode="allow", journal=app.journal()),
        system=app.system_prompt(session.prompt_facts(text)),
        stream=False,
        context=session.window,
    )
    return await session.run(turn, running)


def past_turn(i: int, result_chars: int = 400) -> list[Message]:
    """One earlier turn: a question, a tool call and its result, an answer."""
    call = ToolCallPart(id=f"c{i}", name="list_events", arguments={"start": f"day {i}"})
    return [
        Message.user(f"question {i}: what is on day {i}?"),
        Message(role="assistant", parts=(TextPart(text="Let me look."), call)),
        Message(
            role="tool",
            parts=(
                ToolResultPart(call_id=f"c{i}", name="list_events", content="x" * result_chars),
            ),
        ),
        Message(role="assistant", parts=(TextPart(text=f"On day {i} you have a meeting."),)),
    ]


def conversation(turns: int, result_chars: int = 400) -> list[Message]:
    """``turns`` earlier turns, four messages each."""
    return [m for i in range(turns) for m in past_turn(i, result_chars)]
