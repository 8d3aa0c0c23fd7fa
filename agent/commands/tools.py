"""``morrow tools list`` and ``morrow tools call NAME``: the tools, and one run directly.

Both include the tools of the external MCP servers of ``[[mcp.servers]]``
(``time.get_current_time``); a server that does not start is one warning line, and the rest
is listed.

A direct call passes the same approval gate and effect journal as the loop's calls:
``--approve`` is the user's explicit approval of the exact action, printed on stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from typing import Any

from morrow.agent.app import App
from morrow.agent.errors import AssistantError, UsageError


def run_tools_list(args: argparse.Namespace) -> int:
    """``morrow tools list``: every tool, its effect and its description (or schemas as JSON)."""
    app = App.load(home=args.home, config=args.config)
    try:
        tools = list(app.tools())
    finally:
        app.close()  # the external MCP servers were needed for their listing only
    if args.json:
        listing = [
            {
                "name": t.name,
                "effect": t.effect,
                "description": t.description,
                "parameters": t.parameters,
                **({"mcp_server": server} if (server := getattr(t, "server", "")) else {}),
            }
            for t in tools
        ]
        print(json.dumps(listing, indent=2))
        return 0
    width = max(len(t.name) for t in tools)
    for t in tools:
        summary = t.description.split("\n")[0]
        print(f"{t.name:<{width}}  {t.effect:<5}  {summary}")
    return 0


def run_tools_call(args: argparse.Namespace) -> int:
    """``morrow tools call NAME --args JSON``: validate, gate and run one tool; print JSON."""
    app = App.load(home=args.home, config=args.config)
    try:
        return _call(app, args)
    finally:
        app.close()


def _call(app: App, args: argparse.Namespace) -> int:
    from morrow.tools.errors import ToolError, ToolRetry

    tool = app.tools().get(args.name)
    if tool is None:
        raise UsageError(f"unknown tool {args.name!r} (see `morrow tools list`)")
    try:
        raw = json.loads(args.args)
    except json.JSONDecodeError as exc:
        raise UsageError(f"--args is not valid JSON: {exc}") from None
    if not isinstance(raw, dict):
        raise UsageError("--args must be a JSON object")
    try:
        validated = tool.validate(raw)
    except ToolRetry as exc:
        raise UsageError(f"{args.name}: {exc}") from None
    try:
        output = asyncio.run(_call_through_gate(app, tool, validated, args))
    except (ToolError, ToolRetry) as exc:
        raise AssistantError(f"{args.name}: {exc}") from None
    try:
        print(json.dumps(json.loads(output), indent=2, ensure_ascii=False))
    except json.JSONDecodeError:  # an external MCP tool's text (labelled as untrusted)
        print(output)
    return 0


async def _read(app: App, tool: Any, validated: Any, call_id: str) -> str:
    """A tool that only reads; without a usable store it runs without one (``recall`` says why)."""
    from morrow.agent.errors import StoreError
    from morrow.tools.context import ToolContext
    from morrow.tools.errors import ToolError

    unusable: StoreError | None = None
    try:
        store = app.store()
    except StoreError as exc:  # a read-only home, a damaged file: the calendar and mail still read
        store, unusable = None, exc
    context = ToolContext(workspace=app.workspace(), store=store).for_call(call_id)
    try:
        result: str = await tool.run(context, validated)
    except ToolError as exc:
        if unusable is None:
            raise
        raise ToolError(f"{exc}: {unusable}") from None
    return result


async def _call_through_gate(app: App, tool: Any, validated: Any, args: argparse.Namespace) -> str:
    """One tool call through the approval gate and the effect journal, like the loop's.

    ``--approve`` is the user's explicit approval of exactly this action (shown on stderr);
    without it an effect is refused. The ``--args`` JSON counts as the user's own words.
    """
    import uuid

    from morrow.agent.messages import Message
    from morrow.agent.safety.gate import ApprovalGate, ApprovalRequest, Decision

    call_id = f"cli-{uuid.uuid4().hex[:12]}"
    if tool.effect_for(validated) == "read":  # a read needs no journal: also without a store
        return await _read(app, tool, validated, call_id)
    context = app.tool_context().for_call(call_id)  # no session: nothing can be remembered

    async def approved(request: ApprovalRequest) -> Decision:
        return Decision(approved=True, reason="approved on the command line (--approve)")

    ask = approved if args.approve else None
    gate = ApprovalGate(mode="ask" if args.approve else "deny", ask=ask, journal=app.journal())
    request = await gate.review(tool, validated, context, history=[Message.user(args.args)])
    decision = await gate.decide(request)
    if not decision.approved:
        raise AssistantError(
            f"{args.name} has a {request.effect} effect; nothing was done (add --approve to "
            f"allow it). The action:\n{request.describe()}"
        )
    print(f"morrow: approved (--approve):\n{request.describe()}", file=sys.stderr)
    return await gate.run(tool, validated, context)
