"""``morrow mcp serve --record FILE``: a served session as a trajectory that replays offline.

No model runs in morrow here: the client's model chooses the calls. The trajectory (the same
document as any session's, written by the ``morrow.recorder`` entry point) shows the client as
the model: each call becomes one turn, ``(MCP call N)``, whose first step is the client's
tool call and whose second is an empty answer. A replay then runs every call again through
the real tools, gate and journal on the recorded world, compares each result (it is in the
next step's request) and the final world, and answers approvals as the person answered them.

The recorded request shows what a replay will send: all of morrow's tools (the turn's text
names no kind of action, so the tool filter keeps them all) and the system prompt morrow
would use (a served session has none; the replay compares it like any other).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from morrow.agent.messages import (
    Message,
    ModelRequest,
    ModelResponse,
    ToolCallPart,
    ToolResultPart,
    ToolSpec,
)

if TYPE_CHECKING:
    from morrow.agent.app import App
    from morrow.agent.safety.gate import ApprovalGate

CLIENT_PROVIDER = "mcp-client"


class CallClock:
    """The served app's clock while recording: each call runs at the instant it started.

    A replay runs the call at the recorded instant, so what the call stamps (a draft's Date
    header, an event's creation time) must be that instant too, not a second later.
    """

    def __init__(self) -> None:
        self.frozen: datetime | None = None

    def __call__(self) -> datetime:
        """The instant the current call started, or now between calls."""
        return self.frozen or datetime.now(UTC)

    def freeze(self) -> datetime:
        """Start a call: from now on the clock says this instant."""
        self.frozen = datetime.now(UTC)
        return self.frozen

    def thaw(self) -> None:
        """The call ended: the clock runs again."""
        self.frozen = None


@dataclass
class ServedRecording:
    """Feeds a trajectory recorder (``App.recorder``) with the calls a client makes.

    Attributes:
        app: the served app (its tools and system prompt are what a replay will use).
        recorder: the recorder the ``morrow.recorder`` entry point gave.
        client: the client's name, recorded as the model.
        clock: the app's clock (:class:`CallClock`), set by :func:`start_recording`.
    """

    app: App
    recorder: Any
    client: str = "mcp-client"
    clock: CallClock = field(default_factory=CallClock)
    history: list[Message] = field(default_factory=list)
    calls: int = 0

    def watch(self, gate: ApprovalGate) -> ApprovalGate:
        """The gate of one call, watched so its decision is recorded."""
        watched: ApprovalGate = self.recorder.watch(gate)
        return watched

    def record(self, call: ToolCallPart, text: str, is_error: bool) -> None:
        """One finished call: a turn with the client's call, the result, an empty answer.

        Called while the call's instant still holds (:meth:`CallClock.freeze`): the turn
        starts then, and a replay runs the call at that instant.
        """
        self.calls += 1
        result = ToolResultPart(call_id=call.id, name=call.name, content=text, is_error=is_error)
        self.history.append(Message.user(f"(MCP call {self.calls})"))
        self._step(ModelResponse.model_validate(self._response((call,))))
        self.history.append(Message(role="tool", parts=(result,)))
        self._step(ModelResponse.model_validate(self._response(())))
        self.recorder.turn_done(self.history)

    def _step(self, response: ModelResponse) -> None:
        tools = self.app.tools(external=False)
        request = ModelRequest(
            system=self.app.system_prompt(),
            messages=tuple(self.history),
            tools=tuple(
                ToolSpec(name=t.name, description=t.description, parameters=t.parameters)
                for t in tools
            ),
        )
        step = self.recorder.request(request)
        self.recorder.response(step, response, 0.0)
        self.history.append(response.to_message())

    def _response(self, parts: tuple[Any, ...]) -> dict[str, Any]:
        return {
            "parts": parts,
            "stop_reason": "tool_use" if parts else "end_turn",
            "provider": CLIENT_PROVIDER,
            "model": self.client,
        }


def start_recording(app: App, path: str) -> ServedRecording:
    """Record ``app``'s served calls to ``path`` (the app's clock becomes a :class:`CallClock`).

    Raises:
        UsageError: the world cannot be recorded (not the local .ics and Maildir), or no
            recorder is installed.
    """
    clock = CallClock()
    app.clock = clock  # before the recorder and the workspace take it
    return ServedRecording(app, app.recorder(path), clock=clock)
