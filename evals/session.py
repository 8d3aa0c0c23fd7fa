"""A throwaway morrow set up for one eval run: a temporary home, the world, a fixed clock.

:class:`EvalSession` writes the world into a fresh home, builds the real
:class:`~morrow.agent.app.App` over it (the same workspace, tools and system prompt a user gets),
and runs user turns through ``run_turn`` with whatever provider it is given: a case's script, a
replay of a recording, or a live model. A :class:`~morrow.evals.recorder.Recorder` watches every
run, so each one yields a trajectory that can be scored, saved and replayed.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from types import TracebackType

from morrow.agent.app import App
from morrow.agent.config import (
    AgentConfig,
    ApprovalMode,
    ApprovalsConfig,
    Config,
    IcsCalendarConfig,
    MaildirEmailConfig,
    Paths,
    UserConfig,
)
from morrow.agent.errors import AssistantError
from morrow.agent.loop import Limits, run_turn
from morrow.agent.messages import DataPart, Message
from morrow.agent.providers.base import Provider
from morrow.agent.safety.gate import ApprovalGate, ApprovalRequest, Decision
from morrow.evals.recorder import Recorder
from morrow.evals.trajectory import Metadata, ReplayDivergence, Settings, Trajectory
from morrow.evals.world import CALENDAR_FILE, MAIL_DIR, World, WorldDigest, digest, scratch_dir
from morrow.memory.records import UserText
from morrow.tools.context import ToolContext

AskFor = Callable[[int], Callable[[ApprovalRequest], Awaitable[Decision]] | None]


class FixedClock:
    """A clock that says what it is told (each turn of a replay sets the recorded time)."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        """The time it was last set to."""
        return self.now


@dataclass(frozen=True)
class TurnInput:
    """One user turn to run: the text, the time it happens, the facts its prompt showed."""

    user: str
    now: datetime
    facts: tuple[str, ...] = ()
    data: tuple[DataPart, ...] = ()


class EvalSession:
    """A temporary home with a world in it and an App over it; use as a context manager.

    Args:
        world: the initial world.
        settings: the user settings (zone, address, working hours, approval mode, step limit).
        now: the clock at the start.
        metadata: what to record about the run (case id, suite, source).
        home: a directory to use instead of a fresh temporary one (kept afterwards).
    """

    def __init__(
        self,
        world: World,
        settings: Settings,
        now: datetime,
        metadata: Metadata,
        home: Path | None = None,
    ) -> None:
        self._own_home = home is None
        self.home = home or Path(tempfile.mkdtemp(prefix="morrow-eval-", dir=scratch_dir()))
        world.materialize(self.home)
        self.clock = FixedClock(now)
        self.app = App(paths=_paths(self.home), config=_config(settings), clock=self.clock)
        self.initial = digest(self.home)
        self.recorder = Recorder(
            world=world,
            settings=settings,
            digest_world=lambda: digest(self.home),
            clock=self.clock,
            metadata=metadata,
        )
        self.history: list[Message] = []

    def __enter__(self) -> EvalSession:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close the store; remove the temporary home (a home given by the caller is kept)."""
        self.app.close()
        if self._own_home:
            shutil.rmtree(self.home, ignore_errors=True)

    async def run(
        self, provider: Provider, turns: Sequence[TurnInput], ask_for: AskFor | None = None
    ) -> Trajectory:
        """Run ``turns`` in order with ``provider``; returns the recorded trajectory.

        A turn that raises (a provider error, the step limit, a replay divergence) is recorded
        with its error and ends the run; :class:`~morrow.evals.replay.ReplayDivergence` propagates.
        """
        recording = self.recorder.wrap(provider)
        settings = self.recorder.trajectory.settings
        tools = self.app.tools()
        self.recorder.offered(tools)
        session_id = self._session()
        try:
            for index, turn in enumerate(turns):
                self.clock.now = turn.now
                ask = ask_for(index) if ask_for else None
                gate = self.recorder.watch(self._gate(settings, ask))
                try:
                    await run_turn(
                        self.history,
                        turn.user,
                        provider=recording,
                        tools=tools,
                        tool_context=self._context(session_id, index, turn),
                        gate=gate,
                        system=self.app.system_prompt(turn.facts),
                        limits=Limits(max_steps=settings.max_steps),
                        stream=False,
                        data=turn.data,
                    )
                except AssistantError as error:
                    self.recorder.turn_done(self.history, error=error)
                    if isinstance(error, ReplayDivergence):
                        raise
                    break
                self.recorder.turn_done(self.history)
        finally:
            await provider.aclose()
        return self.recorder.trajectory

    def _session(self) -> str:
        """The session the memory tools see, as in a chat (a fixed id: replays compare it)."""
        return self.app.store().open_session("eval")[0].id

    def _context(self, session_id: str, index: int, turn: TurnInput) -> ToolContext:
        """The tools' context of a turn: the user's words, which facts must rest on."""
        said = [UserText(f"eval-{index + 1}.0", turn.user, turn.now)]
        return self.app.tool_context(session_id=session_id, said=said)

    def _gate(
        self, settings: Settings, ask: Callable[..., Awaitable[Decision]] | None
    ) -> ApprovalGate:
        journal, filtered = self.app.journal(), settings.tool_filter
        if settings.approvals == "ask":
            mode: ApprovalMode = "ask" if ask else "deny"
            return ApprovalGate(mode=mode, ask=ask, filter_tools=filtered, journal=journal)
        # allow modes still ask for what needs explicit approval (an untrusted address)
        return ApprovalGate(
            mode=settings.approvals, ask=ask, filter_tools=filtered, journal=journal
        )

    def final(self) -> WorldDigest:
        """The world as it is now."""
        return digest(self.home)


def _paths(home: Path) -> Paths:
    return Paths(home=home, config=home / "config.toml", config_explicit=False, logs=home / "logs")


def _config(settings: Settings) -> Config:
    return Config(
        user=UserConfig(
            timezone=settings.timezone,
            name=settings.user_name,
            email=settings.user_email,
            working_hours=settings.working_hours,
        ),
        approvals=ApprovalsConfig(mode=settings.approvals),
        agent=AgentConfig(max_steps=settings.max_steps, stream=False),
        calendar=IcsCalendarConfig(path=CALENDAR_FILE),
        email=MaildirEmailConfig(path=MAIL_DIR),
    )
