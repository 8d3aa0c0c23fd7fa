"""``morrow chat`` (and bare ``morrow``): the REPL.

Input comes from prompt_toolkit on a terminal (history, completion of slash commands,
Esc-Enter or a trailing backslash for a line break; :mod:`morrow.agent.chat.input`) or from plain
lines on a pipe. Output is rich: the answer streamed as Markdown, one dim line per tool call
(:mod:`morrow.agent.chat.view`), approvals showing the exact action
(:mod:`morrow.agent.chat.approval`). Slash commands are in :mod:`morrow.agent.chat.slash`.

Ctrl-C during a turn cancels that turn: the loop gives every pending tool call a result, the
session stores the turn as far as it got with status ``cancelled`` (``agent/sessions.py``), and
the prompt comes back. Ctrl-C at the prompt clears the line; Ctrl-D or ``/exit`` leaves.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
from contextlib import nullcontext
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TextIO

from prompt_toolkit.input import Input
from prompt_toolkit.output import Output
from rich.console import Console

from morrow.agent.app import App
from morrow.agent.chat.approval import Approver
from morrow.agent.chat.input import (
    PromptReader,
    Reader,
    SlashCompleter,
    StreamReader,
    quiet_terminal,
)
from morrow.agent.chat.slash import COMMANDS, Spent, dispatch
from morrow.agent.chat.view import LiveView
from morrow.agent.context.sessions import Session
from morrow.agent.errors import AssistantError
from morrow.agent.loop import Limits, TurnResult, run_turn
from morrow.agent.providers.resilience import reporting_waits
from morrow.agent.safety.undo import Undoer, UndoLog

if TYPE_CHECKING:
    from morrow.agent.providers.base import Provider
    from morrow.memory.store import Store


def run_chat(args: argparse.Namespace) -> int:
    """Run the REPL until the user leaves."""
    from morrow.agent.context.sessions import require_session

    interactive = sys.stdin.isatty() and sys.stdout.isatty()
    if not interactive and hasattr(sys.stdin, "reconfigure"):
        sys.stdin.reconfigure(errors="surrogateescape")  # a bad line is refused, not a crash
    with App.load(home=args.home, config=args.config) as app:
        require_session(app, args.session, new=args.new)
        return asyncio.run(
            chat(
                app,
                args.provider,
                None if interactive else sys.stdin,
                sys.stdout,
                session_id=args.session,
                new=args.new,
                record=args.record,
            )
        )


@dataclass
class Repl:
    """The state of one chat: the session, the provider, the screen and the input."""

    app: App
    store: Store
    session: Session
    provider: Provider
    provider_name: str | None
    reader: Reader
    view: LiveView
    recorder: Any
    spent: Spent = field(default_factory=Spent)
    notes: list[str] = field(default_factory=list)  # told to the model on the next turns
    always: set[str] = field(default_factory=set)  # tools approved for the rest of the chat
    turn: asyncio.Future[TurnResult] | None = None

    @property
    def undoer(self) -> Undoer:
        """Undo over this session (what it has undone is kept in the store)."""
        log = UndoLog(self.store, self.session.id)
        return Undoer(self.session.tools, self.app.tools(), log)

    def open_session(self, session_id: str | None, *, new: bool) -> None:
        """Switch to another session (``/new``, ``/resume``)."""
        self.session = Session.open(
            self.app,
            self.provider,
            session_id=session_id,
            new=new,
            provider_name=self.provider_name,
            on_compaction=self.view.compacted,
        )
        _meter_session(self.provider, self.session.id)
        self.notes.clear()

    async def use_provider(self, name: str | None) -> None:
        """Switch the provider (``/model``); the old one is closed."""
        provider = self.app.provider(name)
        old, self.provider, self.provider_name = self.provider, provider, name
        _meter_session(provider, self.session.id)
        from morrow.agent.context.sessions import budget_for

        window = self.session.window
        window.budget = budget_for(self.app, name)
        if window.summarizer is not None:
            window.summarizer = provider
        if old is not provider:
            await old.aclose()

    def cancel_turn(self) -> None:
        """Ctrl-C: cancel the turn under way, if any."""
        if self.turn is not None and not self.turn.done():
            self.turn.cancel()

    async def run_turn(self, text: str) -> None:
        """One turn: the model, its tools and approvals; saved however it ends."""
        app = self.app
        approver = Approver(
            self.reader, self.view, app.workspace(), app.tools(), self.cancel_turn, self.always
        )
        gate = self.recorder.watch(app.gate(interactive=True, ask=approver))
        system = app.system_prompt(self.session.prompt_facts(text))
        if self.notes:
            system += "\n\nSince earlier turns, the user changed things directly:\n" + "\n".join(
                f"- {note}" for note in self.notes
            )
        turn = self.session.begin(text)
        run = run_turn(
            self.session.history,
            text,
            provider=self.recorder.wrap(self.provider),
            tools=app.tools(),
            tool_context=turn.tools,
            gate=gate,
            system=system,
            limits=Limits(max_steps=app.config.agent.max_steps),
            observer=self.view,
            stream=app.config.agent.stream,
            context=self.session.window,
        )
        self.turn = asyncio.ensure_future(self.session.run(turn, run))
        try:
            with quiet_terminal() if isinstance(self.reader, PromptReader) else nullcontext():
                result = await self.turn
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if current is not None and current.cancelling():
                raise  # the chat itself is being stopped
            self.view.pause()
            self.view.note("(cancelled; the turn is kept as far as it got)")
            return
        except AssistantError as error:
            self.view.pause()
            self.view.note(f"morrow: {error}", style="red")
            return
        finally:
            self.turn = None
            self.recorder.turn_done(self.session.history)
        self.view.pause()
        self._count(result)

    def _count(self, result: TurnResult) -> None:
        from morrow.agent.providers.prices import PriceTable

        usd = PriceTable.for_config(self.app.config).turn_cost(result.usage_by_model)
        self.spent.turns += 1
        self.spent.tokens += result.usage.total_tokens
        self.spent.usd += usd
        self.spent.last, self.spent.last_usd = result, usd
        if result.stop == "max_tokens":
            self.view.note("(the answer was cut off at the output token limit)")
        elif result.stop == "refusal":
            self.view.note("(the model declined to answer)")
        elif result.stop == "context_window_exceeded":
            self.view.note("(the answer was cut off: the context window is full; /new starts over)")


async def chat(
    app: App,
    provider_name: str | None,
    stdin: TextIO | Input | None,
    out: TextIO,
    *,
    session_id: str | None = None,
    new: bool = False,
    record: str | None = None,
    output: Output | None = None,
) -> int:
    """The REPL.

    Args:
        app: the user's setup.
        provider_name: ``--provider NAME``, or None for the configured chain.
        stdin: a text stream (plain lines), a prompt_toolkit input (tests pass a pipe input),
            or None for the terminal through prompt_toolkit.
        out: where the chat writes (a rich console over it).
        session_id: continue (or create) this session; otherwise, or with ``new``, a new one.
        new: start a new session.
        record: ``--record FILE``: a trajectory of the session.
        output: prompt_toolkit's output with a prompt_toolkit ``stdin`` (tests: DummyOutput).
    """
    provider = app.provider(provider_name)
    recorder = app.recorder(record)
    console = Console(file=out, highlight=False)
    view = LiveView(console)
    loop = asyncio.get_running_loop()
    repl: Repl | None = None
    try:
        session = Session.open(
            app,
            provider,
            session_id=session_id,
            new=new,
            provider_name=provider_name,
            on_compaction=view.compacted,
        )
        _meter_session(provider, session.id)
        holder: list[Repl] = []
        reader = _reader(app, stdin, out, output, holder)
        repl = Repl(app, app.store(), session, provider, provider_name, reader, view, recorder)
        holder.append(repl)
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(signal.SIGINT, repl.cancel_turn)
        view.note(
            "morrow: ask me about your calendar and email. /help lists the commands, "
            "Ctrl-D leaves.",
            style="",
        )
        view.note(_session_line(session), style="")
        _show_saved_turns(view, session)
        for line in app.settle_effects():
            view.note(line, style="yellow")
        with reporting_waits(view.waiting):
            await _loop(repl)
    finally:
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.remove_signal_handler(signal.SIGINT)
        await (repl.provider if repl is not None else provider).aclose()
    return 0


async def _loop(repl: Repl) -> None:
    while True:
        try:
            text = await repl.reader.line("> ")
        except KeyboardInterrupt:
            continue  # Ctrl-C at the prompt drops the line
        if text is None:
            break
        text = text.strip()
        if not text:
            continue
        if text.startswith("/"):
            if await dispatch(repl, text) == "exit":
                break
            continue
        await repl.run_turn(text)


def _reader(
    app: App, stdin: TextIO | Input | None, out: TextIO, output: Output | None, holder: list[Repl]
) -> Reader:
    if stdin is not None and not isinstance(stdin, Input):
        return StreamReader(stdin, out)

    def sessions() -> list[str]:
        return [s.id for s in holder[0].store.sessions()[:30]] if holder else []

    completer = SlashCompleter(
        {name: command.help for name, command in COMMANDS.items()},
        {"/resume": sessions, "/model": lambda: [p.name for p in app.config.providers]},
    )
    history = app.paths.home / "state" / "chat-history"
    return PromptReader(history, completer, input=stdin, output=output)


def _meter_session(provider: Provider, session_id: str) -> None:
    """Usage of this provider is recorded in the ledger under the session's id."""
    if hasattr(provider, "session"):
        provider.session = session_id


def _show_saved_turns(view: LiveView, session: Session, limit: int = 3) -> None:
    """A resumed session shows where it stopped: its last saved turns, as they were."""
    for user, answer in session.recent_turns(limit):
        view.note(f"> {_one_line(user)}", style="dim")
        view.note(f"  {_one_line(answer) or '(no answer was saved)'}", style="dim")


def _one_line(text: str, width: int = 200) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"


def _session_line(session: Session) -> str:
    if session.created:
        return f"(new session {session.id}; continue it later with --session {session.id})"
    turns = session.info.turns
    return f"(session {session.id} resumed: {turns} earlier turn{'s' * (turns != 1)})"
