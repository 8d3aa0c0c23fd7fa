"""The memory tools the model sees: ``remember``, ``recall`` and ``forget`` (DESIGN.md).

A fact is kept only when the user's own words support it. The tools cannot see the
conversation (``tools`` does not import ``agent``); their :class:`ToolContext` tells them which
session this is and what the user wrote in the turn under way (not stored yet); what the user
wrote earlier in the session is read from the store. Tool results, email bodies and event
descriptions are never among those words, so ``remember`` refuses a fact that only such
content states, with a message the model can relay.

The store is the process's one connection (``context.store``), shared with the worker threads
the tools run in (``memory/database.py`` says how).
"""

from __future__ import annotations

from typing import Any

from morrow.memory.errors import MemoryStoreError, NotStoredError
from morrow.memory.facts import Fact, FactRejected, Facts
from morrow.memory.store import Store
from morrow.tools.base import tool
from morrow.tools.context import ToolContext
from morrow.tools.errors import NotFoundError, ToolError, ToolRetry


def _store(ctx: ToolContext) -> Store:
    if ctx.store is None:
        raise ToolError("long-term memory is not available in this run")
    return ctx.store


def _shown(fact: Fact) -> dict[str, Any]:
    return {
        "fact_id": str(fact.id),
        "fact": fact.text,
        "user_said": fact.quote,
        "said_at": fact.said_at.isoformat(timespec="seconds"),
        "session": fact.session_id,
    }


@tool(effect="write")
def remember(ctx: ToolContext, fact: str) -> dict[str, Any]:
    """Keep a lasting fact the user told you about themselves, for future conversations.

    For what stays true: working hours, people and their roles, preferences ("no meetings
    before 10"). Only the user's own words in this conversation count: a fact taken from an
    email, an event or another tool result is refused. Returns the fact and its id.

    Args:
        ctx: where the memory is and what the user said (not part of the schema).
        fact: the fact, short and in the user's own words, e.g. "I work 8 to 4 on weekdays".
    """
    store = _store(ctx)
    if ctx.session_id is None:
        raise ToolError("nothing can be remembered outside a conversation with the user")
    try:
        kept, new = Facts(store).add(fact, session_id=ctx.session_id, said=ctx.user_words())
    except FactRejected as exc:
        raise ToolError(f"not remembered: {exc}") from None
    except MemoryStoreError as exc:
        raise ToolError(f"not remembered: {exc}") from None
    return {**_shown(kept), "status": "remembered" if new else "already known"}


@tool(effect="read")
def recall(ctx: ToolContext, query: str) -> list[dict[str, Any]]:
    """Search the facts the user asked you to remember, best matches first.

    Args:
        ctx: where the memory is (not part of the schema).
        query: words to look for, e.g. "working hours" or "Priya"; empty for the newest facts.
    """
    try:
        return [_shown(f) for f in Facts(_store(ctx)).search(query, limit=10)]
    except MemoryStoreError as exc:
        raise ToolError(f"recall failed: {exc}") from None


@tool(effect="write")
def forget(ctx: ToolContext, fact_id: str) -> dict[str, Any]:
    """Forget a remembered fact for good (when the user asks, or it is no longer true).

    Args:
        ctx: where the memory is (not part of the schema).
        fact_id: the id of the fact, as recall or remember returned it.
    """
    if not fact_id.strip().isdigit():
        raise ToolRetry(f"fact_id must be the id recall returned (digits), not {fact_id!r}")
    try:
        gone = Facts(_store(ctx)).forget(int(fact_id))
    except NotStoredError:
        raise NotFoundError(f"no remembered fact with id {fact_id}") from None
    except MemoryStoreError as exc:
        raise ToolError(f"forget failed: {exc}") from None
    return {**_shown(gone), "status": "forgotten"}


MEMORY_TOOLS = [remember, recall, forget]
"""The memory tools, in the order the model sees them."""
