"""What one tool call may use: the typed context every tool function takes first.

As pydantic-ai's ``RunContext``: the caller of the loop builds one :class:`ToolContext` per turn
(the world, the store, the session and what the user said), the loop derives one per call from
it (:meth:`ToolContext.for_call`, adding the call id) and the effect journal adds the
idempotency key it wrote down before the call (:meth:`ToolContext.with_effect_key`). The
context is frozen: nothing a tool does changes what the next call sees, and nothing travels
beside it (no mutable workspace attribute, no context variable).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from morrow.memory.records import UserText
from morrow.memory.store import Store
from morrow.tools.workspace import Workspace


@dataclass(frozen=True)
class ToolContext:
    """The context of one tool call (or, before :meth:`for_call`, of one turn).

    Attributes:
        workspace: the calendar and mailbox, the user's zone, clock, working hours and address.
        store: the process's store (long-term memory, the effect journal); None where there is
            none (a bare test, a benchmark), and then the memory tools say so.
        session_id: the conversation under way; None outside one (``morrow tools call``), where
            nothing can be remembered because the user said nothing.
        said: the user's messages of the turn under way, which are not in the store yet; facts
            may rest on them.
        call_id: the tool call being run ("" for a turn's context).
        effect_key: the idempotency key the effect journal chose for this call before it ran
            (an email's Message-ID, an event's UID): the tool must use it as the effect's id.
    """

    workspace: Workspace
    store: Store | None = None
    session_id: str | None = None
    said: tuple[UserText, ...] = ()
    call_id: str = ""
    effect_key: str | None = None

    def for_call(self, call_id: str) -> ToolContext:
        """This context for the call ``call_id`` (without an effect key)."""
        return replace(self, call_id=call_id, effect_key=None)

    def with_effect_key(self, key: str | None) -> ToolContext:
        """This context with the key the journal wrote down for the call."""
        return replace(self, effect_key=key)

    def user_words(self) -> list[UserText]:
        """Everything the user wrote in this session: stored messages and the turn under way.

        Raises:
            MemoryStoreError: the store could not be read.
        """
        if self.store is None or self.session_id is None:
            return list(self.said)
        stored = self.store.user_texts(self.session_id)
        known = {s.ref for s in stored}
        return stored + [s for s in self.said if s.ref not in known]
