"""``morrow ask TEXT``: one turn, non-interactive; the answer on stdout.

The turn runs in a stored session (``--session``, ``--new``); the answer streams to a terminal
and is held per step when piped, so a retried step never shows twice. Errors are raised as
:class:`~morrow.agent.errors.AssistantError` and printed by the CLI on one line.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from typing import Any, TextIO

from morrow.agent.app import App
from morrow.agent.loop import Limits, Observer, TurnResult, run_turn
from morrow.agent.messages import ToolCallPart


class _Printer(Observer):
    """Streams the answer to stdout; text of a step that restarts is taken back.

    A step restarts (a retry or a failover after text was streamed) before it completes. On a
    terminal, the step's text is shown live and erased on a restart (``(restarting…)`` goes to
    stderr). To a pipe or a file, each step's text is held until the step is complete, so the
    output never holds anything twice.
    """

    def __init__(
        self, out: TextIO | None = None, err: TextIO | None = None, *, live: bool | None = None
    ) -> None:
        self.out = out or sys.stdout
        self.err = err or sys.stderr
        self.live = self.out.isatty() if live is None else live
        self.wrote = False
        self._step: list[str] = []  # this step's text: shown (live) or held back (pipe)
        self._column = 0  # the cursor's column (live)
        self._origin = 0  # the column where this step's text began (live)

    def text(self, delta: str) -> None:
        if self.live:
            if not self._step:
                self._origin = self._column
            self._emit(delta)
        self._step.append(delta)

    def step_started(self, step: int) -> None:
        self.finish()

    def tool_started(self, call: ToolCallPart) -> None:
        self.finish()

    def step_restarted(self, step: int, provider: str, reason: str) -> None:
        if not "".join(self._step):
            return  # nothing was shown: the restart stays invisible
        if self.live:
            self.out.write(_erase("".join(self._step), self._origin))
            self.out.flush()
            self._column = self._origin
        self._step.clear()
        self.err.write(f"(restarting… {provider}: {reason.splitlines()[0][:200]})\n")
        self.err.flush()

    def finish(self) -> None:
        """The step's text is final: write what was held back."""
        if not self.live:
            self._emit("".join(self._step))
        self._step.clear()

    def _emit(self, text: str) -> None:
        if not text:
            return
        self.out.write(text)
        self.out.flush()
        self.wrote = True
        if self.live:
            _, self._column = _advance(text, self._column)


def _erase(text: str, origin: int) -> str:
    """ANSI codes that erase ``text``, written from column ``origin`` up to the cursor."""
    rows, _ = _advance(text, origin)
    up = f"\x1b[{rows}A" if rows else ""
    return f"{up}\x1b[{origin + 1}G\x1b[J"


def _advance(text: str, column: int) -> tuple[int, int]:
    """The rows down and the column the cursor reaches writing ``text`` from ``column``.

    Widths are terminal cells as rich measures them, per grapheme: 2 for wide characters
    (CJK, most emoji, a family joined by zero-width joiners), 0 for combining marks; the
    terminal wraps before a grapheme that does not fit in what is left of the line.
    """
    import shutil

    from rich.cells import split_graphemes

    width = max(1, shutil.get_terminal_size().columns)
    rows = 0
    for number, line in enumerate(text.split("\n")):
        if number:
            rows, column = rows + 1, 0
        for _, _, cells in split_graphemes(line)[0]:
            if cells and column + cells > width:
                rows, column = rows + 1, 0
            column += cells
    return rows, column


def run_ask(args: argparse.Namespace) -> int:
    """``morrow ask TEXT``: one turn; the answer on stdout (or JSON with ``--json``)."""
    printer = None if args.json else _Printer()
    with App.load(home=args.home, config=args.config) as app:
        result, session_id = asyncio.run(_ask(app, args, printer))
    if printer is not None:
        printer.finish()
    if args.json:
        payload = {**_result_json(result), "session": session_id}
        print(json.dumps(payload, ensure_ascii=False, indent=2))
    else:
        if printer is None or not printer.wrote:
            sys.stdout.write(result.answer)
        print()
        _explain_stop(result)
    return 0


async def _ask(
    app: App, args: argparse.Namespace, printer: _Printer | None
) -> tuple[TurnResult, str]:
    """Run the turn in its session, saved whatever the turn's outcome.

    ``--session ID`` continues (or creates) that session; ``--new`` starts one and prints its
    id on stderr; with neither, a fresh session is started and stored without a word (it is
    listed by ``morrow memory sessions`` and in ``--json`` output).
    """
    from morrow.agent.context.sessions import Session

    provider = app.provider(args.provider)
    recorder = app.recorder(args.record)
    try:
        session = Session.open(
            app, provider, session_id=args.session, new=args.new, provider_name=args.provider
        )
        if args.new:
            print(f"morrow: session {session.id}", file=sys.stderr)
        for number, line in enumerate(app.settle_effects()):
            print(f"morrow: {line}" if number == 0 else f"  {line}", file=sys.stderr)
        turn = session.begin(args.text)
        running = run_turn(
            session.history,
            args.text,
            provider=recorder.wrap(provider),
            tools=app.tools(),
            tool_context=turn.tools,
            gate=recorder.watch(app.gate(interactive=False)),
            system=app.system_prompt(session.prompt_facts(args.text)),
            limits=Limits(max_steps=app.config.agent.max_steps),
            observer=printer,
            stream=app.config.agent.stream and not args.no_stream,
            context=session.window,
        )
        try:
            return await session.run(turn, running), session.id
        finally:
            recorder.turn_done(session.history)
    finally:
        await provider.aclose()


def _explain_stop(result: TurnResult) -> None:
    if result.stop == "max_tokens":
        print("morrow: the answer was cut off at the output token limit", file=sys.stderr)
    elif result.stop == "refusal":
        print("morrow: the model declined to answer", file=sys.stderr)
    elif result.stop == "context_window_exceeded":
        print(
            "morrow: the answer was cut off: the model's context window is full "
            "(start a new session with --new)",
            file=sys.stderr,
        )


def _result_json(result: TurnResult) -> dict[str, Any]:
    return {
        "answer": result.answer,
        "stop": result.stop,
        "tool_calls": [
            {"name": c.name, "arguments": c.arguments, "is_error": c.is_error} for c in result.calls
        ],
        "usage": result.usage.model_dump(),
        "steps": result.steps,
        "provider": result.provider,
        "model": result.model,
    }
