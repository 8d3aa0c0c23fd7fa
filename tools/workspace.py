"""The world the tools act on: the user's calendar, mailbox, time zone and clock.

Every tool function takes a :class:`~morrow.tools.context.ToolContext` first, which holds the
workspace. Tests build one over a temporary .ics and Maildir with a fixed clock; the CLI builds
one from the configuration. The workspace is the same for every call of a run; what changes per
turn or per call (the session, the user's words, the call id) is in the context.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, time
from pathlib import Path
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

if TYPE_CHECKING:
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

    def now(self) -> datetime:
        """The current time in the user's zone."""
        return self.clock().astimezone(self.timezone)
