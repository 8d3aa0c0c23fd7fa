"""What a briefing is made of, read from the backends: the day, conflicts, free time, mail.

:func:`gather` reads today's agenda (conflicts marked, free blocks within working hours),
tomorrow's first commitment, the mail waiting on the user and the reminders due today
(:mod:`morrow.agent.brief.waiting`) into a :class:`Briefing`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Literal

from morrow.agent.brief.waiting import Reminder, reminders, waiting_mail
from morrow.memory.store import Store
from morrow.tools.calendar.backend import Event, notes_of
from morrow.tools.calendar.slots import mark_conflicts
from morrow.tools.email.backend import EmailSummary
from morrow.tools.workspace import Workspace

Format = Literal["md", "text", "json"]


@dataclass
class Briefing:
    """What a briefing is made of, gathered from the backends."""

    day: date
    timezone: str
    events: list[Event]
    free: list[tuple[datetime, datetime]]
    tomorrow_first: Event | None
    waiting: list[EmailSummary]
    asked: list[EmailSummary]
    reminders: list[Reminder] = field(default_factory=list)
    text: str = ""
    source: Literal["model", "digest"] = "digest"
    notes: list[str] = field(default_factory=list)

    @property
    def conflicts(self) -> list[tuple[Event, Event]]:
        """Pairs of today's events that overlap, each pair once."""
        by_id = {e.id: e for e in self.events}
        pairs = []
        for event in self.events:
            for other_id in event.conflicts_with:
                if event.id < other_id and other_id in by_id:
                    pairs.append((event, by_id[other_id]))
        return pairs


def gather(workspace: Workspace, day: date, store: Store | None = None) -> Briefing:
    """Read the day's calendar, the mail waiting on the user and the reminders due.

    Without a store there are no reminders (the facts are in it).
    """
    zone = workspace.timezone
    start = datetime.combine(day, time(0), zone)
    end = start + timedelta(days=1)
    today = workspace.calendar.list_events(start, end)
    events = _sorted(today, workspace)
    later = workspace.calendar.list_events(end, end + timedelta(days=1))
    tomorrow = [e for e in _sorted(later, workspace) if not e.all_day]
    waiting, asked = waiting_mail(workspace, day)
    due = reminders(store, day, zone) if store is not None else []
    notes = list(dict.fromkeys([*notes_of(today), *notes_of(later)]))  # once each, in order
    return Briefing(
        day=day,
        timezone=str(zone),
        events=events,
        free=_free_blocks(events, workspace, day),
        tomorrow_first=tomorrow[0] if tomorrow else None,
        waiting=waiting,
        asked=asked,
        reminders=due,
        notes=notes,
    )


def _sorted(events: list[Event], workspace: Workspace) -> list[Event]:
    local = [
        e.model_copy(
            update={
                "start": e.start.astimezone(workspace.timezone),
                "end": e.end.astimezone(workspace.timezone),
            }
        )
        for e in events
        if (e.status or "").lower() != "cancelled"
    ]
    return mark_conflicts(sorted(local, key=lambda e: (not e.all_day, e.start, e.title)))


def _free_blocks(
    events: list[Event], workspace: Workspace, day: date
) -> list[tuple[datetime, datetime]]:
    zone = workspace.timezone
    cursor = datetime.combine(day, workspace.work_start, zone)
    day_end = datetime.combine(day, workspace.work_end, zone)
    free = []
    for event in (e for e in events if not e.all_day):
        if event.start > cursor:
            free.append((cursor, min(event.start, day_end)))
        cursor = max(cursor, event.end)
        if cursor >= day_end:
            break
    if cursor < day_end:
        free.append((cursor, day_end))
    return [(a, b) for a, b in free if b - a >= timedelta(minutes=30)]
