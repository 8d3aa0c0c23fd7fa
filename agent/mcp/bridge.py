"""Where MCP meets morrow's tools and approval gate: the one module that touches their API.

Both directions pass through here, so that a change to the tool-calling API (``Tool.run``,
``ApprovalGate.review/decide/run``) is made in one place:

- **out** (morrow's tools for MCP clients): :func:`hints_of` gives a morrow tool's annotations,
  :func:`served_tools` the tools served, and :func:`call_gated` runs one call exactly as the
  loop does: validated, an
  effect reviewed by the gate (preview, provenance, the journal's repeats), decided by the
  mode or the person behind the client, and run through the effect journal;
- **in** (external servers' tools for morrow): :func:`external_tool` makes a listed remote tool a
  :class:`~morrow.tools.base.Tool` named ``<server>.<tool>``. Its effect comes from the
  server's annotations, read conservatively: without ``readOnlyHint`` it is an effect, a
  ``send`` unless ``openWorldHint`` is false. Its arguments are checked against the server's
  JSON schema; every address and link in any of them is traced by provenance (their names
  mean nothing to morrow); its output, error text included, reaches the model inside
  ``<untrusted_content source="mcp:<server>.<tool>">``, which provenance names as such.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import structlog
from pydantic import BaseModel, ConfigDict

from morrow.agent.config import ApprovalMode
from morrow.agent.mcp.client import McpServerError, RemoteResult, RemoteTool
from morrow.agent.messages import Message, ToolCallPart, ToolResultPart
from morrow.agent.safety.gate import ApprovalGate, ApprovalRequest, Decision
from morrow.agent.safety.provenance import OUTGOING
from morrow.tools.base import Effect, Tool
from morrow.tools.email.backend import OutcomeUnknownError
from morrow.tools.email.untrusted import wrap_untrusted
from morrow.tools.errors import ToolError, ToolRetry

if TYPE_CHECKING:
    from morrow.agent.safety.journal import EffectJournal
    from morrow.tools.base import ToolRegistry
    from morrow.tools.context import ToolContext

log = structlog.get_logger("morrow.mcp")
Caller = Callable[[str, str, dict[str, Any]], Awaitable[RemoteResult]]
Ask = Callable[[ApprovalRequest], Awaitable[Decision]]
SOURCE_PREFIX = "mcp:"


class ApprovalPending(Exception):
    """The person behind the client must answer first (the 2026-07-28 multi-round flow)."""

    def __init__(self, request: ApprovalRequest) -> None:
        super().__init__(request.tool)
        self.request = request


class ExternalArguments(BaseModel):
    """The arguments of an external tool: any JSON object (checked against its schema)."""

    model_config = ConfigDict(extra="allow")


def effect_of_hints(tool: RemoteTool) -> Effect:
    """``read`` only with ``readOnlyHint``; else ``send`` unless ``openWorldHint`` is false."""
    if tool.read_only:
        return "read"
    return "send" if tool.open_world else "write"


@dataclass(frozen=True)
class ExternalTool(Tool):
    """A tool of an external MCP server, run through :class:`~morrow.agent.mcp.client.McpHub`.

    Attributes:
        server: the server's configured name.
        remote_name: the tool's name on that server (``name`` carries the server prefix).
        caller: sends the call (the hub's, or a recording's in a replay).
    """

    server: str = ""
    remote_name: str = ""
    caller: Caller | None = None

    def validate(self, raw: dict[str, Any]) -> BaseModel:
        """Check the arguments against the server's schema (ToolRetry tells the model why)."""
        from jsonschema import Draft202012Validator
        from jsonschema.exceptions import SchemaError

        try:
            validator = Draft202012Validator(self.parameters)
            errors = sorted(validator.iter_errors(raw), key=lambda e: list(e.path))
        except SchemaError:  # the server's schema is broken: let the server judge
            errors = []
        if errors:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e.path) or 'arguments'}: {e.message}"
                for e in errors[:5]
            )
            raise ToolRetry(f"invalid arguments: {problems}")
        return ExternalArguments.model_validate(raw)

    async def run(self, context: ToolContext, args: BaseModel) -> str:
        """Call the server; its output comes back labelled as untrusted."""
        if self.caller is None:
            raise ToolError(f"{self.name}: no MCP server connection")
        source = SOURCE_PREFIX + self.name
        try:
            result = await self.caller(self.server, self.remote_name, args.model_dump(mode="json"))
        except McpServerError as exc:
            if exc.sent and self.effect != "read":  # it may have happened: the journal says so
                note = f"{exc} (the effect may have happened)"
                raise OutcomeUnknownError(note, message_id="") from None
            raise
        if result.is_error:
            raise ToolError(f"{self.name} failed: " + wrap_untrusted(result.text, source=source))
        return wrap_untrusted(result.text, source=source)


def _outgoing(context: ToolContext, args: BaseModel) -> dict[str, Any]:
    """The preview of an external effect: every string it sends, for provenance to check."""
    found: list[str] = []

    def collect(value: Any) -> None:
        if isinstance(value, str):
            found.append(value)
        elif isinstance(value, dict):
            for item in value.values():
                collect(item)
        elif isinstance(value, list):
            for item in value:
                collect(item)

    collect(args.model_dump(mode="json"))
    return {OUTGOING: found} if found else {}


def _remote_only(*_: Any, **__: Any) -> Any:
    raise ToolError("an external tool runs on its MCP server")  # ExternalTool.run is used


def external_tool(remote: RemoteTool, caller: Caller | None) -> ExternalTool:
    """A remote tool as a morrow tool named ``<server>.<tool>``."""
    schema = remote.input_schema or {"type": "object"}
    return ExternalTool(
        name=f"{remote.server}.{remote.name}",
        description=remote.description or f"{remote.name} (MCP server {remote.server})",
        effect=effect_of_hints(remote),
        arguments=ExternalArguments,
        func=_remote_only,
        parameters=schema,
        preview=_outgoing,
        server=remote.server,
        remote_name=remote.name,
        caller=caller,
    )


def is_external(tool: Tool) -> bool:
    """Whether ``tool`` belongs to an external MCP server."""
    return isinstance(tool, ExternalTool)


# -- morrow's tools for MCP clients ------------------------------------------------------------


@dataclass(frozen=True)
class Hints:
    """The MCP annotations of one morrow tool."""

    read_only: bool
    destructive: bool
    open_world: bool
    idempotent: bool


def hints_of(tool: Tool) -> Hints:
    """``readOnlyHint`` for reads; a ``send`` (or a tool that can be one) reaches the world."""
    can_send = tool.effect == "send"
    return Hints(
        read_only=tool.effect == "read",
        destructive=can_send or tool.name in ("cancel_event", "forget"),
        open_world=can_send,
        idempotent=tool.effect == "read" or tool.name in ("archive_email", "mark_email"),
    )


def served_tools(tools: ToolRegistry, allow: Sequence[str] | None) -> list[Tool]:
    """The morrow tools a server offers: all, or those ``allow`` names (external ones never).

    A name in ``allow`` that is no tool of morrow's is logged (one warning line).
    """
    unknown = sorted(set(allow or ()) - set(tools.names()))
    if unknown:
        log.warning("mcp_serve_tools_unknown", names=unknown)
    return [t for t in tools if not is_external(t) and (allow is None or t.name in allow)]


def make_gate(
    mode: ApprovalMode, ask: Ask | None, journal: EffectJournal | None = None
) -> ApprovalGate:
    """A gate for one served call: the config's mode, the client's person as ``ask``.

    ``ask`` mode with nobody to ask refuses, as in every non-interactive run. The tool filter
    is off: the client chose the tool, and the gate still decides.
    """
    if mode == "ask" and ask is None:
        mode = "deny"
    return ApprovalGate(mode=mode, ask=ask, filter_tools=False, journal=journal)


async def call_gated(
    tool: Tool,
    raw: dict[str, Any],
    call_id: str,
    *,
    context: ToolContext,
    history: list[Message],
    gate: ApprovalGate,
) -> tuple[str, bool]:
    """Run one served call as the loop would; returns the result text and whether it failed.

    ``history`` holds the session's earlier calls and results (what provenance traces
    addresses to); this call and its result are appended to it.
    """
    call = ToolCallPart(id=call_id, name=tool.name, arguments=raw)
    try:
        call_context = context.for_call(call_id)
        content, is_error = await _gated(tool, raw, call_context, history, gate), False
    except ApprovalPending:
        raise
    except (ToolError, ToolRetry) as exc:
        content, is_error = str(exc) or type(exc).__name__, True
    except Exception as exc:  # a bug in a tool: the client is told, the server goes on
        content, is_error = f"internal error in {tool.name}: {type(exc).__name__}: {exc}", True
    history += [
        Message(role="assistant", parts=(call,)),
        Message(
            role="tool",
            parts=(
                ToolResultPart(call_id=call_id, name=tool.name, content=content, is_error=is_error),
            ),
        ),
    ]
    return content, is_error


async def _gated(
    tool: Tool,
    raw: dict[str, Any],
    context: ToolContext,
    history: list[Message],
    gate: ApprovalGate,
) -> str:
    args = tool.validate(raw)
    if tool.effect_for(args) == "read":
        return await tool.run(context, args)
    request = await gate.review(tool, args, context, history=history)
    decision = await gate.decide(request)
    if not decision.approved:
        raise ToolError(decision.reason)
    if decision.arguments is not None:
        args = tool.validate(decision.arguments)
    return await gate.run(tool, args, context)
