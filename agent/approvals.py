"""The approval gate: every tool call with an effect passes here before it runs.

Modes (``[approvals] mode``):

- ``deny``: refuse every write and send (the default of non-interactive runs);
- ``allow-writes``: reversible writes run, sends are refused;
- ``allow``: everything runs (tests, and users who opt in explicitly);
- ``ask``: a person is asked, through the ``ask`` callback the REPL provides. A run with no one
  to ask (``morrow ask`` from cron) treats ``ask`` as ``deny``.

The gate records every decision, so the turn can report what was allowed and refused.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from tools.base import Effect

Mode = Literal["ask", "deny", "allow-writes", "allow"]


@dataclass(frozen=True)
class ApprovalRequest:
    """The exact action a tool call would take, as shown to the person approving it."""

    tool: str
    effect: Effect
    arguments: dict[str, Any]
    call_id: str

    def describe(self) -> str:
        """A plain rendering of the action: the tool, its effect and every argument in full."""
        lines = [f"{self.tool} ({self.effect})"]
        for key, value in self.arguments.items():
            shown = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
            lines.append(f"  {key}: {shown}")
        return "\n".join(lines)


@dataclass(frozen=True)
class Decision:
    """The answer for one request; ``reason`` is handed to the model when refused."""

    approved: bool
    reason: str = ""
    arguments: dict[str, Any] | None = None  # set when the person edited the action


AskCallback = Callable[[ApprovalRequest], Awaitable[Decision]]


@dataclass
class ApprovalGate:
    """Decides whether an effect may run, and remembers every decision of the run."""

    mode: Mode = "deny"
    ask: AskCallback | None = None
    decisions: list[tuple[ApprovalRequest, Decision]] = field(default_factory=list)

    async def decide(self, request: ApprovalRequest) -> Decision:
        """Approve or refuse one action according to the mode."""
        decision = await self._decide(request)
        self.decisions.append((request, decision))
        return decision

    async def _decide(self, request: ApprovalRequest) -> Decision:
        if request.effect == "read" or self.mode == "allow":
            return Decision(approved=True)
        if self.mode == "allow-writes" and request.effect == "write":
            return Decision(approved=True)
        if self.mode == "ask" and self.ask is not None:
            return await self.ask(request)
        return Decision(
            approved=False,
            reason=(
                f"not approved: {request.tool} has a {request.effect} effect and this run may "
                "not perform it without the user's approval. Tell the user what you would do "
                "instead of doing it."
            ),
        )
