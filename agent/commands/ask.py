"""``morrow ask TEXT``: one turn, non-interactive; the answer on stdout.

Like ``llm``: text piped on stdin is added below the question (``cat notes.txt | morrow ask
"summarize"``), and ``ask -`` (or no TEXT) takes the question from stdin; ``-m/--model``
picks a configured provider by name or model, or another model of the first provider. The
turn runs in a stored session (``--session``, ``--new``).

On a terminal the answer streams as Markdown (the chat's view, with its spinner while the model
is silent); to a pipe or a file it is plain text, each step held until it is complete, so a
retried step never shows twice.

Nobody can approve anything here: effects are refused unless ``[approvals] mode`` allows them.
Every change the model tried that was refused or failed is named on stderr (``morrow: not
done: create_event title=Dentist ... (needs approval: ...)``) and in ``--json``
(``not_done``), and the exit code is 3, so a model that says "Booked" cannot hide that
nothing was booked. Errors are raised as :class:`~morrow.agent.errors.AssistantError` and
printed by the CLI on one line.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import stat
import sys
from dataclasses import dataclass
from typing import Any, TextIO

from morrow.agent.app import App
from morrow.agent.errors import UsageError
from morrow.agent.loop import Limits, Observer, TurnResult, run_turn
from morrow.agent.messages import ToolCallPart, ToolResultPart
from morrow.agent.safety.gate import ApprovalGate
from morrow.tools.base import ToolRegistry
from morrow.tools.errors import ToolRetry

NOT_DONE_EXIT = 3
"""The exit code of ``ask`` when a change the model tried was refused or failed."""


class _Printer(Observer):
    """Writes the answer to a pipe or a file: each step's text once it is complete.

    A step that restarts (a retry or a failover after text was streamed) drops what it held,
    and ``(restarting… provider: reason)`` goes to stderr; the output never holds anything
    twice.
    """

    def __init__(self, out: TextIO | None = None, err: TextIO | None = None) -> None:
        self.out = out or sys.stdout
        self.err = err or sys.stderr
        self.wrote = False
        self._step: list[str] = []  # this step's text, held back

    def text(self, delta: str) -> None:
        self._step.append(delta)

    def step_started(self, step: int) -> None:
        self.finish()

    def tool_started(self, call: ToolCallPart) -> None:
        self.finish()

    def step_restarted(self, step: int, provider: str, reason: str) -> None:
        if not "".join(self._step):
            return  # nothing was held: the restart stays invisible
        self._step.clear()
        self.err.write(f"(restarting… {provider}: {reason.splitlines()[0][:200]})\n")
        self.err.flush()

    def finish(self) -> None:
        """The step's text is final: write what was held back."""
        text = "".join(self._step)
        self._step.clear()
        if text:
            self.out.write(text)
            self.out.flush()
            self.wrote = True

    def done(self, result: TurnResult) -> None:
        """The turn ended: the answer (if nothing was streamed), then a line break."""
        self.finish()
        if not self.wrote:
            self.out.write(result.answer)
        self.out.write("\n")


@dataclass(frozen=True)
class NotDone:
    """A change the model tried that did not happen: refused by the gate, or failed."""

    call: ToolCallPart
    effect: str
    reason: str

    def line(self) -> str:
        """``create_event title=Dentist start=... (needs approval: ...)`` for stderr."""
        from morrow.agent.chat.view import call_line

        return f"{call_line(self.call, 140)} ({self.reason})"

    def json(self) -> dict[str, Any]:
        """For ``ask --json``."""
        return {
            "tool": self.call.name,
            "arguments": self.call.arguments,
            "effect": self.effect,
            "reason": self.reason,
        }


class _Tally(Observer):
    """Passes every hook on to ``inner`` and keeps the changes that were not done."""

    def __init__(self, inner: Observer, tools: ToolRegistry, gate: ApprovalGate) -> None:
        self.inner = inner
        self.tools = tools
        self.gate = gate
        self.not_done: list[NotDone] = []

    def text(self, delta: str) -> None:
        self.inner.text(delta)

    def step_started(self, step: int) -> None:
        self.inner.step_started(step)

    def step_restarted(self, step: int, provider: str, reason: str) -> None:
        self.inner.step_restarted(step, provider, reason)

    def tool_started(self, call: ToolCallPart) -> None:
        self.inner.tool_started(call)

    def tool_finished(self, call: ToolCallPart, result: ToolResultPart, seconds: float) -> None:
        self.inner.tool_finished(call, result, seconds)
        effect = self._effect(call)
        if result.is_error and effect != "read":
            self.not_done.append(NotDone(call, effect, self._reason(call, result)))

    def _effect(self, call: ToolCallPart) -> str:
        tool = self.tools.get(call.name)
        if tool is None:
            return "read"  # an unknown tool did nothing
        try:
            return tool.effect_for(tool.validate(call.arguments))
        except ToolRetry:  # invalid arguments: it never ran, but it was meant to change
            return tool.effect

    def _reason(self, call: ToolCallPart, result: ToolResultPart) -> str:
        decided = [d for r, d in self.gate.decisions if r.call_id == call.id]
        if decided and not decided[-1].approved:
            request = next(r for r, _ in self.gate.decisions if r.call_id == call.id)
            if request.needs_explicit_approval:
                return f"needs your explicit approval: {request.warnings[0]}"
            return "needs approval: run it in `morrow chat`, or allow it with [approvals] mode"
        first = (result.content.strip().splitlines() or ["failed"])[0]
        return f"failed: {first[:200]}"


def run_ask(args: argparse.Namespace) -> int:
    """``morrow ask TEXT``: one turn; the answer on stdout (or JSON with ``--json``)."""
    from morrow.agent.context.sessions import require_session

    question = _question(args)
    with App.load(home=args.home, config=args.config) as app:
        require_session(app, args.session, new=args.new)
        provider_name = choose_model(app, args.provider, args.model)
        live = not args.json and sys.stdout.isatty()
        shown: Observer = Observer() if args.json else _live_view() if live else _Printer()
        result, session_id, not_done = asyncio.run(_ask(app, args, question, provider_name, shown))
    if args.json:
        payload = {**_result_json(result), "session": session_id}
        payload["not_done"] = [item.json() for item in not_done]
        print(json.dumps(payload, ensure_ascii=False, indent=2))
    else:
        shown_done = getattr(shown, "done", None)
        if shown_done is not None:
            shown_done(result)
        _explain_stop(result)
    for item in not_done:
        print(f"morrow: not done: {item.line()}", file=sys.stderr)
    return NOT_DONE_EXIT if not_done else 0


def _question(args: argparse.Namespace) -> str:
    """The question: TEXT, with text piped on stdin below it; ``-`` or no TEXT: stdin alone.

    Raises:
        UsageError: nothing to ask (an empty question is never sent), or stdin is not UTF-8.
    """
    text = args.text
    if text is not None and text != "-" and not text.strip():
        raise UsageError("nothing to ask: the question is empty")
    from_stdin = text in (None, "-")
    piped = _read_stdin() if from_stdin or _stdin_is_piped() else None
    if from_stdin:
        if piped is None:
            raise UsageError("nothing to ask: give the question, or pipe it on stdin")
        text = piped
    elif piped and piped.strip():
        text = f"{text}\n\n{piped}"
    if not text or not text.strip():
        raise UsageError("nothing to ask: the question is empty")
    return str(text)


def _stdin_is_piped() -> bool:
    """Whether stdin is a pipe or a file (a terminal, /dev/null or a socket is not read)."""
    try:
        mode = os.fstat(sys.stdin.fileno()).st_mode
    except (OSError, ValueError, AttributeError):
        return False
    return stat.S_ISFIFO(mode) or stat.S_ISREG(mode)


def _read_stdin() -> str | None:
    """All of stdin as text; None when it is a terminal (nothing was piped)."""
    if sys.stdin.isatty():
        return None
    data = sys.stdin.buffer.read()
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UsageError(
            f"stdin is not valid UTF-8 (byte {data[exc.start]:#04x} at offset {exc.start})"
        ) from None


def choose_model(app: App, provider: str | None, model: str | None) -> str | None:
    """``-m/--model``: the provider to use, the config changed for this run when needed.

    ``MODEL`` names a configured provider, or the model of one; otherwise it is taken as
    another model of ``--provider`` (or of the first provider). Returns the provider's name
    (None: the configured chain).

    Raises:
        ConfigError: no provider is configured, or ``--provider`` names none.
    """
    if model is None:
        return provider
    from morrow.agent.errors import ConfigError

    providers = app.config.providers
    candidates = [p for p in providers if provider in (None, p.name)]
    for config in candidates:
        if model in (config.name, config.model):
            return config.name
    if not candidates:
        named = f"named {provider!r} " if provider else ""
        raise ConfigError(f"{app.paths.config}: providers: no provider {named}to run {model!r}")
    chosen = candidates[0]
    changed = [p.model_copy(update={"model": model}) if p is chosen else p for p in providers]
    app.config = app.config.model_copy(update={"providers": changed})
    return chosen.name


def _live_view() -> Observer:
    from rich.console import Console

    from morrow.agent.chat.view import LiveView

    return _Terminal(LiveView(Console(file=sys.stdout, highlight=False)))


class _Terminal(Observer):
    """The answer on a terminal: the chat's live Markdown view (and its spinner)."""

    def __init__(self, view: Any) -> None:
        self.view = view
        self.shown = False

    def text(self, delta: str) -> None:
        self.shown = True
        self.view.text(delta)

    def step_started(self, step: int) -> None:
        self.view.step_started(step)

    def step_restarted(self, step: int, provider: str, reason: str) -> None:
        self.view.step_restarted(step, provider, reason)

    def tool_started(self, call: ToolCallPart) -> None:
        self.view.tool_started(call)

    def tool_finished(self, call: ToolCallPart, result: ToolResultPart, seconds: float) -> None:
        self.view.tool_finished(call, result, seconds)

    def waiting(self, waiting: Any) -> None:
        """The resilience layer's report: the spinner's text."""
        self.view.waiting(waiting)

    def done(self, result: TurnResult) -> None:
        """The turn ended: the answer rendered, unless it was streamed."""
        from rich.markdown import Markdown

        self.view.pause()
        if not self.shown and result.answer:
            self.view.show(Markdown(result.answer))


async def _ask(
    app: App,
    args: argparse.Namespace,
    question: str,
    provider_name: str | None,
    shown: Observer,
) -> tuple[TurnResult, str, list[NotDone]]:
    """Run the turn in its session, saved whatever the turn's outcome.

    ``--session ID`` continues that session; ``--new`` starts one and prints its id on
    stderr; with neither, a fresh session is started and stored without a word (it is listed
    by ``morrow memory sessions`` and in ``--json`` output).
    """
    from morrow.agent.context.sessions import Session
    from morrow.agent.providers.resilience import reporting_waits

    provider = app.provider(provider_name)
    recorder = app.recorder(args.record)
    gate = app.gate(interactive=False)
    tally = _Tally(shown, app.tools(), gate)
    try:
        session = Session.open(
            app, provider, session_id=args.session, new=args.new, provider_name=provider_name
        )
        if args.new:
            print(f"morrow: session {session.id}", file=sys.stderr)
        for number, line in enumerate(app.settle_effects()):
            print(f"morrow: {line}" if number == 0 else f"  {line}", file=sys.stderr)
        turn = session.begin(question)
        running = run_turn(
            session.history,
            question,
            provider=recorder.wrap(provider),
            tools=app.tools(),
            tool_context=turn.tools,
            gate=recorder.watch(gate),
            system=app.system_prompt(session.prompt_facts(question)),
            limits=Limits(max_steps=app.config.agent.max_steps),
            observer=tally,
            stream=app.config.agent.stream and not args.no_stream,
            context=session.window,
        )
        try:
            with reporting_waits(getattr(shown, "waiting", None)):
                result = await session.run(turn, running)
            return result, session.id, tally.not_done
        finally:
            recorder.turn_done(session.history)
    finally:
        pause = getattr(shown, "view", None)
        if pause is not None:
            pause.pause()  # a spinner or a live region must not outlive the turn
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
