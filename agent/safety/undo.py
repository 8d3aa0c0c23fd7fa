"""``/undo`` in the chat: revert the last reversible write of a session.

The session's history is the record of what was done: every tool call that ran without error
and had an effect (``write`` or ``send``, decided from its arguments as the gate decided it) is
a candidate, newest first. Each has an inverse made of the backends' own operations:

========================  =====================================================
the effect                its inverse
========================  =====================================================
create_event (no invite)  cancel the event, silently (nobody was told about it)
archive_email             move the message back to the folder it came from
mark_email                the opposite mark
draft_email               delete the draft (it was never sent)
remember                  forget the fact
========================  =====================================================

Everything else cannot be undone here, and ``/undo`` says so in plain words instead of
guessing: a send (an email or an invitation that went out cannot be recalled, and undoing it
would need another email), an update or cancellation of an event (the earlier state is not
kept), a forgotten fact. ``/undo`` never sends anything.

Whether a send went out is read from its result, the backend's own account (``notified``,
``delivered``), as the approval box read it from the same backend before: an event created
"with invitations" on the local calendar file told nobody, so it is undone like any created
event; a message a Maildir without SMTP only saved in Sent was delivered to nobody, and
``/undo`` says that rather than "it went out".

Which effects were already undone (or reported as irreversible) is kept per session in the
store (table ``undo_handled``), so ``/undo`` walks back one effect at a time, also after the
session is resumed in another run, and purging the session forgets it too.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from morrow.agent.messages import Message, ToolCallPart, ToolResultPart
from morrow.memory.errors import MemoryStoreError
from morrow.memory.state import mark_undone, undone
from morrow.memory.store import Store
from morrow.tools.base import Effect, ToolRegistry
from morrow.tools.context import ToolContext
from morrow.tools.errors import ToolError, ToolRetry


@dataclass(frozen=True)
class DoneEffect:
    """A tool call of the session that ran, with an effect."""

    call: ToolCallPart
    result: ToolResultPart
    effect: Effect

    @property
    def output(self) -> dict[str, Any]:
        """The tool's result as JSON (empty when it was not a JSON object)."""
        try:
            value = json.loads(self.result.content)
        except ValueError:
            return {}
        return value if isinstance(value, dict) else {}


@dataclass(frozen=True)
class UndoOutcome:
    """What ``/undo`` did (``undone``) or why it could not, in words for the user."""

    message: str
    undone: bool = False
    effect: DoneEffect | None = None


def effects_of(history: Sequence[Message], tools: ToolRegistry) -> list[DoneEffect]:
    """Every successful call with an effect in ``history``, oldest first."""
    results = {
        part.call_id: part
        for message in history
        if message.role == "tool"
        for part in message.tool_results
    }
    done: list[DoneEffect] = []
    for message in history:
        for call in message.tool_calls if message.role == "assistant" else []:
            result = results.get(call.id)
            tool = tools.get(call.name)
            if result is None or result.is_error or tool is None:
                continue
            try:
                effect = tool.effect_for(tool.validate(call.arguments))
            except ToolRetry:  # it could not have run with these arguments
                continue
            if effect != "read":
                done.append(DoneEffect(call, result, effect))
    return done


class UndoLog:
    """The call ids ``/undo`` has dealt with in one session, kept in the store."""

    def __init__(self, store: Store, session_id: str) -> None:
        self.store = store
        self.session_id = session_id

    @property
    def handled(self) -> set[str]:
        """The call ids dealt with so far (read from the store each time)."""
        return undone(self.store, self.session_id)

    def add(self, call_id: str) -> None:
        """Remember ``call_id`` as dealt with."""
        mark_undone(self.store, self.session_id, call_id)


Inverse = Callable[[ToolContext, DoneEffect], str]


class Undoer:
    """Finds the last effect of a session and reverts it when it can be reverted.

    Args:
        context: the calendar, mailbox and store the effects went to.
        tools: the tool registry (to tell each call's effect from its arguments).
        log: what was already undone in this session.
    """

    def __init__(self, context: ToolContext, tools: ToolRegistry, log: UndoLog) -> None:
        self.context = context
        self.tools = tools
        self.log = log

    def pending(self, history: Sequence[Message]) -> list[DoneEffect]:
        """The session's effects not yet undone or reported, newest first."""
        found = effects_of(history, self.tools)
        handled = self.log.handled
        return [e for e in reversed(found) if e.call.id not in handled]

    def undo(self, history: Sequence[Message]) -> UndoOutcome:
        """Revert the newest effect not yet dealt with, or say why it cannot be reverted.

        An irreversible effect is reported once and then counts as dealt with, so the next
        ``/undo`` goes on to the effect before it.
        """
        pending = self.pending(history)
        if not pending:
            return UndoOutcome("Nothing to undo: no change made in this session is left.")
        last = pending[0]
        reason = irreversible(last)
        if reason is not None:
            self.log.add(last.call.id)
            more = " /undo again reverts the change before it." if len(pending) > 1 else ""
            return UndoOutcome(f"Cannot undo {describe(last)}: {reason}.{more}", effect=last)
        inverse = _INVERSES[last.call.name]
        try:
            said = inverse(self.context, last)
        except (ToolError, ToolRetry, OSError, MemoryStoreError) as exc:
            return UndoOutcome(f"Could not undo {describe(last)}: {exc}", effect=last)
        self.log.add(last.call.id)
        return UndoOutcome(said, undone=True, effect=last)


def describe(effect: DoneEffect) -> str:
    """A short name for what a call did, e.g. ``create_event "Lunch" (Fri 12:30)``."""
    args, out = effect.call.arguments, effect.output
    event = out.get("event") if isinstance(out.get("event"), dict) else None
    if event is not None:
        return f'{effect.call.name} "{event.get("title", "?")}" ({event.get("start", "?")})'
    if "subject" in args:
        return f'{effect.call.name} "{args["subject"]}" to {", ".join(args.get("to", []))}'
    if "email_id" in args:
        return f"{effect.call.name} {args['email_id']}"
    if "fact" in args:
        return f'{effect.call.name} "{args["fact"]}"'
    return effect.call.name


def irreversible(effect: DoneEffect) -> str | None:
    """Why ``effect`` cannot be undone, or None when it can."""
    name = effect.call.name
    if effect.effect == "send" and went_out(effect):
        return (
            "it went out to other people (an email or an invitation that was sent cannot be "
            "recalled, and /undo never sends anything to make up for it)"
        )
    if effect.effect == "send" and name in ("send_email", "send_draft"):
        why = effect.output.get("note") or "it was not delivered"
        return (
            f"it reached nobody ({' '.join(str(why).split())}); the copy in your Sent folder "
            "stays, /undo does not delete mail"
        )
    if name == "remember" and effect.output.get("status") == "already known":
        return "the fact was already known; nothing new was kept"
    if name not in _INVERSES:
        return {
            "update_event": "the event's earlier state is not kept; ask morrow to change it back",
            "cancel_event": "a cancelled event cannot be restored as it was; ask morrow to "
            "create it again",
            "forget": "a forgotten fact is deleted for good; tell morrow again to remember it",
        }.get(name, f"{name} has no inverse")
    return None


def went_out(effect: DoneEffect) -> bool:
    """Whether a send reached anyone, by its result: who was notified, whether delivered."""
    out = effect.output
    if "delivered" in out:
        return bool(out["delivered"]) and bool(out.get("recipients", True))
    if "notified" in out:
        return bool(out["notified"])
    return True  # a result that does not say: assume the worst


def _cancel_created(context: ToolContext, effect: DoneEffect) -> str:
    event = effect.output.get("event") or {}
    event_id = event.get("id")
    if not event_id:
        raise ToolError("the created event's id is not in its result")
    context.workspace.calendar.cancel_event(str(event_id), notify=False)
    return f'Undone: the event "{event.get("title", event_id)}" was removed from your calendar.'


def _unarchive(context: ToolContext, effect: DoneEffect) -> str:
    original = str(effect.call.arguments["email_id"])
    archived = str(effect.output.get("email_id") or original)
    folder = original.rpartition("/")[0] or "INBOX"
    move_back = getattr(context.workspace.mail, "unarchive", None)
    if move_back is None:
        raise ToolError("this mailbox cannot move messages back out of the archive")
    new_id = move_back(archived, folder)
    return f"Undone: the email is back in {folder} (id {new_id})."


def _unmark(context: ToolContext, effect: DoneEffect) -> str:
    email_id, read = str(effect.call.arguments["email_id"]), bool(effect.call.arguments["read"])
    context.workspace.mail.mark_read(email_id, not read)
    return f"Undone: the email {email_id} is marked {'unread' if read else 'read'} again."


def _delete_draft(context: ToolContext, effect: DoneEffect) -> str:
    draft_id = effect.output.get("draft_id")
    delete = getattr(context.workspace.mail, "delete_draft", None)
    if not draft_id or delete is None:
        raise ToolError("this mailbox cannot delete drafts")
    delete(str(draft_id))
    return f"Undone: the draft {draft_id} was deleted (it had not been sent)."


def _forget_remembered(context: ToolContext, effect: DoneEffect) -> str:
    from morrow.memory.errors import NotStoredError
    from morrow.memory.facts import Facts

    fact_id = str(effect.output.get("fact_id", ""))
    if context.store is None or not fact_id.isdigit():
        raise ToolError("the remembered fact cannot be found")
    try:
        gone = Facts(context.store).forget(int(fact_id))
    except NotStoredError:
        raise ToolError(f"fact {fact_id} is already forgotten") from None
    except MemoryStoreError as exc:
        raise ToolError(str(exc)) from None
    return f'Undone: forgot "{gone.text}".'


_INVERSES: dict[str, Inverse] = {
    "create_event": _cancel_created,
    "archive_email": _unarchive,
    "mark_email": _unmark,
    "draft_email": _delete_draft,
    "remember": _forget_remembered,
}
