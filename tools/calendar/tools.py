"""The calendar tools that read: ``list_events``, ``get_event``, ``find_free_slots``.

The tools that change the calendar are in :mod:`morrow.tools.calendar.writes`; ``CALENDAR_TOOLS``
holds all seven in the contract's order (DESIGN.md, "The tools the model sees").
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from pydantic import BaseModel, Field

from morrow.tools.base import tool
from morrow.tools.calendar.backend import Event, notes_of
from morrow.tools.calendar.labels import label_event
from morrow.tools.calendar.slots import WorkingHours, blocks, ceil_to, free_slots, mark_conflicts
from morrow.tools.calendar.times import Email, When, localize
from morrow.tools.calendar.writes import cancel_event, create_event, respond_to_event, update_event
from morrow.tools.context import ToolContext
from morrow.tools.errors import ToolRetry
from morrow.tools.workspace import Workspace

MAX_WINDOW = timedelta(days=366)
MAX_SLOT_WINDOW = timedelta(days=62)
MAX_SLOTS = 40
MAX_QUERY = 500


class EventList(BaseModel):
    """``list_events``' result when something could not be listed: the events, and why not all."""

    events: list[Event]
    notes: list[str]


@tool(effect="read")
def list_events(
    ctx: ToolContext,
    start: When,
    end: When,
    query: str | None = None,
) -> list[Event] | EventList:
    """List the events overlapping a period (also those begun before it), earliest first.

    Each occurrence of a recurring event has its own id and its series' series_id. Times are
    in the user's zone (zone_start and zone_end give an event's own zone); all-day events have
    all_day and start_date/end_date (end exclusive). conflicts_with names overlapping events.
    When an event could not be read or a series repeats too often to list in full, the
    result is {"events": [...], "notes": [...]}, the notes saying what is missing.

    Args:
        ctx: the user's calendar, zone and clock (not part of the schema).
        start: beginning of the period, ISO 8601 with offset, e.g. 2025-03-10T00:00:00+01:00.
        end: end of the period (exclusive), after start and at most 366 days later.
        query: only events whose title, description, location or attendees contain this text
            (case-insensitive).
    """
    if end <= start:
        raise ToolRetry("end must be after start")
    if end - start > MAX_WINDOW:
        raise ToolRetry("the period is longer than 366 days: ask for a shorter one")
    if query is not None and len(query) > MAX_QUERY:
        raise ToolRetry(f"query is longer than {MAX_QUERY} characters: search for a few words")
    listed = ctx.workspace.calendar.list_events(start, end)
    events = mark_conflicts([localize(ctx.workspace, e) for e in listed])
    if query:
        events = [event for event in events if _matches(event, query)]
    labelled = [label_event(event, ctx.workspace.user_email) for event in events]
    notes = notes_of(listed)
    return EventList(events=labelled, notes=notes) if notes else labelled


@tool(effect="read")
def get_event(ctx: ToolContext, event_id: str) -> Event:
    """Get one event by its id, with its description, attendees and conflicts.

    Args:
        ctx: the user's calendar, zone and clock (not part of the schema).
        event_id: the id of an event (or the series_id of a recurring event), as returned by
            list_events.
    """
    event = localize(ctx.workspace, ctx.workspace.calendar.get_event(event_id))
    if event.all_day or event.status == "cancelled" or event.end <= event.start:
        return label_event(event, ctx.workspace.user_email)
    around = [
        localize(ctx.workspace, e)
        for e in ctx.workspace.calendar.list_events(event.start, event.end)
    ]
    others = [other for other in around if other.id != event.id]
    marked = mark_conflicts([event, *others])
    found = next(candidate for candidate in marked if candidate.id == event.id)
    return label_event(found, ctx.workspace.user_email)


class Slot(BaseModel):
    """A stretch of free time; any meeting of the asked length that fits in it is free."""

    start: When
    end: When


class FreeSlots(BaseModel):
    """The result of ``find_free_slots``."""

    slots: list[Slot]
    working_hours: str
    unknown_availability: dict[str, str] | None = None
    truncated: bool | None = None
    notes: list[str] | None = None


@tool(effect="read")
def find_free_slots(
    ctx: ToolContext,
    duration_minutes: Annotated[int, Field(ge=5, le=1440)],
    start: When,
    end: When,
    attendees: list[Email] | None = None,
) -> FreeSlots:
    """Find free times for a meeting within the user's working hours, earliest first.

    Each slot is a free stretch of at least duration_minutes; the meeting may start anywhere
    in it that leaves time to finish. Events marked free or declined do not block; the past is
    skipped. Attendees' busy times count where the calendar can see them;
    unknown_availability names those it cannot.

    Args:
        ctx: the user's calendar, zone and clock (not part of the schema).
        duration_minutes: length of the meeting, 5 to 1440.
        start: earliest time, ISO 8601 with offset.
        end: latest end (exclusive), at most 62 days after start.
        attendees: email addresses of people who must be free as well.
    """
    workspace = ctx.workspace
    if end <= start:
        raise ToolRetry("end must be after start")
    if end - start > MAX_SLOT_WINDOW:
        raise ToolRetry("the period is longer than 62 days: ask for a shorter one")
    start = max(start, ceil_to(workspace.now(), 15))
    listed = workspace.calendar.list_events(start, end)
    busy = [(e.start, e.end) for e in listed if blocks(e)]
    unknown: dict[str, str] = {}
    if attendees and end > start:
        others = workspace.calendar.free_busy(sorted(set(attendees)), start, end)
        unknown = others.unknown
        busy += [interval for intervals in others.busy.values() for interval in intervals]
    hours = WorkingHours(
        workspace.timezone, workspace.work_start, workspace.work_end, workspace.work_days
    )
    found = free_slots(hours, busy, start, end, timedelta(minutes=duration_minutes))
    zone = workspace.timezone
    return FreeSlots(
        slots=[Slot(start=a.astimezone(zone), end=b.astimezone(zone)) for a, b in found][
            :MAX_SLOTS
        ],
        working_hours=_describe_hours(workspace),
        unknown_availability=unknown or None,
        truncated=True if len(found) > MAX_SLOTS else None,
        notes=notes_of(listed) or None,
    )


def _describe_hours(workspace: Workspace) -> str:
    names = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]
    days = ",".join(names[d] for d in sorted(workspace.work_days))
    span = f"{workspace.work_start:%H:%M}-{workspace.work_end:%H:%M}"
    return f"{days} {span} {workspace.timezone.key}"


def _matches(event: Event, query: str) -> bool:
    needle = query.casefold().strip()
    fields = [event.title, event.description, event.location, *event.attendees]
    return any(needle in field.casefold() for field in fields if field)


CALENDAR_TOOLS = [
    list_events,
    get_event,
    find_free_slots,
    create_event,
    update_event,
    cancel_event,
    respond_to_event,
]
"""The calendar tools, in the order the model sees them."""
