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

Before an effect is approved, :meth:`EffectJournal.repeat_of` looks for the same call id, or
the same arguments in the same session (for sends and creates), that was done or may have been:
an unknown outcome is first checked where the tool can (the Message-ID in Sent, the UID on the
calendar); what is still unknown, or done, makes the request need the user's explicit approval.
morrow never repeats such an effect on its own. Retried model steps and failovers cannot run a
tool twice anyway (tools run after a complete response); the journal also covers new processes
and later turns.

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
from typing import TYPE_CHECKING, Any

import structlog

from morrow.memory.errors import MemoryStoreError
from morrow.memory.journal import Entry, Intent, Journal, Status
from morrow.memory.store import Store
from morrow.tools.base import Tool
from morrow.tools.context import ToolContext
from morrow.tools.email.backend import OutcomeUnknownError
from morrow.tools.errors import ToolError, ToolRetry

if TYPE_CHECKING:
    from pydantic import BaseModel

log = structlog.get_logger("morrow.effects")


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
            earlier = [
                e
                for e in journal.previous(context.session_id, context.call_id, digest)
                if e.call_id == context.call_id or guarded
            ]
            if not earlier:
                return None
            entry = _checked(journal, earlier[0], tool, context)
        except MemoryStoreError as exc:  # no journal, no proof: the user decides
            return f"the effect journal cannot be read ({exc}); this may repeat an earlier action"
        return _repeat_note(entry)

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
        await asyncio.to_thread(self._finish, entry_id, "done", None)
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

    def _finish(self, entry_id: int, status: Status, note: str | None) -> None:
        self._write(lambda journal: journal.finish(entry_id, status, note))

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
    if not happened:  # not in Sent proves nothing: SMTP may have taken it before the copy
        return entry
    journal.finish(entry.id, "done", f"found {entry.key} after the outcome was lost")
    return journal.get(entry.id) or entry


def _repeat_note(entry: Entry) -> str:
    what = f"{entry.summary} (call {entry.call_id}, started {entry.started})"
    if entry.status == "done":
        return f"already done: {what}; running it again would do it twice"
    if entry.status == "pending":
        return f"in progress in another morrow process: {what}"
    key = f"; its id {entry.key} was not found" if entry.key else ""
    return (
        f"outcome unknown: {what} may or may not have happened ({entry.note or 'no answer'}"
        f"{key}); check before doing it again"
    )
