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
from typing import TYPE_CHECKING, TextIO

from agent.app import App
from agent.approvals import ApprovalRequest, Decision
from agent.commands import open_recorder
from agent.context import Compaction
from agent.errors import AssistantError
from agent.loop import Limits, Observer, run_turn
from agent.messages import ToolCallPart, ToolResultPart
from agent.sessions import Session, open_store

if TYPE_CHECKING:
    from memory.store import Store


class _Terminal(Observer):
    def __init__(self, out: TextIO) -> None:
        self.out = out

    def text(self, delta: str) -> None:
        self.out.write(delta)
        self.out.flush()

    def step_restarted(self, step: int, provider: str, reason: str) -> None:
        # a line terminal cannot take back what it printed: say plainly that it starts over
        self.out.write(f"\n  · restarting on {provider} ({reason.splitlines()[0][:120]}):\n")
        self.out.flush()

    def tool_finished(self, call: ToolCallPart, result: ToolResultPart, seconds: float) -> None:
        args = json.dumps(call.arguments, ensure_ascii=False)
        if len(args) > 80:
            args = args[:77] + "..."
        status = "error" if result.is_error else "ok"
        self.out.write(f"\n  · {call.name} {args} ({seconds * 1000:.0f} ms, {status})\n")

    def compacted(self, compaction: Compaction) -> None:
        by = compaction.summarized_by or "a summary made without a model"
        self.out.write(
            f"\n  · {compaction.folded_turns} earlier turns folded into a summary ({by}; "
            f"~{compaction.tokens_before} -> ~{compaction.tokens_after} tokens)\n"
        )


def run_chat(args: argparse.Namespace) -> int:
    """Run the REPL until the user leaves."""
    app = App.load(home=args.home, config=args.config)
    return asyncio.run(
        chat(
            app,
            args.provider,
            sys.stdin,
            sys.stdout,
            session_id=args.session,
            new=args.new,
            record=args.record,
        )
    )


async def chat(
    app: App,
    provider_name: str | None,
    stdin: TextIO,
    out: TextIO,
    *,
    session_id: str | None = None,
    new: bool = False,
    record: str | None = None,
) -> int:
    """The REPL over the given streams (tests pass their own).

    ``session_id`` continues that session (created when missing); otherwise, or with ``new``,
    a new session starts. Each turn is saved when it ends, also when it is cancelled.
    """
    provider = app.provider(provider_name)
    recorder = open_recorder(record, app)  # --record FILE: a trajectory of the session
    store: Store | None = None
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
    try:
        store = open_store(app)
        session = Session.open(
            app,
            store,
            provider,
            session_id=session_id,
            new=new,
            provider_name=provider_name,
            on_compaction=terminal.compacted,
        )
        out.write("morrow: ask me about your calendar and email. Ctrl-D or /exit to leave.\n")
        out.write(_session_line(session))
        while True:
            out.write("\n> ")
            out.flush()
            line = await asyncio.to_thread(stdin.readline)
            if not line or line.strip() in ("/exit", "/quit"):
                break
            if not line.strip():
                continue
            text = line.strip()
            run = run_turn(
                session.history,
                text,
                provider=recorder.wrap(provider),
                tools=app.tools(),
                workspace=app.workspace(),
                gate=recorder.watch(app.gate(interactive=True, ask=ask)),
                system=app.system_prompt(session.prompt_facts(text)),
                limits=Limits(max_steps=app.config.agent.max_steps),
                observer=terminal,
                stream=app.config.agent.stream,
                context=session.window,
            )
            turn = asyncio.ensure_future(session.run(text, run))
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
                recorder.turn_done(session.history)
    finally:
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.remove_signal_handler(signal.SIGINT)
        if store is not None:
            store.close()
        await provider.aclose()
    return 0


def _session_line(session: Session) -> str:
    if session.created:
        return f"(new session {session.id}; continue it later with --session {session.id})\n"
    turns = session.info.turns
    return f"(session {session.id} resumed: {turns} earlier turn{'s' * (turns != 1)})\n"
