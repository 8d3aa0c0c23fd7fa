"""The calendar tools the model reads with: ``list_events`` and ``get_event``."""

from __future__ import annotations

from datetime import timedelta

from pydantic import AwareDatetime

from tools.base import tool
from tools.calendar.backend import Event
from tools.errors import ToolRetry
from tools.workspace import Workspace

MAX_WINDOW = timedelta(days=366)


@tool(effect="read")
def list_events(
    workspace: Workspace,
    start: AwareDatetime,
    end: AwareDatetime,
    query: str | None = None,
) -> list[Event]:
    """List the events on the user's calendar between two times, earliest first.

    Every event that overlaps the period is included, also one that began before it. Each
    occurrence of a recurring event is listed with its own id. Times are in the user's time
    zone; all-day events have all_day set and their dates in start_date and end_date (exclusive).
    A timed event that overlaps another names it in conflicts_with.

    Args:
        workspace: the user's calendar, zone and clock (not part of the schema).
        start: beginning of the period, ISO 8601 with offset, e.g. 2025-03-10T00:00:00+01:00.
        end: end of the period (exclusive), after start and at most 366 days later.
        query: only events whose title, description, location or attendees contain this text
            (case-insensitive).
    """
    if end <= start:
        raise ToolRetry("end must be after start")
    if end - start > MAX_WINDOW:
        raise ToolRetry("the period is longer than 366 days: ask for a shorter one")
    events = _localized(workspace, workspace.calendar.list_events(start, end))
    events = mark_conflicts(events)
    if query:
        events = [event for event in events if _matches(event, query)]
    return events


@tool(effect="read")
def get_event(workspace: Workspace, event_id: str) -> Event:
    """Get one event by its id, with its description, attendees and conflicts.

    Args:
        workspace: the user's calendar, zone and clock (not part of the schema).
        event_id: the id of an event, as returned by list_events.
    """
    event = _localized(workspace, [workspace.calendar.get_event(event_id)])[0]
    if event.all_day or event.status == "cancelled" or event.end <= event.start:
        return event
    around = _localized(workspace, workspace.calendar.list_events(event.start, event.end))
    others = [other for other in around if other.id != event.id]
    marked = mark_conflicts([event, *others])
    return next(candidate for candidate in marked if candidate.id == event.id)


def mark_conflicts(events: list[Event]) -> list[Event]:
    """Sort events by start and fill ``conflicts_with`` for overlapping timed events.

    All-day events never conflict: a holiday or a trip does not make a meeting double-booked.
    """
    ordered = sorted(events, key=lambda event: (event.start, event.end, event.title))
    conflicts: dict[str, list[str]] = {event.id: [] for event in ordered}
    timed = [event for event in ordered if not event.all_day and event.status != "cancelled"]
    for index, event in enumerate(timed):
        for other in timed[index + 1 :]:
            if other.start >= event.end and other.start != event.start:
                break  # sorted by start: nothing later overlaps either
            conflicts[event.id].append(other.id)
            conflicts[other.id].append(event.id)
    return [event.model_copy(update={"conflicts_with": conflicts[event.id]}) for event in ordered]


def _localized(workspace: Workspace, events: list[Event]) -> list[Event]:
    zone = workspace.timezone
    return [
        event.model_copy(
            update={"start": event.start.astimezone(zone), "end": event.end.astimezone(zone)}
        )
        for event in events
    ]


def _matches(event: Event, query: str) -> bool:
    needle = query.casefold().strip()
    fields = [event.title, event.description, event.location, *event.attendees]
    return any(needle in field.casefold() for field in fields if field)


CALENDAR_TOOLS = [list_events, get_event]
"""The calendar tools, in the order the model sees them."""
