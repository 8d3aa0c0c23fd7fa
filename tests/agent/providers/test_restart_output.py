"""What `ask` prints when a step restarts: the discarded text never stays in the output."""

from __future__ import annotations

import asyncio
import io

import pytest
from support.turns import bare_context

from morrow.agent.commands.ask import _erase, _Printer
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


def ask(printer: _Printer) -> None:
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
    printer.finish()
    assert [m.text for m in history] == ["tomorrow?", "Tomorrow you have one meeting."]


def test_to_a_pipe_only_the_final_text_is_written() -> None:
    out, err = io.StringIO(), io.StringIO()
    ask(_Printer(out, err, live=False))
    assert out.getvalue() == "Tomorrow you have one meeting."
    assert err.getvalue() == "(restarting… backup: primary: connection lost)\n"


def test_on_a_terminal_the_partial_text_is_erased() -> None:
    out, err = io.StringIO(), io.StringIO()
    ask(_Printer(out, err, live=True))
    erase = "\x1b[1G\x1b[J"  # back to the column the step began in, clear to the end
    assert out.getvalue() == "Tomorrow you have" + erase + "Tomorrow you have one meeting."
    assert "restarting" in err.getvalue()


def test_erasing_counts_wrapped_and_broken_lines() -> None:
    import os

    os.environ["COLUMNS"] = "10"
    try:
        # 4 characters after column 3, then a newline, then 25 characters (wraps twice)
        assert _erase("abcd\n" + "x" * 25, 3) == "\x1b[3A\x1b[4G\x1b[J"
        assert _erase("short", 0) == "\x1b[1G\x1b[J"
    finally:
        del os.environ["COLUMNS"]


def test_a_restart_before_any_text_is_silent() -> None:
    out, err = io.StringIO(), io.StringIO()
    printer = _Printer(out, err, live=True)
    printer.step_restarted(1, "backup", "primary: overloaded")
    assert out.getvalue() == err.getvalue() == ""


@pytest.mark.parametrize(
    ("text", "origin", "erase"),
    [
        ("日本語のテキスト", 0, "\x1b[1A\x1b[1G\x1b[J"),  # 16 cells in 10 columns: one wrap
        ("日本語のテキスト", 4, "\x1b[1A\x1b[5G\x1b[J"),  # 3 fit, then 5 fill the next row
        ("日本語のテキスト!", 4, "\x1b[2A\x1b[5G\x1b[J"),  # and one more wraps again
        ("x日", 8, "\x1b[1A\x1b[9G\x1b[J"),  # a wide character does not fit in the last column
        ("e\u0301" * 10, 0, "\x1b[1G\x1b[J"),  # combining accents take no cell
        ("👨\u200d👩\u200d👧" * 5, 0, "\x1b[1G\x1b[J"),  # one family is one wide grapheme
        ("👍" * 6, 0, "\x1b[1A\x1b[1G\x1b[J"),
    ],
)
def test_erasing_counts_terminal_cells_not_characters(monkeypatch, text, origin, erase) -> None:
    monkeypatch.setenv("COLUMNS", "10")
    assert _erase(text, origin) == erase


def test_the_printer_tracks_its_column_in_cells(monkeypatch) -> None:
    monkeypatch.setenv("COLUMNS", "10")
    out, err = io.StringIO(), io.StringIO()
    printer = _Printer(out, err, live=True)
    printer.text("日本")  # 4 cells
    printer.finish()
    printer.step_started(2)
    printer.text("語のテ")  # from column 4: 6 cells, up to the margin
    printer.step_restarted(2, "backup", "primary: overloaded")
    assert out.getvalue() == "日本語のテ\x1b[5G\x1b[J"
