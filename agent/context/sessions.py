"""Sessions: a conversation loaded from the store before a turn and saved after it.

``morrow ask`` and ``morrow chat`` open a :class:`Session` (continuing ``--session ID``, which
on the command line must exist, :func:`require_session`: a typo must not start a new
conversation silently; ``--new --session ID`` creates it; a fresh one otherwise) in the app's
store. For each turn, :meth:`Session.begin` names the turn and gives the tools' context (the
session, and the user's words the memory tools may rest a fact on); the caller passes that,
``history`` and ``window`` to ``run_turn`` and wraps the turn in :meth:`Session.run`, which
writes the whole turn in one transaction when it ends.

How a turn that does not finish is stored (the loop has already given every tool call a
result, so the history is valid either way):

- Ctrl-C (cancellation): the turn is kept as far as it got, with status ``cancelled``; the next
  turn sees it, so the model knows what it already did (an email sent before the interruption).
- an error (every provider down, the step limit): kept the same way, with status ``error``.
- a crash or SIGKILL: the turn in flight is lost whole; every earlier turn is intact.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from datetime import datetime

import structlog
from pydantic import ValidationError

from morrow.agent.app import App
from morrow.agent.calls import INTERRUPTED_EFFECT
from morrow.agent.context.window import Budget, Compaction, ContextWindow, TurnStats, context_window
from morrow.agent.errors import StoreError, UsageError
from morrow.agent.loop import TurnResult
from morrow.agent.messages import Message, Usage
from morrow.agent.providers.base import Provider
from morrow.memory.errors import MemoryStoreError, SessionExistsError
from morrow.memory.facts import Facts
from morrow.memory.records import (
    NewMessage,
    NewSummary,
    SessionInfo,
    TurnRecord,
    TurnStatus,
    UsageRecord,
    UserText,
)
from morrow.memory.store import Store, check_session_id
from morrow.tools.context import ToolContext

log = structlog.get_logger("morrow.sessions")


class SessionError(StoreError):
    """The session could not be opened, read or saved."""


@dataclass(frozen=True)
class Turn:
    """A turn about to run: its id, when it started, and the tools' context for it.

    Attributes:
        id: the turn's id in the store.
        started: when it started (the store's clock).
        tools: the context ``run_turn`` hands the tools (``tool_context``): the session and
            the user's words of this turn, which are not stored yet.
    """

    id: str
    started: datetime
    tools: ToolContext


def budget_for(app: App, provider_name: str | None) -> Budget:
    """The input budget of requests: the smallest window among the providers that may answer.

    With ``--provider NAME`` that is one provider; otherwise every configured provider may get
    the request through fallback, so the smallest window rules.
    """
    memory = app.config.memory
    chain = [p for p in app.config.providers if provider_name in (None, p.name)]
    if not chain:
        return Budget.of(context_window(""), memory.context_budget, 4096)
    budgets = [
        Budget.of(
            context_window(p.model, memory.context_windows),
            memory.context_budget,
            p.max_output_tokens,
        )
        for p in chain
    ]
    return min(budgets, key=lambda b: b.tokens)


def no_such_session(session_id: str) -> UsageError:
    """The one error (exit 2) for a session id that names nothing, wherever it is given."""
    return UsageError(
        f"no session with id {session_id!r} (see `morrow memory sessions`; "
        "--new --session ID starts one with that id)"
    )


def require_session(app: App, session_id: str | None, *, new: bool) -> None:
    """``--session ID`` without ``--new`` must name a stored session (else exit 2).

    Raises:
        UsageError: the id is invalid or names no session.
        StoreError: the store cannot be opened.
    """
    if session_id is None or new:
        return
    try:
        check_session_id(session_id)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    if app.store().session(session_id) is None:
        raise no_such_session(session_id)


def _open_info(store: Store, session_id: str | None, new: bool) -> tuple[SessionInfo, bool]:
    try:
        if session_id is not None:
            check_session_id(session_id)
        if new or session_id is None:
            return store.create_session(session_id), True
        return store.open_session(session_id)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    except SessionExistsError as exc:
        raise UsageError(f"{exc}; leave out --new to continue it") from None


@dataclass
class Session:
    """One conversation: what the next request is built from, and where each turn goes.

    Attributes:
        store: the app's store.
        info: the session as stored when it was opened.
        created: whether opening it created it.
        history: the messages kept verbatim (the rest is in ``window.summary``); pass it to
            ``run_turn``.
        window: the context window; pass it to ``run_turn`` as ``context``.
        tools: the tools' context of this session (its turns add the user's words).
    """

    store: Store
    info: SessionInfo
    created: bool
    history: list[Message]
    window: ContextWindow
    tools: ToolContext
    prompt_facts_limit: int = 12
    _seqs: list[int | None] = field(default_factory=list)
    _folded_seq: int = 0

    @classmethod
    def open(
        cls,
        app: App,
        provider: Provider,
        *,
        session_id: str | None = None,
        new: bool = False,
        provider_name: str | None = None,
        on_compaction: Callable[[Compaction], None] | None = None,
    ) -> Session:
        """Open (or create) a session and load what its next request needs.

        Raises:
            UsageError: the id is invalid, or ``new`` was asked with an id that exists.
            StoreError: the store cannot be opened.
            SessionError: the store cannot be read, or a stored message is damaged.
        """
        memory = app.config.memory
        store = app.store()
        try:
            info, created = _open_info(store, session_id, new)
            resumed = store.resume(info.id)
            calibration = store.calibration(provider.model)
        except MemoryStoreError as exc:
            raise SessionError(str(exc)) from None
        window = ContextWindow(
            budget_for(app, provider_name),
            summarizer=provider if memory.summarize_with_model else None,
            summary=resumed.summary.text if resumed.summary else None,
            keep_turns=memory.keep_turns,
            max_tool_result_chars=memory.max_tool_result_chars,
            calibration=calibration,
            on_compaction=on_compaction,
        )
        stored = resumed.messages

        def load(first: int, end: int) -> list[str]:
            documents = store.documents(info.id, stored[first].seq, stored[end - 1].seq)
            if len(documents) != end - first:  # purged by another process meanwhile
                raise SessionError(f"session {info.id!r} changed while it was being loaded")
            return documents

        try:
            history = window.resume([(m.role, m.chars, m.tool_results) for m in stored], load)
        except ValidationError as exc:
            raise SessionError(f"session {info.id!r}: a stored message is damaged: {exc}") from None
        except MemoryStoreError as exc:
            raise SessionError(str(exc)) from None
        cut = window.folded_at_resume
        return cls(
            store=store,
            info=info,
            created=created,
            history=history,
            window=window,
            tools=app.tool_context(session_id=info.id),
            prompt_facts_limit=memory.prompt_facts,
            _seqs=[m.seq for m in stored[cut:]],
            _folded_seq=stored[cut - 1].seq if cut else 0,
        )

    @property
    def id(self) -> str:
        """The session's id."""
        return self.info.id

    def recent_turns(self, limit: int) -> list[tuple[str, str]]:
        """The last ``limit`` turns kept verbatim: what the user said, and the answer saved.

        The answer is the text of the turn's last model message ("" when the turn was cut
        before the model answered).
        """
        turns: list[tuple[str, str]] = []
        for message in self.history:
            if message.role == "user":
                turns.append((message.text, ""))
            elif message.role == "assistant" and turns and message.text:
                turns[-1] = (turns[-1][0], message.text)
        return turns[-limit:] if limit > 0 else []

    def prompt_facts(self, text: str) -> list[str]:
        """The remembered facts most relevant to a turn starting with ``text``, as ``[id] fact``."""
        try:
            facts = Facts(self.store).for_prompt(text, limit=self.prompt_facts_limit)
        except MemoryStoreError as exc:  # the turn can go on without them
            log.warning("facts_unavailable", error=str(exc))
            return []
        return [f"[{f.id}] {f.text}" for f in facts]

    def begin(self, text: str) -> Turn:
        """Name the turn starting with ``text`` and give the tools' context for it.

        ``text`` is the user's message; the memory tools may rest a fact on it.
        """
        turn_id, started = secrets.token_hex(8), self.store.clock()
        said = (UserText(f"{turn_id}.0", text, started),)
        return Turn(turn_id, started, replace(self.tools, said=said))

    async def run(self, turn: Turn, running: Awaitable[TurnResult]) -> TurnResult:
        """Await ``running`` (a ``run_turn`` over this session) and save it, however it ends.

        Raises:
            SessionError: the turn finished but could not be saved.
        """
        before = len(self.history)
        try:
            result = await running
        except BaseException as exc:
            cancelled = isinstance(exc, asyncio.CancelledError | KeyboardInterrupt)
            status: TurnStatus = "cancelled" if cancelled else "error"
            self._save(turn, before, status, quiet=True)
            raise
        self._save(turn, before, "ok", quiet=False)
        return result

    def _save(self, turn: Turn, before: int, status: TurnStatus, *, quiet: bool) -> None:
        new = self.history[before:]
        stats = self.window.take_turn()
        if not new:
            return
        record = TurnRecord(
            id=turn.id,
            started=turn.started,
            status=status,
            messages=[_stored(m) for m in new],
            usage=_usage(stats.usage, stats),
            summary=self._summary(stats),
            title=" ".join(new[0].text.split())[:80] or None,
            answered_calls=_answered(new),
        )
        try:
            seqs = self.store.save_turn(self.id, record)
        except MemoryStoreError as exc:
            self._seqs += [None] * len(new)
            log.error("turn_not_saved", session=self.id, status=status, error=str(exc))
            if not quiet:
                raise SessionError(f"the turn was not saved: {exc}") from None
            return
        self._seqs += seqs
        if record.summary is not None:
            self.window.summary_changed = False
        log.info("turn_saved", session=self.id, status=status, messages=len(seqs))

    def _summary(self, stats: TurnStats) -> NewSummary | None:
        """The window's new summary, if it changed and what it covers is stored."""
        window = self.window
        if not window.summary_changed or window.summary is None:
            return None
        up_to = self._seqs[window.start - 1] if window.start else self._folded_seq
        if up_to is None:  # it covers a turn that failed to save: keep it in memory only
            return None
        usage = None
        if stats.summary_usage is not None:
            usage = _usage(stats.summary_usage, stats, model=stats.summary_model)
        return NewSummary(window.summary, up_to_seq=up_to, model=window.summary_by, usage=usage)


def _answered(messages: list[Message]) -> list[str]:
    """The calls whose outcome the saved turn tells the user.

    Not an effect interrupted while it ran: its outcome is unknown, and ``ask`` on Ctrl-C shows
    nothing of it, so the next start tells it (``App.settle_effects``).
    """
    return [
        result.call_id
        for message in messages
        for result in message.tool_results
        if result.content != INTERRUPTED_EFFECT
    ]


def _stored(message: Message) -> NewMessage:
    text = message.text if message.role != "tool" else ""
    results = len(message.tool_results)
    return NewMessage(message.role, message.model_dump_json(), text, tool_results=results)


def _usage(usage: Usage, stats: TurnStats, *, model: str | None = None) -> UsageRecord:
    summary = model is not None
    return UsageRecord(
        provider=stats.provider,
        model=model or stats.model,
        steps=0 if summary else stats.steps,
        input_tokens=usage.input_tokens,
        output_tokens=usage.output_tokens,
        cache_read_tokens=usage.cache_read_tokens,
        cache_write_tokens=usage.cache_write_tokens,
        estimated_input_tokens=0 if summary else stats.estimated_input_tokens,
    )
