"""What `ask` prints when a step restarts: the discarded text never stays in the output."""

from __future__ import annotations

import asyncio
import io

from rich.console import Console
from support.screen import shown
from support.turns import bare_context

from morrow.agent.chat.view import LiveView
from morrow.agent.commands.ask import _Printer, _Terminal
from morrow.agent.errors import ProviderUnavailable
from morrow.agent.loop import run_turn
from morrow.agent.messages import Message
from morrow.agent.providers.resilience import FallbackProvider, RetryingProvider, RetryPolicy
from morrow.agent.providers.scripted import BrokenStream, ScriptedProvider, text
from morrow.agent.safety.gate import ApprovalGate
from morrow.tools.base import ToolRegistry


def restarting() -> FallbackProvider:
    """A primary whose stream is cut after half an answer, and a backup that gives all of it."""
    cut = ProviderUnavailable("connection lost", provider="primary")
    primary = ScriptedProvider([BrokenStream("Tomorrow you have", cut)], name="primary")
    backup = ScriptedProvider([text("Tomorrow you have one meeting.")], name="backup")
    once = RetryPolicy(max_attempts=1)
    return FallbackProvider([RetryingProvider(primary, once), RetryingProvider(backup, once)])


def ask(printer: _Printer | _Terminal) -> None:
    history: list[Message] = []
    asyncio.run(
        run_turn(
            history,
            "tomorrow?",
            provider=restarting(),
            tools=ToolRegistry([]),
            tool_context=bare_context(),
            gate=ApprovalGate(mode="deny"),
            system="",
            observer=printer,
        )
    )
    if isinstance(printer, _Printer):
        printer.finish()
    else:
        printer.view.pause()
    assert [m.text for m in history] == ["tomorrow?", "Tomorrow you have one meeting."]


def test_to_a_pipe_only_the_final_text_is_written() -> None:
    out, err = io.StringIO(), io.StringIO()
    ask(_Printer(out, err))
    assert out.getvalue() == "Tomorrow you have one meeting."
    assert err.getvalue() == "(restarting… backup: primary: connection lost)\n"


def test_on_a_terminal_the_partial_text_is_gone_from_the_screen() -> None:
    out = io.StringIO()
    console = Console(file=out, force_terminal=True, width=60, color_system=None)
    ask(_Terminal(LiveView(console)))
    screen = shown(out.getvalue(), columns=60)
    assert screen.count("Tomorrow you have") == 1
    assert "Tomorrow you have one meeting." in screen
    assert "the answer starts over on backup" in screen


def test_a_restart_before_any_text_is_silent() -> None:
    out, err = io.StringIO(), io.StringIO()
    printer = _Printer(out, err)
    printer.step_restarted(1, "backup", "primary: overloaded")
    assert out.getvalue() == err.getvalue() == ""
