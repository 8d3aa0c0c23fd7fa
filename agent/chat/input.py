"""What the chat reads: prompt_toolkit on a terminal, plain lines from a pipe.

:class:`PromptReader` is the interactive one: a history file under the home (mode 0600: it
holds what the user typed), completion of slash commands (and of their arguments: session ids
for ``/resume``, provider names for ``/model``), and multi-line input: Esc-Enter inserts a
line break, and so does Enter after a trailing backslash. Ctrl-C at the prompt clears the line
(``KeyboardInterrupt``), Ctrl-D leaves (``None``). Tests drive it through prompt_toolkit's pipe
input.

:class:`StreamReader` reads lines from any text stream (``morrow chat < script``, and tests
that pass a ``StringIO``); a trailing backslash continues the line there too. A line that is
not valid UTF-8 (read with ``surrogateescape``) is refused with one line on stderr and the
chat goes on with the next.

Editing an action before it runs (the approval's "edit") opens ``$VISUAL`` or ``$EDITOR`` on
a private temporary file when one is set; otherwise the text is edited inline (prompt_toolkit's
multi-line editor, or replacement lines ended by a lone ``.`` on a stream).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shlex
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, Protocol, TextIO

# This module is imported by the chat only (never by `morrow --help` or the briefing).
from prompt_toolkit import PromptSession
from prompt_toolkit.completion import CompleteEvent, Completer, Completion
from prompt_toolkit.document import Document
from prompt_toolkit.history import FileHistory
from prompt_toolkit.input import Input
from prompt_toolkit.key_binding import KeyBindings, KeyPressEvent
from prompt_toolkit.output import Output


class Reader(Protocol):
    """Where the chat's input comes from."""

    async def line(self, prompt: str) -> str | None:
        """One message (maybe several lines); None when the user leaves (Ctrl-D, end of input).

        Raises:
            KeyboardInterrupt: Ctrl-C at the prompt (the line is dropped).
        """
        ...

    async def answer(self, prompt: str) -> str | None:
        """A short answer on one line (no history); None at the end of input."""
        ...

    async def edit(self, text: str) -> str | None:
        """``text`` edited by the user; None when the edit was abandoned."""
        ...


class StreamReader:
    """Lines from a text stream; the prompt is written to ``out``, refusals to ``err``."""

    def __init__(self, stream: TextIO, out: TextIO, err: TextIO | None = None) -> None:
        self.stream = stream
        self.out = out
        self.err = err
        self.number = 0  # lines read

    async def _readline(self, prompt: str) -> str | None:
        self.out.write(prompt)
        self.out.flush()
        while True:
            line = await asyncio.to_thread(self.stream.readline)
            if not line:
                return None
            self.number += 1
            if _is_text(line):
                return line.removesuffix("\n")
            bad = line.encode("utf-8", "surrogateescape")
            shown = bad[:60].decode("utf-8", "backslashreplace")
            err = self.err or sys.stderr
            err.write(f"morrow: line {self.number} is not valid UTF-8, skipped: {shown}\n")
            err.flush()

    async def line(self, prompt: str) -> str | None:
        """A line; a trailing backslash joins the next one with a line break."""
        parts: list[str] = []
        while True:
            line = await self._readline(prompt if not parts else "... ")
            if line is None:
                return "\n".join(parts) if parts else None
            if line.endswith("\\"):
                parts.append(line[:-1])
                continue
            parts.append(line)
            return "\n".join(parts)

    async def answer(self, prompt: str) -> str | None:
        """One line."""
        return await self._readline(prompt)

    async def edit(self, text: str) -> str | None:
        """$EDITOR when set; else replacement lines up to a lone ``.`` (empty: abandon)."""
        if editor_command() is not None:
            return await edit_in_editor(text)
        self.out.write(f"{text}\n-- type the new text, end with a line holding only '.':\n")
        lines: list[str] = []
        while (line := await self._readline("")) is not None and line != ".":
            lines.append(line)
        return "\n".join(lines) if lines else None


def _is_text(line: str) -> bool:
    try:
        line.encode("utf-8")
    except UnicodeEncodeError:  # bytes that were not UTF-8, kept as lone surrogates
        return False
    return True


class SlashCompleter(Completer):
    """Completes ``/commands`` at the start of the input, and some of their arguments.

    Args:
        commands: the command names with a one-line help each.
        arguments: for a command, a function returning the values its argument can take.
    """

    def __init__(
        self,
        commands: dict[str, str],
        arguments: dict[str, Callable[[], Iterable[str]]] | None = None,
    ) -> None:
        self.commands = commands
        self.arguments = arguments or {}

    def get_completions(
        self, document: Document, complete_event: CompleteEvent
    ) -> Iterable[Completion]:
        """Completions for the text before the cursor."""
        text = document.text_before_cursor
        if not text.startswith("/") or "\n" in text:
            return
        command, space, rest = text.partition(" ")
        if not space:
            for name, help_text in self.commands.items():
                if name.startswith(command):
                    yield Completion(name, -len(command), display_meta=help_text)
            return
        values = self.arguments.get(command)
        for value in values() if values else ():
            if value.startswith(rest) and " " not in rest:
                yield Completion(value, -len(rest))


def _bindings() -> KeyBindings:
    keys = KeyBindings()

    @keys.add("enter")
    def _enter(event: KeyPressEvent) -> None:
        buffer = event.current_buffer
        if buffer.document.text_before_cursor.endswith("\\"):
            buffer.delete_before_cursor(1)
            buffer.insert_text("\n")
        else:
            buffer.validate_and_handle()

    @keys.add("escape", "enter")
    def _newline(event: KeyPressEvent) -> None:
        event.current_buffer.insert_text("\n")

    return keys


class PromptReader:
    """prompt_toolkit input: history, completion, multi-line.

    Args:
        history: the history file (created 0600 when missing).
        completer: completes slash commands.
        input: prompt_toolkit input (tests: a pipe input); default the terminal.
        output: prompt_toolkit output (tests: DummyOutput); default the terminal.
    """

    def __init__(
        self,
        history: Path,
        completer: SlashCompleter,
        *,
        input: Input | None = None,
        output: Output | None = None,
    ) -> None:
        _private_file(history)
        self._io: dict[str, Any] = {"input": input, "output": output}
        self.session: PromptSession[str] = PromptSession(
            history=FileHistory(str(history)),
            completer=completer,
            complete_while_typing=True,
            multiline=True,
            key_bindings=_bindings(),
            input=input,
            output=output,
        )

    async def line(self, prompt: str) -> str | None:
        """One message; Esc-Enter or a trailing backslash for a line break."""
        try:
            return await self.session.prompt_async(prompt, handle_sigint=False)
        except EOFError:
            return None

    async def answer(self, prompt: str) -> str | None:
        """One line, no history."""
        session: PromptSession[str] = PromptSession(**self._io)
        try:
            return await session.prompt_async(prompt, handle_sigint=False)
        except EOFError:
            return None

    async def edit(self, text: str) -> str | None:
        """$EDITOR when set; else the text in a multi-line editor (Esc-Enter to finish)."""
        if editor_command() is not None:
            return await edit_in_editor(text)
        session: PromptSession[str] = PromptSession(multiline=True, **self._io)
        try:
            return await session.prompt_async(
                "edit (Esc-Enter to finish, Ctrl-C to give up)\n",
                default=text,
                handle_sigint=False,
            )
        except (EOFError, KeyboardInterrupt):
            return None


@contextlib.contextmanager
def quiet_terminal(stream: TextIO | None = None) -> Iterator[None]:
    """While a turn runs, the terminal does not echo keys (Ctrl-C included) over the answer.

    The live answer fills its lines to the terminal's width; the ``^C`` a terminal echoes when
    Ctrl-C is pressed at the end of such a line wraps it, and the redraw then lands one row
    down: the answer showed twice. Typed-ahead keys would break the drawing the same way.
    Ctrl-C still interrupts (signals stay on); the terminal is restored however the turn
    ends. Nothing happens when ``stream`` is not a terminal.
    """
    stream = stream or sys.stdin
    try:
        import termios

        descriptor = stream.fileno()
        saved = termios.tcgetattr(descriptor)
    except (ImportError, AttributeError, ValueError, OSError):  # not a terminal
        yield
        return
    quiet = list(saved)
    quiet[3] &= ~(termios.ECHO | termios.ECHOCTL)
    termios.tcsetattr(descriptor, termios.TCSANOW, quiet)
    try:
        yield
    finally:
        termios.tcsetattr(descriptor, termios.TCSANOW, saved)


def editor_command() -> list[str] | None:
    """The user's editor (``$VISUAL``, else ``$EDITOR``) as an argument list, if set."""
    value = os.environ.get("VISUAL") or os.environ.get("EDITOR")
    return shlex.split(value) if value and value.strip() else None


async def edit_in_editor(text: str) -> str | None:
    """Run the editor on a private temporary file holding ``text``; the text saved.

    Returns None when the editor fails (a non-zero exit) or cannot be started.
    """
    command = editor_command()
    assert command is not None
    return await asyncio.to_thread(_run_editor, command, text)


def _run_editor(command: list[str], text: str) -> str | None:
    handle, name = tempfile.mkstemp(prefix="morrow-edit-", suffix=".txt")  # mode 0600
    path = Path(name)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as file:
            file.write(text)
        try:
            done = subprocess.run([*command, str(path)], check=False)
        except OSError:
            return None
        return path.read_text(encoding="utf-8") if done.returncode == 0 else None
    finally:
        path.unlink(missing_ok=True)


def _private_file(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600))
