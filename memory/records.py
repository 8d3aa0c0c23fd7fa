"""What goes into the store and what comes back out: small frozen records, no behaviour.

Messages travel as the JSON documents ``agent`` writes (``doc``); the store keeps them as they
are and hands them back in order. ``text`` is the plain text of a user or assistant message,
kept beside the document so the memory tools can check a fact against what the user said
without this floor having to read ``agent``'s message format.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal, NamedTuple

TurnStatus = Literal["ok", "cancelled", "error"]


@dataclass(frozen=True)
class SessionInfo:
    """One session as listed: ids, times, the model last used and its size."""

    id: str
    title: str | None
    created: datetime
    updated: datetime
    provider: str | None
    model: str | None
    turns: int
    messages: int

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> SessionInfo:
        """Build from a ``sessions`` row joined with its counts."""
        return cls(
            id=row["id"],
            title=row["title"],
            created=datetime.fromisoformat(row["created"]),
            updated=datetime.fromisoformat(row["updated"]),
            provider=row["provider"],
            model=row["model"],
            turns=row["turns"],
            messages=row["messages"],
        )


class StoredMessage(NamedTuple):  # a tuple: a long session has thousands of them
    """A stored message's outline: its place, turn, role and size (its document is separate)."""

    seq: int
    turn_id: str
    role: str
    chars: int
    tool_results: int


@dataclass(frozen=True)
class StoredSummary:
    """The summary standing for every message of a session up to ``up_to_seq``."""

    up_to_seq: int
    text: str
    model: str | None
    created: datetime

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> StoredSummary:
        """Build from a ``summaries`` row."""
        created = datetime.fromisoformat(row["created"])
        return cls(row["up_to_seq"], row["text"], row["model"], created)


@dataclass(frozen=True)
class Resumed:
    """What a session needs to continue: its latest summary and the outline of what follows.

    The documents themselves are read with :meth:`~morrow.memory.store.Store.documents`, only for
    the messages that are needed.
    """

    summary: StoredSummary | None
    messages: list[StoredMessage]


@dataclass(frozen=True)
class NewMessage:
    """A message to store: role, neutral JSON document, plain text and tool results.

    The text (of user and assistant messages) lets the memory tools check a fact against what
    the user said; the number of tool results helps estimate the message's size in a request.
    """

    role: str
    doc: str
    text: str = ""
    tool_results: int = 0


@dataclass(frozen=True)
class UsageRecord:
    """Tokens of a turn (or of a summary), with the estimate its requests were built on."""

    provider: str | None = None
    model: str | None = None
    steps: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    estimated_input_tokens: int = 0


@dataclass(frozen=True)
class NewSummary:
    """A summary written during a turn, covering the session's messages up to ``up_to_seq``."""

    text: str
    up_to_seq: int
    model: str | None
    usage: UsageRecord | None = None


@dataclass(frozen=True)
class TurnRecord:
    """Everything one turn adds to a session, written in one transaction.

    ``answered_calls`` are the ids of the tool calls whose results are among ``messages``: the
    outcomes of their effects reach the user with the turn (the journal's ``reported``, set in
    the same transaction).
    """

    id: str
    started: datetime
    status: TurnStatus
    messages: Sequence[NewMessage]
    usage: UsageRecord | None = None
    summary: NewSummary | None = None
    title: str | None = None
    answered_calls: Sequence[str] = ()


@dataclass(frozen=True)
class UserText:
    """Something the user wrote: where (``turn_id.index``), what, and when."""

    ref: str
    text: str
    at: datetime


@dataclass(frozen=True)
class Purged:
    """How much a purge removed (``usage``: rows of the usage ledger; ``effects``: journal)."""

    sessions: int
    messages: int
    facts: int
    summaries: int
    usage: int = 0
    effects: int = 0
