"""``morrow chat``: a line-oriented REPL over the loop.

This first version reads lines with ``input()``, streams answers, shows each tool call on one
line and asks before any effect. Ctrl-C during a turn cancels that turn (the history stays
valid: the loop answers every pending call); Ctrl-D or ``/exit`` leaves. The REPL issue replaces
the input side with prompt_toolkit and the output with rich.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import signal
import sys
from typing import TextIO

from agent.app import App
from agent.approvals import ApprovalRequest, Decision
from agent.errors import AssistantError
from agent.loop import Limits, Observer, run_turn
from agent.messages import Message, ToolCallPart, ToolResultPart


class _Terminal(Observer):
    def __init__(self, out: TextIO) -> None:
        self.out = out

    def text(self, delta: str) -> None:
        self.out.write(delta)
        self.out.flush()

    def tool_finished(self, call: ToolCallPart, result: ToolResultPart, seconds: float) -> None:
        args = json.dumps(call.arguments, ensure_ascii=False)
        if len(args) > 80:
            args = args[:77] + "..."
        status = "error" if result.is_error else "ok"
        self.out.write(f"\n  · {call.name} {args} ({seconds * 1000:.0f} ms, {status})\n")


def run_chat(args: argparse.Namespace) -> int:
    """Run the REPL until the user leaves."""
    app = App.load(home=args.home, config=args.config)
    return asyncio.run(chat(app, args.provider, sys.stdin, sys.stdout))


async def chat(app: App, provider_name: str | None, stdin: TextIO, out: TextIO) -> int:
    """The REPL over the given streams (tests pass their own)."""
    provider = app.provider(provider_name)
    history: list[Message] = []
    terminal = _Terminal(out)

    async def ask(request: ApprovalRequest) -> Decision:
        out.write(f"\nmorrow wants to do this:\n{request.describe()}\nAllow? [y/N] ")
        out.flush()
        answer = await asyncio.to_thread(stdin.readline)
        approved = answer.strip().lower() in ("y", "yes")
        return Decision(approved=approved, reason="" if approved else "the user said no")

    current: list[asyncio.Task[object]] = []

    def interrupt() -> None:
        for task in current:
            task.cancel()

    loop = asyncio.get_running_loop()
    with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
        loop.add_signal_handler(signal.SIGINT, interrupt)
    out.write("morrow: ask me about your calendar and email. Ctrl-D or /exit to leave.\n")
    try:
        while True:
            out.write("\n> ")
            out.flush()
            line = await asyncio.to_thread(stdin.readline)
            if not line or line.strip() in ("/exit", "/quit"):
                break
            if not line.strip():
                continue
            turn = asyncio.ensure_future(
                run_turn(
                    history,
                    line.strip(),
                    provider=provider,
                    tools=app.tools(),
                    workspace=app.workspace(),
                    gate=app.gate(interactive=True, ask=ask),
                    system=app.system_prompt(),
                    limits=Limits(max_steps=app.config.agent.max_steps),
                    observer=terminal,
                    stream=app.config.agent.stream,
                )
            )
            current[:] = [turn]
            try:
                await turn
                out.write("\n")
            except asyncio.CancelledError:
                out.write("\n(cancelled)\n")
            except AssistantError as error:
                out.write(f"\nmorrow: {error}\n")
            finally:
                current.clear()
    finally:
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.remove_signal_handler(signal.SIGINT)
        await provider.aclose()
    return 0
