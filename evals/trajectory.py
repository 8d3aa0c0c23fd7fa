"""The trajectory document: one recorded session, complete enough to replay it offline.

A trajectory holds what went in (the initial world, the settings, the user's turns), what the
model did (each step's request essentials and its response, in the neutral vocabulary of
``agent/messages.py``), what the tools answered, which effects were approved, and what came out
(the final world digest, usage). It is a versioned JSON document; ``docs/trajectory.schema.json``
is generated from these models (``python -m morrow.evals.trajectory --schema``) and
``docs/evals.md`` explains each field.

Requests are stored incrementally: each step keeps only the messages appended since the previous
step (``keep`` says how many of the previous request's messages it kept, so a history that was
compacted in between is still described exactly). :func:`expected_requests` rebuilds the full
request of every step.
"""

from __future__ import annotations

import json
import sys
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from morrow.agent.config import ApprovalMode
from morrow.agent.errors import AssistantError
from morrow.agent.messages import DataPart, Message, ModelResponse, ToolSpec, Usage
from morrow.evals.world import World, WorldDigest

FORMAT: Literal["morrow.trajectory"] = "morrow.trajectory"
VERSION = 1


class TrajectoryError(AssistantError):
    """A trajectory file cannot be read: missing, not JSON, a newer version, or invalid."""


class ReplayDivergence(AssistantError):
    """A replay sent the model something other than what was recorded; the message has a diff."""


class _Doc(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Metadata(_Doc):
    """Where a trajectory came from.

    Attributes:
        case_id: the eval case it belongs to (or a name given at recording time).
        suite: the suite of the case, if any.
        created: when it was recorded (aware).
        source: how it was made: a live session, a case's script, or an imported run.
        provider: the provider that answered the model steps.
        model: the model that answered.
        morrow_version: the version of morrow that recorded it.
        notes: free text (e.g. where an imported run came from).
    """

    case_id: str = ""
    suite: str = ""
    created: datetime
    source: Literal["live", "scripted", "imported"] = "live"
    provider: str = ""
    model: str = ""
    morrow_version: str = ""
    notes: str = ""


class Settings(_Doc):
    """The user settings the session ran with (they shape the system prompt and the tools).

    Attributes:
        timezone: the user's IANA zone.
        user_name: the user's name, if configured.
        user_email: the user's address, if configured.
        working_hours: "HH:MM-HH:MM".
        approvals: the approval mode in force.
        max_steps: the step limit of one turn.
        tool_filter: whether each turn is offered only the tools its request needs (off only
            where a recorded run's own model decided, as in the AgentDojo attack replays).
    """

    timezone: str = "UTC"
    user_name: str | None = None
    user_email: str | None = None
    working_hours: str = "09:00-17:00"
    approvals: ApprovalMode = "deny"
    max_steps: int = 12
    tool_filter: bool = True


class StepRequest(_Doc):
    """The essentials of what morrow sent for one model step.

    Attributes:
        system: the system prompt.
        tools_sha256: digest of the tool specs (see :func:`morrow.evals.replay.tools_digest`).
        keep: how many messages of the previous step's request this one starts with.
        new_messages: the messages after those.
    """

    system: str
    tools_sha256: str
    keep: int = 0
    new_messages: list[Message] = Field(default_factory=list)


class ToolCallRecord(_Doc):
    """One tool call of a step and the result the model got back.

    Attributes:
        id: the call id the model gave.
        name: the tool name.
        arguments: the arguments as the model sent them.
        result: the text the model read.
        is_error: whether the result is an error (refused, invalid, failed).
    """

    id: str
    name: str
    arguments: dict[str, Any] = Field(default_factory=dict)
    result: str = ""
    is_error: bool = False


class Step(_Doc):
    """One model step: the request, the response (or the error), the tool calls it made.

    Attributes:
        request: what was sent.
        response: what came back; absent when the provider failed.
        error: the provider's error message when it failed.
        seconds: how long the model took (informational; never compared).
        tool_calls: the calls of this step with their results.
    """

    request: StepRequest
    response: ModelResponse | None = None
    error: str | None = None
    seconds: float = 0.0
    tool_calls: list[ToolCallRecord] = Field(default_factory=list)


class Approval(_Doc):
    """One decision of the approval gate.

    Attributes:
        call_id: the tool call it answered.
        tool: the tool name.
        effect: "write" or "send".
        arguments: the action as shown to the user.
        approved: the answer.
        reason: what the model was told when refused.
        edited_arguments: the action as the user edited it, if they did.
    """

    call_id: str
    tool: str
    effect: str
    arguments: dict[str, Any] = Field(default_factory=dict)
    approved: bool
    reason: str = ""
    edited_arguments: dict[str, Any] | None = None


class ExternalToolRecord(_Doc):
    """A tool of an external MCP server the session could use (its results are in the steps).

    Attributes:
        name: the name the model saw (``<server>.<tool>``).
        server: the server's configured name.
        remote_name: the tool's name on that server.
        effect: the effect morrow gave it from its annotations.
        description: its description.
        parameters: its JSON schema.
    """

    name: str
    server: str
    remote_name: str
    effect: Literal["read", "write", "send"]
    description: str = ""
    parameters: dict[str, Any] = Field(default_factory=dict)


class Turn(_Doc):
    """One user turn.

    Attributes:
        user: what the user typed.
        data: what morrow gave the model with it (a briefing's gathered data), never the
            user's words; absent when nothing.
        now: the clock at the start of the turn (replays run at this time).
        steps: the model steps, in order.
        approvals: the gate's decisions, in order.
        answer: the final text.
        stop: why the turn ended ("answer", "max_tokens", "refusal",
            "context_window_exceeded", "error").
        error: the error that ended the turn, if any.
    """

    user: str
    data: list[DataPart] | None = None
    now: datetime
    steps: list[Step] = Field(default_factory=list)
    approvals: list[Approval] = Field(default_factory=list)
    answer: str = ""
    stop: str = "answer"
    error: str | None = None


class Trajectory(_Doc):
    """A whole recorded session (the document root).

    Attributes:
        format: always "morrow.trajectory".
        version: the format version; readers refuse a newer one.
        metadata: where it came from.
        settings: the user settings of the session.
        world: the calendar and mailbox at the start.
        tools: the tool specs the model was offered (their digest is in each step).
        history: messages from before the first turn (a continued session's earlier turns).
        turns: the user turns.
        external_tools: the external MCP servers' tools of the session; a replay serves their
            recorded results, so it needs no server.
        final_world: the digest of the world at the end.
        usage: tokens of every step, summed.
    """

    format: Literal["morrow.trajectory"] = FORMAT
    version: int = VERSION
    metadata: Metadata
    settings: Settings = Settings()
    world: World
    tools: list[ToolSpec] = Field(default_factory=list)
    history: list[Message] = Field(default_factory=list)
    turns: list[Turn] = Field(default_factory=list)
    external_tools: list[ExternalToolRecord] | None = None
    final_world: WorldDigest | None = None
    usage: Usage = Usage()

    def dump(self) -> str:
        """The JSON text of this trajectory (stable key order, two-space indent)."""
        return self.model_dump_json(indent=2, exclude_none=True) + "\n"

    def save(self, path: Path) -> None:
        """Write the trajectory atomically (a crash never leaves half a file)."""
        from morrow.agent.logs import scrub  # no key or token in a file that gets shared
        from morrow.memory.files import atomic_write

        atomic_write(path, scrub(self.dump()))

    @property
    def steps(self) -> list[Step]:
        """Every step of every turn, in order."""
        return [step for turn in self.turns for step in turn.steps]


def parse_trajectory(text: str | bytes, *, source: str = "trajectory") -> Trajectory:
    """Read a trajectory document, refusing other formats and newer versions with a clear error.

    Raises:
        TrajectoryError: not JSON, not a trajectory, a newer version, or invalid fields.
    """
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        raise TrajectoryError(f"{source}: not JSON: {exc}") from None
    if not isinstance(raw, dict) or raw.get("format") != FORMAT:
        raise TrajectoryError(f'{source}: not a morrow trajectory (no "format": "{FORMAT}")')
    version = raw.get("version")
    if not isinstance(version, int) or version < 1:
        raise TrajectoryError(f"{source}: invalid trajectory version {version!r}")
    if version > VERSION:
        raise TrajectoryError(
            f"{source}: trajectory format version {version} was written by a newer morrow; "
            f"this one reads versions up to {VERSION} (upgrade morrow to replay it)"
        )
    try:
        return Trajectory.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        where = ".".join(str(part) for part in first["loc"])
        more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
        raise TrajectoryError(f"{source}: {where}: {first['msg']}{more}") from None


def load_trajectory(path: Path) -> Trajectory:
    """Read a trajectory file (see :func:`parse_trajectory`); relative world refs resolve here."""
    try:
        text = path.read_bytes()
    except OSError as exc:
        raise TrajectoryError(f"{path}: cannot read: {exc.strerror or exc}") from None
    trajectory = parse_trajectory(text, source=str(path))
    return trajectory.model_copy(update={"world": trajectory.world.resolved(path.parent)})


def expected_requests(trajectory: Trajectory) -> list[list[Message]]:
    """The full message list of every step's request, in order, rebuilt from the increments."""
    messages: list[Message] = []
    out: list[list[Message]] = []
    for step in trajectory.steps:
        messages = messages[: step.request.keep] + list(step.request.new_messages)
        out.append(messages)
    return out


def json_schema() -> dict[str, Any]:
    """The JSON schema of the trajectory document (what docs/trajectory.schema.json holds)."""
    schema = Trajectory.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = "https://morrow.invalid/trajectory.schema.json"
    schema["title"] = f"morrow trajectory, format version {VERSION}"
    return schema


def main(argv: list[str]) -> int:
    """``python -m morrow.evals.trajectory --schema [FILE]``: write the JSON schema."""
    if not argv or argv[0] != "--schema":
        sys.stderr.write("usage: python -m morrow.evals.trajectory --schema [FILE]\n")
        return 2
    text = json.dumps(json_schema(), indent=2) + "\n"
    if len(argv) > 1:
        Path(argv[1]).write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
