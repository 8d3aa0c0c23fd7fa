"""What the chat shows while a turn runs: the answer as live Markdown, one dim line per tool.

:class:`LiveView` is the loop's :class:`~morrow.agent.loop.Observer` in the chat. The model's text
is rendered as Markdown as it streams (rich ``Live``, redrawn at most ~15 times a second); a step
that the resilience layer restarts is redrawn from nothing, so no text is ever shown twice.
Each tool call is one dim line: while it runs (on a terminal) ``⋯ name key=value``, when it
ends ``· name key=value  120 ms ok``. Anything the chat prints itself (notes, an approval)
first ends the live region with :meth:`LiveView.pause`.

While the model has not said anything yet, a spinner says what the turn waits for: the model,
or the resilience layer's retry ("waiting for anthropic (claude-x) ... retry 2/3 in 6 s"), which
reports through :meth:`LiveView.waiting`. It vanishes with the first word or tool line.

To a file or a pipe rich draws nothing live: each step's answer is printed once, complete, and
there is no spinner.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.markdown import Markdown
from rich.status import Status
from rich.text import Text

from morrow.agent.context.window import Compaction
from morrow.agent.loop import Observer
from morrow.agent.messages import ToolCallPart, ToolResultPart
from morrow.agent.providers.resilience import Waiting

# The arguments that identify a call best, in the order they are shown on its line.
KEY_ARGUMENTS = (
    "title",
    "query",
    "sender",
    "to",
    "subject",
    "start",
    "end",
    "event_id",
    "email_id",
    "thread_id",
    "draft_id",
    "response",
    "read",
    "unread",
    "fact",
    "fact_id",
    "folder",
    "duration_minutes",
)
_REFRESH_SECONDS = 1 / 15


def call_line(call: ToolCallPart, width: int = 100) -> str:
    """``name key=value ...`` with the call's most telling arguments, cut to ``width``."""
    shown = []
    for key in KEY_ARGUMENTS:
        value = call.arguments.get(key)
        if value is None or value == [] or value == "":
            continue
        if isinstance(value, list):
            text = ",".join(str(v) for v in value)
        else:
            text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
        text = " ".join(text.split())
        shown.append(f"{key}={text[:40] + '…' if len(text) > 40 else text}")
        if len(shown) == 3:
            break
    line = " ".join([call.name, *shown])
    return line if len(line) <= width else line[: width - 1] + "…"


def _note_of(result: ToolResultPart) -> str:
    """`` (the note)`` a result carries for the user (nobody was notified ...), or ``""``."""
    if result.is_error or not result.content.startswith("{"):
        return ""
    try:
        note = json.loads(result.content).get("note")
    except ValueError:
        return ""
    return f" ({' '.join(str(note).split())[:120]})" if note else ""


class LiveView(Observer):
    """Renders a turn on a rich console."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self._text = ""
        self._live: Live | None = None
        self._last_draw = 0.0
        self._running: dict[str, str] = {}  # call id -> its line, while the tool runs
        self._status: Status | None = None  # the spinner, while waiting for the model
        self._pending: asyncio.TimerHandle | None = None  # a redraw after the throttle

    # -- the loop's hooks ----------------------------------------------------------------------

    def text(self, delta: str) -> None:
        """The model streamed text: redraw the answer."""
        self._unspin()
        if self._running:
            self._stop()
            self._running.clear()
        self._text += delta
        self._draw()

    def step_started(self, step: int) -> None:
        """A new model step: end the previous live region; spin until the model answers."""
        self.pause()
        self._spin("waiting for the model")

    def waiting(self, waiting: Waiting) -> None:
        """The resilience layer says what the step waits for (an attempt, a retry's wait)."""
        if self._status is not None:
            self._status.update(waiting.describe())
        elif waiting.retry_in is not None:  # a retry after text was shown: say so on a line
            self.note(waiting.describe())

    def step_restarted(self, step: int, provider: str, reason: str) -> None:
        """The step starts over: forget its text and redraw, so nothing shows twice."""
        self._text = ""
        self._draw(force=True)
        first = (reason.splitlines() or [""])[0][:120]
        self.note(f"↻ the answer starts over on {provider} ({first})")

    def tool_started(self, call: ToolCallPart) -> None:
        """A tool call starts: its running line."""
        self._unspin()
        if self._text:
            self.pause()
        self._running[call.id] = call_line(call, self._width())
        self._draw()

    def tool_finished(self, call: ToolCallPart, result: ToolResultPart, seconds: float) -> None:
        """A tool call ended: its final line, with duration and outcome."""
        started = self._running.pop(call.id, None)
        if started is None:  # refused or invalid: it never ran
            why = " ".join(result.content.split())[:100]
            status = f"not run: {why}"
        else:
            status = f"{seconds * 1000:.0f} ms {'error' if result.is_error else 'ok'}"
            status += _note_of(result)
        # on a terminal the line and its status fit one row; a file keeps the whole line
        fit = self._width() - len(status) - 4 if self.console.is_terminal else 1000
        line = call_line(call, max(30, fit))
        if self._live is not None:  # take the running line away before printing the final one
            self._live.update(self._renderable(), refresh=False)
        self._print(Text(f"· {line}  {status}", style="red dim" if result.is_error else "dim"))
        self._draw()

    def compacted(self, compaction: Compaction) -> None:
        """Conversation compaction: one dim line."""
        by = compaction.summarized_by or "a summary made without a model"
        self.note(
            f"· {compaction.folded_turns} earlier turns folded into a summary ({by}; "
            f"~{compaction.tokens_before} -> ~{compaction.tokens_after} tokens)"
        )

    # -- the chat's own output -----------------------------------------------------------------

    def note(self, text: str, *, style: str = "dim") -> None:
        """One line of the chat's own (not the model's), printed above any live region."""
        self._print(Text(text, style=style))

    def show(self, renderable: RenderableType) -> None:
        """Print something after ending the live region (an approval, a listing)."""
        self.pause()
        self.console.print(renderable, soft_wrap=False)

    def pause(self) -> None:
        """End the live region: what it shows stays on screen as it is."""
        self._unspin()
        self._stop()
        self._text = ""
        self._running.clear()

    # -- drawing ---------------------------------------------------------------------------------

    def _renderable(self) -> RenderableType:
        parts: list[RenderableType] = []
        if self._text:
            parts.append(Markdown(self._text))
        parts += [Text(f"⋯ {line}", style="dim") for line in self._running.values()]
        return Group(*parts)

    def _draw(self, *, force: bool = False) -> None:
        if not self._text and not self._running:
            if self._live is not None:
                self._live.update(Group(), refresh=True)
            return
        if self._live is None:
            # Tool lines alone vanish when done (their final line is printed); text stays.
            self._live = Live(
                console=self.console,
                auto_refresh=False,
                transient=not self._text,
                redirect_stdout=False,
                redirect_stderr=False,
                vertical_overflow="visible",
            )
            self._live.start()
            force = True
        now = time.monotonic()
        due = force or now - self._last_draw >= _REFRESH_SECONDS
        self._live.update(self._renderable(), refresh=due)
        if due:
            self._last_draw = now
        else:  # draw what came since soon, also when the stream stalls after it
            self._refresh_later(_REFRESH_SECONDS - (now - self._last_draw))

    def _refresh_later(self, delay: float) -> None:
        if self._pending is not None:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # not in an event loop: the next update draws it
            return
        self._pending = loop.call_later(max(0.0, delay), self._refresh_now)

    def _refresh_now(self) -> None:
        self._pending = None
        if self._live is not None:
            self._live.refresh()
            self._last_draw = time.monotonic()

    def _stop(self) -> None:
        if self._pending is not None:
            self._pending.cancel()
            self._pending = None
        if self._live is not None:
            live, self._live = self._live, None
            if self._text:
                live.transient = False  # a text segment stays on screen
            live.update(self._renderable())
            live.stop()
            if not live.transient and not self.console.is_terminal:
                self.console.line()  # rich ends a live region with a line break on terminals only

    def _spin(self, text: str) -> None:
        """Show the spinner (on a terminal only) until the model says something."""
        if self.console.is_terminal and self._status is None:
            self._status = Status(text, console=self.console, spinner="dots")
            self._status.start()

    def _unspin(self) -> None:
        if self._status is not None:
            status, self._status = self._status, None
            status.stop()

    def _print(self, renderable: Any) -> None:
        self._unspin()
        if self._live is not None:
            self._live.console.print(renderable, soft_wrap=True)
        else:
            self.console.print(renderable, soft_wrap=True)

    def _width(self) -> int:
        return max(40, self.console.width - 4)
