"""Replaying a trajectory offline: the recorded model answers, today's morrow does the rest.

:class:`ReplayProvider` is a :class:`~morrow.agent.providers.function.FunctionProvider`
whose function answers each request with the next recorded response. Before answering, it
checks that the request is the one that was recorded (see :mod:`morrow.evals.normalize` for
what is compared and what is masked). When morrow now sends something else (a tool returned
other data, a tool's schema changed, the history differs) it raises
:class:`~morrow.evals.trajectory.ReplayDivergence` with a unified diff, recorded (``-``)
against replayed (``+``), so the cause is on screen.

:func:`replay` runs a whole trajectory in a fresh :class:`~morrow.evals.session.EvalSession`: the
recorded world, settings and clock, the recorded approvals, and at the end a comparison of the
final world (with minted ids made canonical).
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from morrow.agent.errors import ProviderUnavailable
from morrow.agent.messages import (
    Message,
    ModelRequest,
    ModelResponse,
    TextPart,
    ToolCallPart,
)
from morrow.agent.providers.function import CallInfo, FunctionProvider
from morrow.agent.safety.gate import ApprovalRequest, Decision
from morrow.evals.diff import canonical
from morrow.evals.normalize import (
    IdMap,
    normalize_system,
    normalize_tools,
    recorded_facts,
    render_messages,
    tools_digest,
)
from morrow.evals.session import EvalSession, TurnInput
from morrow.evals.trajectory import (
    Approval,
    Metadata,
    ReplayDivergence,
    Trajectory,
    expected_requests,
)
from morrow.evals.world import WorldDigest

if TYPE_CHECKING:
    from morrow.agent.mcp.client import RemoteResult
    from morrow.tools.base import Tool

CONTEXT_LINES = 3
MAX_DIFF_LINES = 80


class ReplayProvider(FunctionProvider):
    """A provider that serves a trajectory's recorded responses and checks every request.

    Answering and streaming are :class:`FunctionProvider`'s; this class only checks each
    request and picks the recorded response (or the recorded failure).

    Args:
        trajectory: the recording to serve.
        minting_tools: names of tools with effects, whose results may carry fresh ids.
        compare_system: whether the system prompt is compared (its clock line never is).
    """

    def __init__(
        self,
        trajectory: Trajectory,
        *,
        minting_tools: frozenset[str] = frozenset(),
        compare_system: bool = True,
    ) -> None:
        super().__init__(
            self._next,
            name=trajectory.metadata.provider or "replay",
            model=trajectory.metadata.model or "replay",
        )
        self.trajectory = trajectory
        self.steps = trajectory.steps
        self.expected = expected_requests(trajectory)
        self.ids = IdMap()
        self.minting_tools = minting_tools
        self.compare_system = compare_system
        self.served = 0
        self._learned = 0

    def assert_done(self) -> None:
        """Raise if recorded steps were never asked for (the replayed run stopped early)."""
        if self.served < len(self.steps):
            raise ReplayDivergence(
                f"replay diverged: the run ended after {self.served} model steps, but the "
                f"recording has {len(self.steps)}"
            )

    def _next(self, request: ModelRequest, info: CallInfo) -> ModelResponse:
        index = self.served
        if index >= len(self.steps):
            last = render_messages(request.messages[-1:])
            raise ReplayDivergence(
                f"replay diverged at model step {index + 1}: morrow asked for another step, "
                f"but the recording has only {len(self.steps)}. Last message sent:\n"
                + "\n".join(last[:MAX_DIFF_LINES])
            )
        step = self.steps[index]
        expected = self.expected[index]
        self._learn(expected, list(request.messages))
        self._check(index, request, expected)
        self.served += 1
        if step.response is None:
            raise ProviderUnavailable(step.error or "recorded provider failure", provider=self.name)
        return self._mapped(step.response)

    def _learn(self, expected: list[Message], actual: list[Message]) -> None:
        """Learn minted ids from effect results not seen before."""
        for old, new in zip(expected[self._learned :], actual[self._learned :], strict=False):
            if old.role != "tool" or new.role != "tool":
                continue
            for a, b in zip(old.tool_results, new.tool_results, strict=False):
                if a.name in self.minting_tools and not a.is_error and not b.is_error:
                    self.ids.learn(a.content, b.content)
        self._learned = min(len(expected), len(actual))

    def _check(self, index: int, request: ModelRequest, expected: list[Message]) -> None:
        step = self.steps[index]
        where = f"model step {index + 1}{self._turn_label(index)}"
        if tools_digest(request.tools) != step.request.tools_sha256:
            old = _json_lines(normalize_tools(self.trajectory.tools))
            new = _json_lines(normalize_tools(request.tools))
            raise ReplayDivergence(_report(where, "the tool schemas differ", old, new))
        if self.compare_system:
            old_system = normalize_system(step.request.system)
            new_system = normalize_system(request.system)
            if old_system != new_system:
                raise ReplayDivergence(
                    _report(
                        where,
                        "the system prompt differs",
                        old_system.splitlines(),
                        new_system.splitlines(),
                    )
                )
        recorded = [_plain(self.ids.apply_message(m)) for m in expected]
        replayed = [_plain(m) for m in request.messages]
        if recorded != replayed:
            raise ReplayDivergence(
                _report(
                    where,
                    "the history sent to the model differs from the recording",
                    render_messages(recorded),
                    render_messages(replayed),
                )
            )

    def _turn_label(self, index: int) -> str:
        count = 0
        for number, turn in enumerate(self.trajectory.turns, 1):
            count += len(turn.steps)
            if index < count:
                return f" (turn {number}: {turn.user[:60]!r})"
        return ""

    def _mapped(self, response: ModelResponse) -> ModelResponse:
        if not self.ids.mapping:
            return response
        parts = [
            p.model_copy(update={"arguments": self.ids.apply_value(p.arguments)})
            if isinstance(p, ToolCallPart)
            else p.model_copy(update={"text": self.ids.apply(p.text)})
            if isinstance(p, TextPart)
            else p
            for p in response.parts
        ]
        return response.model_copy(update={"parts": tuple(parts)})


def _plain(message: Message) -> Message:
    """A message without provider echoes (they are not compared)."""
    if not any(isinstance(p, ToolCallPart) and p.provider_details for p in message.parts):
        return message
    parts = tuple(
        p.model_copy(update={"provider_details": None}) if isinstance(p, ToolCallPart) else p
        for p in message.parts
    )
    return message.model_copy(update={"parts": parts})


def _json_lines(value: object) -> list[str]:
    return json.dumps(value, indent=1, sort_keys=True).splitlines()


def _report(where: str, what: str, old: Sequence[str], new: Sequence[str]) -> str:
    diff = list(
        difflib.unified_diff(
            list(old), list(new), "recorded", "replayed", n=CONTEXT_LINES, lineterm=""
        )
    )
    if len(diff) > MAX_DIFF_LINES:
        diff = [*diff[:MAX_DIFF_LINES], f"... ({len(diff) - MAX_DIFF_LINES} more diff lines)"]
    return f"replay diverged at {where}: {what}\n" + "\n".join(diff)


@dataclass
class ReplayResult:
    """What a replay produced: the new trajectory (to score), the provider, the initial world."""

    trajectory: Trajectory
    provider: ReplayProvider
    initial: WorldDigest


async def replay(
    trajectory: Trajectory, *, compare_system: bool = True, check_world: bool = True
) -> ReplayResult:
    """Run ``trajectory`` again offline and check it step by step, then its final world.

    Raises:
        ReplayDivergence: the requests, the number of steps or the final world differ.
    """
    first = trajectory.turns[0].now if trajectory.turns else trajectory.metadata.created
    metadata = Metadata(
        case_id=trajectory.metadata.case_id,
        suite=trajectory.metadata.suite,
        created=trajectory.metadata.created,
        source=trajectory.metadata.source,
        morrow_version=trajectory.metadata.morrow_version,
        notes="replay",
    )
    with EvalSession(trajectory.world, trajectory.settings, first, metadata) as session:
        session.app.extra_tools = recorded_external_tools(trajectory)
        minting = frozenset(t.name for t in session.app.tools() if t.effect != "read")
        provider = ReplayProvider(trajectory, minting_tools=minting, compare_system=compare_system)
        session.history = list(trajectory.history)
        turns = [
            TurnInput(
                t.user,
                t.now,
                recorded_facts(t.steps[0].request.system) if t.steps else (),
                tuple(t.data or ()),
            )
            for t in trajectory.turns
        ]
        result = await session.run(provider, turns, ask_for=_recorded_answers(trajectory))
        provider.assert_done()
        if check_world and trajectory.final_world is not None and result.final_world is not None:
            _check_world(trajectory, result, session)
        initial = session.initial
    return ReplayResult(result, provider, initial)


def recorded_external_tools(trajectory: Trajectory) -> list[Tool]:
    """The external MCP tools of a recording, answering with its results: no server is run.

    Each call is answered by the first recorded call of the same tool with the same arguments
    not answered yet; one the recording does not have is a tool error, which then shows in the
    divergence diff.
    """
    from morrow.agent.mcp.bridge import external_tool
    from morrow.agent.mcp.client import McpServerError, RemoteTool

    unanswered = [c for step in trajectory.steps for c in step.tool_calls]

    async def answer(server: str, name: str, arguments: dict[str, Any]) -> RemoteResult:
        full = f"{server}.{name}"
        for index, call in enumerate(unanswered):
            if call.name == full and call.arguments == arguments:
                del unanswered[index]
                return _recorded_result(full, call.result, call.is_error)
        raise McpServerError(
            f"replay: the recording has no (further) call of {full} with {arguments}"
        )

    return [
        external_tool(
            RemoteTool(
                server=record.server,
                name=record.remote_name,
                description=record.description,
                input_schema=record.parameters,
                read_only=record.effect == "read",
                open_world=record.effect == "send",
            ),
            answer,
        )
        for record in trajectory.external_tools or ()
    ]


def _recorded_result(name: str, text: str, is_error: bool) -> RemoteResult:
    """The server's own output inside a recorded result (which morrow had labelled)."""
    from morrow.agent.mcp.client import McpServerError, RemoteResult

    failed = f"{name} failed: "
    body = text.removeprefix(failed) if is_error else text
    match = _LABELLED.fullmatch(body)
    if match is None or match.group(1) != "mcp:" + name:
        if is_error:  # a failure of the connection itself, not the server's answer
            raise McpServerError(text)
        return RemoteResult(text=text)
    return RemoteResult(text=match.group(2), is_error=is_error)


_LABELLED = re.compile(
    r'<untrusted_content source="([^"]*)">\n(.*)\n</untrusted_content>', re.DOTALL
)


def _check_world(recorded: Trajectory, replayed: Trajectory, session: EvalSession) -> None:
    assert recorded.final_world is not None and replayed.final_world is not None
    old = canonical(recorded.final_world, session.initial)
    new = canonical(replayed.final_world, session.initial)
    if old != new:
        raise ReplayDivergence(
            _report("the end", "the final world differs", old.splitlines(), new.splitlines())
        )


AskCallback = Callable[[ApprovalRequest], Awaitable[Decision]]


def _recorded_answers(trajectory: Trajectory) -> Callable[[int], AskCallback | None]:
    """For each turn, an ``ask`` callback that gives the recorded answers in order."""

    def for_turn(index: int) -> AskCallback | None:
        pending = list(trajectory.turns[index].approvals) if index < len(trajectory.turns) else []

        async def ask(request: ApprovalRequest) -> Decision:
            answer = _take(pending, request)
            if answer is None:
                raise ReplayDivergence(
                    f"replay diverged: morrow asked to approve {request.tool} "
                    f"(call {request.call_id}), which the recording never asked\n"
                    + request.describe()
                )
            return Decision(answer.approved, answer.reason, answer.edited_arguments)

        return ask

    return for_turn


def _take(pending: list[Approval], request: ApprovalRequest) -> Approval | None:
    for index, answer in enumerate(pending):
        if answer.call_id == request.call_id and answer.tool == request.tool:
            return pending.pop(index)
    return None
