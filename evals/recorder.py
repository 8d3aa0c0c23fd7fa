"""Recording a session as a trajectory: a provider wrapper plus a look at the history.

:class:`Recorder` snapshots the world when it starts, wraps the provider
(:meth:`Recorder.wrap`) to keep every request and response, watches each turn's approval gate
(:meth:`Recorder.watch`), and at the end of every turn (:meth:`Recorder.turn_done`) pairs the
tool calls with their results from the history, digests the world and, when it has a path,
rewrites the trajectory file. A session that crashes halfway still leaves every finished turn.

``morrow ask --record FILE`` and ``morrow chat --record FILE`` reach this through the
``morrow.recorder`` entry point (:func:`open_recorder`), so ``agent`` never imports ``evals``;
the eval runner uses :class:`Recorder` directly.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable, Iterable
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from morrow.agent.errors import UsageError
from morrow.agent.messages import (
    Message,
    ModelRequest,
    ModelResponse,
    ResponseDone,
    StreamEvent,
)
from morrow.agent.safety.gate import ApprovalGate
from morrow.evals.normalize import tools_digest
from morrow.evals.trajectory import (
    Approval,
    ExternalToolRecord,
    Metadata,
    Settings,
    Step,
    StepRequest,
    ToolCallRecord,
    Trajectory,
    Turn,
)
from morrow.evals.world import World, WorldDigest, digest_calendar, digest_maildir, snapshot

if TYPE_CHECKING:
    from morrow.agent.app import App
    from morrow.agent.providers.base import Provider
    from morrow.tools.base import Tool


def morrow_version() -> str:
    """The installed morrow version (or "unknown" in a bare checkout)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("morrow")
    except PackageNotFoundError:
        return "unknown"


class Recorder:
    """Builds a :class:`Trajectory` while a session runs.

    Args:
        world: the world at the start (inline or a reference).
        settings: the user settings of the session.
        digest_world: reads the current world (called at the end of every turn).
        clock: the session's clock; each turn records when it started.
        path: where to write the trajectory after each turn (None: keep it in memory).
        metadata: case id, suite and source to record.
    """

    def __init__(
        self,
        *,
        world: World,
        settings: Settings,
        digest_world: Callable[[], WorldDigest],
        clock: Callable[[], datetime],
        path: Path | None = None,
        metadata: Metadata | None = None,
    ) -> None:
        self.trajectory = Trajectory(
            metadata=metadata or Metadata(created=clock(), morrow_version=morrow_version()),
            settings=settings,
            world=world,
        )
        self.path = path
        self._digest_world = digest_world
        self._clock = clock
        self._previous: list[Message] = []
        self._gates: list[ApprovalGate] = []
        self._turn: Turn | None = None

    # -- hooks the session calls --------------------------------------------------------------

    def wrap(self, provider: Provider) -> Provider:
        """A provider that answers like ``provider`` and records every step."""
        return RecordingProvider(provider, self)

    def watch(self, gate: ApprovalGate) -> ApprovalGate:
        """Remember ``gate`` so the turn's approvals are recorded; returns it unchanged."""
        self._gates.append(gate)
        return gate

    def offered(self, tools: Iterable[Tool]) -> None:
        """Note the external MCP tools among ``tools`` (a replay serves their recorded results)."""
        from morrow.agent.mcp.bridge import ExternalTool

        records = [
            ExternalToolRecord(
                name=t.name,
                server=t.server,
                remote_name=t.remote_name,
                effect=t.effect,
                description=t.description,
                parameters=t.parameters,
            )
            for t in tools
            if isinstance(t, ExternalTool)
        ]
        self.trajectory.external_tools = records or None

    def turn_done(self, history: list[Message], *, error: BaseException | None = None) -> None:
        """Close the current turn from the final ``history``; save the file if there is one."""
        turn = self._turn
        if turn is None:
            return
        _attach_results(turn, history)
        turn.approvals = [_approval(r, d) for gate in self._gates for r, d in gate.decisions]
        self._gates.clear()
        last = turn.steps[-1].response if turn.steps else None
        turn.answer = last.text if last is not None else ""
        turn.stop = _stop_of(last) if error is None else "error"
        turn.error = f"{type(error).__name__}: {error}" if error is not None else None
        self.trajectory.final_world = self._digest_world()
        self._turn = None
        self.save()

    def save(self) -> None:
        """Write the trajectory to its path (no-op without one)."""
        if self.path is not None:
            self.trajectory.save(self.path)

    # -- what the provider wrapper reports ----------------------------------------------------

    def request(self, request: ModelRequest) -> Step:
        """A request is about to go out: open a turn if it starts one, and a step."""
        messages = list(request.messages)
        if self._turn is None:
            user = messages[-1].text if messages and messages[-1].role == "user" else ""
            if not self.trajectory.turns:  # a continued session: keep what came before
                self.trajectory.history = messages[:-1]
            data = messages[-1].data if messages and messages[-1].role == "user" else []
            self._turn = Turn(user=user, data=data or None, now=self._clock())
            self.trajectory.turns.append(self._turn)
        if not self.trajectory.tools:
            self.trajectory.tools = list(request.tools)
        keep = _common_prefix(self._previous, messages)
        step = Step(
            request=StepRequest(
                system=request.system,
                tools_sha256=tools_digest(request.tools),
                keep=keep,
                new_messages=messages[keep:],
            )
        )
        self._previous = messages
        self._turn.steps.append(step)
        return step

    def response(self, step: Step, response: ModelResponse, seconds: float) -> None:
        """The step's response arrived."""
        step.response = response
        step.seconds = round(seconds, 3)
        self.trajectory.usage = self.trajectory.usage + response.usage
        meta = self.trajectory.metadata
        if not meta.provider:
            meta.provider, meta.model = response.provider, response.model


class RecordingProvider:
    """A provider wrapper that reports every request and response to a :class:`Recorder`."""

    def __init__(self, inner: Provider, recorder: Recorder) -> None:
        self.inner = inner
        self.recorder = recorder
        self.name = inner.name
        self.model = inner.model

    async def complete(self, request: ModelRequest) -> ModelResponse:
        """Ask the wrapped provider; record the exchange (or its error)."""
        step = self.recorder.request(request)
        started = time.perf_counter()
        try:
            response = await self.inner.complete(request)
        except Exception as exc:
            step.error = f"{type(exc).__name__}: {exc}"
            raise
        self.recorder.response(step, response, time.perf_counter() - started)
        return response

    async def stream(self, request: ModelRequest) -> AsyncIterator[StreamEvent]:
        """Stream from the wrapped provider; record the assembled response (or the error)."""
        step = self.recorder.request(request)
        started = time.perf_counter()
        try:
            async for event in self.inner.stream(request):
                if isinstance(event, ResponseDone):
                    self.recorder.response(step, event.response, time.perf_counter() - started)
                yield event
        except Exception as exc:
            step.error = f"{type(exc).__name__}: {exc}"
            raise

    async def aclose(self) -> None:
        """Close the wrapped provider."""
        await self.inner.aclose()


def _common_prefix(a: list[Message], b: list[Message]) -> int:
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n


def _attach_results(turn: Turn, history: list[Message]) -> None:
    """Pair each step's tool calls with the results that follow its message in the history."""
    start = _turn_start(turn, history)
    assistants = [i for i in range(start, len(history)) if history[i].role == "assistant"]
    answered = [s for s in turn.steps if s.response is not None]
    for step, index in zip(answered, assistants, strict=False):
        following = history[index + 1] if index + 1 < len(history) else None
        results = {}
        if following is not None and following.role == "tool":
            results = {r.call_id: r for r in following.tool_results}
        assert step.response is not None
        step.tool_calls = [
            ToolCallRecord(
                id=call.id,
                name=call.name,
                arguments=call.arguments,
                result=results[call.id].content if call.id in results else "",
                is_error=results[call.id].is_error if call.id in results else True,
            )
            for call in step.response.tool_calls
        ]


def _turn_start(turn: Turn, history: list[Message]) -> int:
    for index in range(len(history) - 1, -1, -1):
        if history[index].role == "user" and history[index].text == turn.user:
            return index
    return 0


def _approval(request: Any, decision: Any) -> Approval:
    return Approval(
        call_id=request.call_id,
        tool=request.tool,
        effect=request.effect,
        arguments=request.arguments,
        approved=decision.approved,
        reason=decision.reason,
        edited_arguments=decision.arguments,
    )


def _stop_of(response: ModelResponse | None) -> str:
    if response is None:
        return "error"
    cut = ("max_tokens", "refusal", "context_window_exceeded")
    return response.stop_reason if response.stop_reason in cut else "answer"


def settings_of(app: App) -> Settings:
    """The recorded settings of an app's configuration."""
    user = app.config.user
    return Settings(
        timezone=user.timezone,
        user_name=user.name,
        user_email=user.email,
        working_hours=user.working_hours,
        approvals=app.config.approvals.mode,
        max_steps=app.config.agent.max_steps,
    )


def open_recorder(path: str, app: App) -> Recorder:
    """The ``morrow.recorder`` entry point: a recorder for ``--record FILE`` over ``app``.

    Raises:
        UsageError: the world is not the local .ics calendar and Maildir (only those can be
            snapshotted and replayed offline), or the file cannot be written.
    """
    if app.config.calendar.backend != "ics" or app.config.email.backend != "maildir":
        raise UsageError(
            '--record needs the local calendar and mailbox ([calendar] backend = "ics", '
            '[email] backend = "maildir"); a remote world cannot be replayed offline'
        )
    target = Path(path).expanduser()
    if target.is_dir() or not target.parent.is_dir():
        raise UsageError(f"--record {path}: not a file in an existing directory")
    calendar = app.paths.resolve_path(app.config.calendar.path)
    maildir = app.paths.resolve_path(app.config.email.path)
    now = app.clock()
    recorder = Recorder(
        world=snapshot(calendar, maildir),
        settings=settings_of(app),
        digest_world=lambda: WorldDigest(
            events=digest_calendar(calendar), mail=digest_maildir(maildir)
        ),
        clock=app.clock,
        path=target,
        metadata=Metadata(
            case_id=target.stem, created=now, source="live", morrow_version=morrow_version()
        ),
    )
    if app.config.mcp.servers:  # their tools are recorded, so a replay needs no server
        recorder.offered(app.tools())
    recorder.save()
    return recorder
