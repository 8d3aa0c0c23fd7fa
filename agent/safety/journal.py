"""Effects through the journal: intent before, outcome after, and never twice on its own.

:class:`EffectJournal` is the agent's side of :mod:`morrow.memory.journal`. For each approved
effect:

1. the tool's idempotency key is decided (an email's Message-ID, an event's UID:
   :class:`morrow.tools.base.Idempotency`) and written with the intent (``pending``), *then*
   the tool runs with that key (its :class:`~morrow.tools.context.ToolContext`'s
   ``effect_key``), so what happened can be looked up later;
2. the outcome is written: ``done``, ``failed`` (a tool error: nothing happened), or
   ``unknown`` (:class:`~morrow.tools.email.backend.OutcomeUnknownError`, a crash of the tool, a
   cancellation while it ran). A SIGKILL in between leaves ``pending``, which the next run
   turns into ``unknown`` (:meth:`morrow.memory.journal.Journal.settle_interrupted`).

Before an effect is approved, :meth:`EffectJournal.repeat_of` looks for its twin: an entry
that was done or may have been and is really the same effect (:func:`same_effect`): the same
call of the same session; for sends and creates, the same arguments in the same session, or in
any session when that twin's outcome is unknown (or still pending in a live process), when it
was done but its outcome never reached the user (a run killed after the send, before the
answer), or when it was done less than :data:`RECENT` ago (the answer may have been lost with
the terminal; a deliberate resend hours later is the user's call). An unknown outcome is
first checked where the tool can (the Message-ID in Sent, the UID on the calendar); what is
still unknown, or done, makes the request need the user's explicit approval. morrow never
repeats such an effect on its own. Retried model steps and failovers cannot run a tool twice
anyway (tools run after a complete response); the journal also covers new processes, new
sessions and later turns.

When morrow starts a conversation, :meth:`EffectJournal.settle` settles what earlier runs left
open (pending rows of ended processes become unknown; unknown ones are looked up) and returns
every effect whose outcome the user never learned, for the caller to tell
(:func:`describe_settled`); ``morrow doctor`` lists the effects still open (:meth:`open`).

The journal writes to the process's one store, which the wiring (``agent/app.py``) hands to
it; the session and the call come with each call's context.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import structlog

from morrow.memory.errors import MemoryStoreError
from morrow.memory.journal import OPEN, Entry, Intent, Journal, Status
from morrow.memory.store import Store
from morrow.tools.base import Tool, ToolRegistry
from morrow.tools.context import ToolContext
from morrow.tools.email.backend import OutcomeUnknownError
from morrow.tools.errors import ToolError, ToolRetry

if TYPE_CHECKING:
    from pydantic import BaseModel

log = structlog.get_logger("morrow.effects")

# A send or create done this recently in another session is asked about before it runs again:
# after a crash or a lost terminal the user asks again within minutes, not hours; a daily job
# sending the same text is not held back.
RECENT = timedelta(hours=12)


def arguments_hash(tool: str, arguments: dict[str, Any]) -> str:
    """SHA-256 of the tool name and its arguments as canonical JSON."""
    canonical = json.dumps([tool, arguments], sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


@dataclass
class EffectJournal:
    """Journals one run's effects in the store.

    Attributes:
        store: the process's store.
        run_id: names this run in the journal.
    """

    store: Store
    run_id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])

    def repeat_of(self, tool: Tool, args: BaseModel, context: ToolContext) -> str | None:
        """Why this effect may already have happened, or None when it cannot have."""
        digest = arguments_hash(tool.name, args.model_dump(mode="json"))
        guarded = tool.effect_for(args) == "send" or tool.idempotency is not None
        try:
            journal = Journal(self.store)
            journal.settle_interrupted()
            now = self.store.clock()
            twins = [
                e
                for e in journal.twins(digest)
                if same_effect(e, context, guarded=guarded, now=now)
            ]
            # a twin looked up and found never done (an event not on the calendar) is no twin
            checked = (_checked(journal, twin, tool, context) for twin in twins)
            entry = next((e for e in checked if e.status != "failed"), None)
        except MemoryStoreError as exc:  # no journal, no proof: the user decides
            return f"the effect journal cannot be read ({exc}); this may repeat an earlier action"
        return None if entry is None else _repeat_note(entry, context)

    def settle(self, tools: ToolRegistry, context: ToolContext) -> list[Entry]:
        """What earlier runs left open, settled where it can be; the entries to tell the user.

        Pending effects of processes that ended become unknown; unknown ones with a key are
        looked up (the Message-ID in Sent, the UID on the calendar) and become done when found.
        Returns every effect of an ended run whose outcome never reached the user (done,
        found, or still unknown), oldest first, and marks them reported: each is told once.
        ``morrow doctor`` keeps listing those still unknown (:meth:`open`).

        Raises:
            MemoryStoreError: the journal cannot be read or written.
        """
        journal = Journal(self.store)
        journal.settle_interrupted()
        entries = [self._looked_up(journal, e, tools, context) for e in journal.unreported()]
        journal.mark_reported([e.id for e in entries])
        return entries

    def open(self, tools: ToolRegistry, context: ToolContext) -> list[Entry]:
        """Every effect whose outcome is not known (after looking each up), oldest first.

        Raises:
            MemoryStoreError: the journal cannot be read or written.
        """
        journal = Journal(self.store)
        journal.settle_interrupted()
        entries = [self._looked_up(journal, e, tools, context) for e in journal.open_entries()]
        return [e for e in entries if e.status in OPEN]

    @staticmethod
    def _looked_up(
        journal: Journal, entry: Entry, tools: ToolRegistry, context: ToolContext
    ) -> Entry:
        tool = tools.get(entry.tool)
        if tool is None or entry.status != "unknown":
            return entry
        return _checked(journal, entry, tool, context)

    def refused(
        self,
        tool: str,
        effect: str,
        arguments: dict[str, Any],
        call_id: str,
        reason: str,
        session_id: str | None,
    ) -> None:
        """Record a refusal of the call ``call_id`` of ``tool`` with ``arguments``."""
        intent = self._intent(tool, effect, arguments, call_id, session_id)
        self._write(lambda journal: journal.refused(intent, reason))

    async def run(
        self, tool: Tool, args: BaseModel, context: ToolContext, *, approved_by: str
    ) -> str:
        """Run an approved effect: key and intent written first, outcome after."""
        key = None
        if tool.idempotency is not None:
            key = await asyncio.to_thread(tool.idempotency.key, context, args)
        arguments = args.model_dump(mode="json")
        intent = self._intent(
            tool.name,
            tool.effect_for(args),
            arguments,
            context.call_id,
            context.session_id,
            key=key,
            approved_by=approved_by,
        )
        # Not caught: an effect whose intent cannot be written does not run.
        entry_id = await asyncio.to_thread(Journal(self.store).begin, intent)
        try:
            content = await tool.run(context.with_effect_key(key), args)
        except OutcomeUnknownError as exc:
            await asyncio.to_thread(self._finish, entry_id, "unknown", str(exc))
            raise
        except (ToolError, ToolRetry) as exc:
            await asyncio.to_thread(self._finish, entry_id, "failed", str(exc)[:500])
            raise
        except BaseException as exc:  # a crash or a cancellation mid-way: it may have happened
            self._finish(entry_id, "unknown", f"{type(exc).__name__} while it ran")
            raise
        # Outside a conversation the caller shows the result at once; in one, the outcome
        # reaches the user with the saved turn (``Store.save_turn``: ``answered_calls``).
        shown = context.session_id is None
        await asyncio.to_thread(self._finish, entry_id, "done", None, reported=shown)
        return content

    def _intent(
        self,
        tool: str,
        effect: str,
        arguments: dict[str, Any],
        call_id: str,
        session_id: str | None,
        *,
        key: str | None = None,
        approved_by: str = "",
    ) -> Intent:
        return Intent(
            run_id=self.run_id,
            session_id=session_id,
            call_id=call_id,
            tool=tool,
            effect=effect,
            args_sha256=arguments_hash(tool, arguments),
            key=key,
            summary=summary(tool, arguments),
            approved_by=approved_by,
        )

    def _finish(
        self, entry_id: int, status: Status, note: str | None, *, reported: bool = False
    ) -> None:
        self._write(lambda journal: journal.finish(entry_id, status, note, reported=reported))

    def _write(self, action: Callable[[Journal], object]) -> None:
        try:
            action(Journal(self.store))
        except MemoryStoreError as exc:  # the effect itself is not undone by a journal failure
            log.error("journal_write_failed", error=str(exc))


def summary(tool: str, arguments: dict[str, Any]) -> str:
    """Tool, recipients and subject or title: enough to ask the user about it, no body."""
    parts = [tool]
    for key in ("to", "cc", "bcc", "attendees", "add_attendees", "event_id", "draft_id"):
        value = arguments.get(key)
        if value:
            parts.append(f"{key}={','.join(value) if isinstance(value, list) else value}")
    for key in ("subject", "title"):
        if arguments.get(key):
            parts.append(f"{key}={str(arguments[key])[:80]!r}")
    return " ".join(parts)


def same_effect(entry: Entry, context: ToolContext, *, guarded: bool, now: datetime) -> bool:
    """Whether ``entry`` (same tool, same arguments) is the effect the call would repeat.

    The same call of the same session always is. For sends and creates (``guarded``): the same
    action in the same session; in any session, one whose outcome nobody knows yet (pending or
    unknown), one done whose outcome never reached the user, or one done less than
    :data:`RECENT` before ``now``. A call id alone means nothing across sessions: local servers
    number their calls ``call_0``, ``call_1`` ... in every one.
    """
    same_session = entry.session_id == context.session_id
    if same_session and entry.call_id == context.call_id:
        return True
    if not guarded:
        return False
    if same_session or entry.status in OPEN or entry.reported is None:
        return True
    return now - datetime.fromisoformat(entry.started) < RECENT


def report_settled(entries: list[Entry]) -> list[str]:
    """What the user is told of the effects :meth:`EffectJournal.settle` returned."""
    if not entries:
        return []
    head = (
        "an earlier run stopped before telling you how this action ended:"
        if len(entries) == 1
        else f"earlier runs stopped before telling you how these {len(entries)} actions ended:"
    )
    return [head, *(f"- {describe_settled(e)}" for e in entries)]


def describe_settled(entry: Entry) -> str:
    """One line for the user: an effect of an earlier run, and how it ended."""
    when = f"started {entry.started[:16].replace('T', ' ')}"
    where = f", session {entry.session_id}" if entry.session_id else ""
    if entry.status == "done":
        how = "done" + (f" ({entry.note})" if entry.note else "")
    elif entry.status == "pending":
        how = f"still running in process {entry.pid}"
    elif entry.status == "failed":
        how = "it did not happen" + (f" ({entry.note})" if entry.note else "")
    else:
        key = f"; its id {entry.key} was not found" if entry.key else ""
        how = (
            f"OUTCOME UNKNOWN ({entry.note or 'no answer'}{key}): it may or may not have "
            "happened; check before asking for it again"
        )
    return f"{entry.summary} ({when}{where}): {how}"


def _checked(journal: Journal, entry: Entry, tool: Tool, context: ToolContext) -> Entry:
    """An unknown outcome looked up where the tool can (in Sent, on the calendar)."""
    if entry.status == "done" or not entry.key or tool.idempotency is None:
        return entry
    find = tool.idempotency.find
    if find is None or entry.status == "pending":  # pending: still running in another process
        return entry
    try:
        happened = find(context, entry.key)
    except Exception as exc:  # the backend cannot tell: stays unknown
        log.warning("effect_check_failed", tool=entry.tool, error=str(exc))
        return entry
    if happened is None:  # not found, which proves nothing (see Idempotency.find)
        return entry
    if not happened:  # proven never done, the run that tried being over
        journal.finish(entry.id, "failed", f"not done: {entry.key} was not found afterwards")
        return journal.get(entry.id) or entry
    journal.finish(entry.id, "done", f"found {entry.key} after the outcome was lost")
    return journal.get(entry.id) or entry


def _repeat_note(entry: Entry, context: ToolContext) -> str:
    what = f"{entry.summary} (call {entry.call_id}, started {entry.started})"
    if entry.session_id != context.session_id:
        what += f" in {f'session {entry.session_id}' if entry.session_id else 'another run'}"
    if entry.status == "done" and entry.reported is None:
        return (
            f"already done: {what}, by a run that stopped before it could say so; running it "
            "again would do it twice"
        )
    if entry.status == "done":
        return f"already done: {what}; running it again would do it twice"
    if entry.status == "pending":
        return f"in progress in another morrow process: {what}"
    key = f"; its id {entry.key} was not found" if entry.key else ""
    return (
        f"outcome unknown: {what} may or may not have happened ({entry.note or 'no answer'}"
        f"{key}); check before doing it again"
    )
