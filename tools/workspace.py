"""The world the tools act on: the user's calendar, mailbox, time zone and clock.

Every tool function takes a :class:`Workspace` as its first argument. Tests build one over a
temporary .ics and Maildir with a fixed clock; the CLI builds one from the configuration.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, time
from pathlib import Path
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from morrow.memory.records import UserText

if TYPE_CHECKING:
    from morrow.memory.store import Store
    from morrow.tools.calendar.backend import CalendarBackend
    from morrow.tools.email.backend import MailBackend


def system_clock() -> datetime:
    """The current time, timezone-aware (UTC)."""
    from datetime import UTC

    return datetime.now(UTC)


@dataclass
class Workspace:
    """What the tools need: backends, the user's zone and working hours, and a clock.

    Attributes:
        calendar: the calendar backend.
        mail: the mail backend.
        timezone: the user's IANA zone; times are shown to the model in it.
        clock: returns "now", timezone-aware; injected so tests and replays are deterministic.
        work_start: start of the user's working day (local time).
        work_end: end of the user's working day (local time).
        work_days: working weekdays, Monday being 0 (free slots are sought on these only).
        user_email: the user's own address, when known.
        contacts_file: the user's vCard address book, when configured.
        memory: the long-term memory store and the user's words of the turn under way (set by
            the loop's caller before each turn); None where there is no memory.
    """

    calendar: CalendarBackend
    mail: MailBackend
    timezone: ZoneInfo
    clock: Callable[[], datetime] = system_clock
    work_start: time = field(default_factory=lambda: time(9, 0))
    work_end: time = field(default_factory=lambda: time(17, 0))
    work_days: frozenset[int] = frozenset(range(5))
    user_email: str | None = None
    contacts_file: Path | None = None
    memory: MemoryAccess | None = None

    def now(self) -> datetime:
        """The current time in the user's zone."""
        return self.clock().astimezone(self.timezone)


@dataclass
class MemoryAccess:
    """What the memory tools may use in this run.

    Attributes:
        path: the store file (``<home>/morrow.sqlite``).
        session_id: the session under way; None outside a conversation (``morrow tools call``),
            where nothing can be remembered because the user said nothing.
        said: the user's messages of the turn under way, which are not in the store yet; the
            caller of the loop sets it before each turn.
    """

    path: Path
    session_id: str | None = None
    said: list[UserText] = field(default_factory=list)

    def user_words(self, store: Store) -> list[UserText]:
        """Everything the user wrote in this session: stored messages and the turn under way."""
        if self.session_id is None:
            return list(self.said)
        stored = store.user_texts(self.session_id)
        known = {s.ref for s in stored}
        return stored + [s for s in self.said if s.ref not in known]
