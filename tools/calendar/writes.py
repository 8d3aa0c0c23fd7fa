"""The calendar tools that change things: create, update, cancel, respond.

Effects (DESIGN.md): each is a ``write`` unless it emails other people, then a ``send``. Whether
it does is visible in the arguments the approval gate shows: ``attendees`` with
``send_invitations``, ``send_updates`` (the event's attendees, those added and those removed),
``notify`` (the attendees of a cancelled event); an answer always goes to the organizer.
Notifications are opt-in: without the flag a change is silent, so the default is the reversible
``write``.

Recurring events: an occurrence's id changes that occurrence only; the event's ``series_id``
(from list_events or get_event) changes the whole series. This is how the model asks for
"every occurrence" without an extra argument.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

from pydantic import Field

from morrow.tools.base import Effect, Idempotency, Tool, tool, with_argument
from morrow.tools.calendar.backend import Change, Event, EventChanges, NewEvent, Response
from morrow.tools.calendar.labels import label_change
from morrow.tools.calendar.times import Email, When, localize
from morrow.tools.context import ToolContext
from morrow.tools.delivery import delivery_of
from morrow.tools.errors import NotFoundError, ToolRetry
from morrow.tools.workspace import Workspace

MAX_LENGTH = timedelta(days=366)

Title = Annotated[str, Field(min_length=1, max_length=500)]


def _create_effect(args: Any) -> Effect:
    return "send" if args.send_invitations and args.attendees else "write"


def _update_effect(args: Any) -> Effect:
    return "send" if args.send_updates else "write"


def _cancel_effect(args: Any) -> Effect:
    return "send" if args.notify else "write"


def _create_preview(ctx: ToolContext, args: Any) -> dict[str, Any]:
    attendees = _unique(args.attendees or [])
    shown: dict[str, Any] = {
        "title": args.title,
        "start": args.start.astimezone(ctx.workspace.timezone).isoformat(),
        "end": args.end.astimezone(ctx.workspace.timezone).isoformat(),
        "attendees": attendees,
    }
    shown.update({k: v for k, v in (("location", args.location),) if v})
    if getattr(args, "calendar", None):
        shown["calendar"] = args.calendar
    if args.description:
        shown["description"] = args.description
    return _told(ctx.workspace, attendees if args.send_invitations else [], shown)


def _existing(workspace: Workspace, event_id: str) -> Event:
    return localize(workspace, workspace.calendar.get_event(event_id))


def _update_preview(ctx: ToolContext, args: Any) -> dict[str, Any]:
    current = _existing(ctx.workspace, args.event_id)
    added, removed = _unique(args.add_attendees or []), _unique(args.remove_attendees or [])
    kept = [a for a in current.attendees if a.casefold() not in {r.casefold() for r in removed}]
    after = _unique([*kept, *added])
    shown = _event_shown(current)
    shown["attendees_after"] = after
    told = _unique([*current.attendees, *added]) if args.send_updates else []
    return _told(ctx.workspace, told, shown)


def _cancel_preview(ctx: ToolContext, args: Any) -> dict[str, Any]:
    current = _existing(ctx.workspace, args.event_id)
    shown = _event_shown(current)
    return _told(ctx.workspace, list(current.attendees) if args.notify else [], shown)


def _respond_preview(ctx: ToolContext, args: Any) -> dict[str, Any]:
    current = _existing(ctx.workspace, args.event_id)
    shown = _event_shown(current)
    return _told(ctx.workspace, [current.organizer] if current.organizer else [], shown)


def _told(workspace: Workspace, wanted: list[str], shown: dict[str, Any]) -> dict[str, Any]:
    """``shown`` with who the backend really emails of ``wanted``, and how (or why nobody).

    ``addressed`` keeps ``wanted`` whatever the backend sends: what the gate judges.

    The calendar's own fact (:func:`~morrow.tools.delivery.delivery_of`): the local file
    sends nothing, so asking for invitations there tells nobody, and the preview says so.
    """
    delivery = delivery_of(workspace.calendar)
    shown["notified"] = wanted if delivery.sends else []
    # whom the change addresses, whatever this backend delivers: the gate judges these, so an
    # action is as safe on the local file as it would be on a calendar that does send
    shown["addressed"] = wanted
    if wanted:
        shown["delivery"] = delivery.how
    return shown


def _event_shown(event: Event) -> dict[str, Any]:
    """The event as it is now: what a change, a cancellation or an answer applies to."""
    shown: dict[str, Any] = {
        "event": event.title,
        "when": f"{event.start.isoformat()} to {event.end.isoformat()}",
        "organizer": event.organizer,
        "attendees": list(event.attendees),
    }
    return {k: v for k, v in shown.items() if v is not None}


def _new_uid(ctx: ToolContext, args: Any) -> str:
    return uuid.uuid4().hex


def _on_calendar(ctx: ToolContext, uid: str) -> bool | None:
    """True when the event is there; False when a local file proves it never was created."""
    calendar = ctx.workspace.calendar
    try:
        calendar.get_event(uid)
    except NotFoundError:
        return False if getattr(calendar, "written_whole", False) else None
    return True


@tool(
    effect="send",
    effect_of=_create_effect,
    preview=_create_preview,
    idempotency=Idempotency(key=_new_uid, find=_on_calendar),
)
def create_event(
    ctx: ToolContext,
    title: Title,
    start: When,
    end: When,
    attendees: list[Email] | None = None,
    location: str | None = None,
    description: str | None = None,
    send_invitations: bool = False,
) -> Change:
    """Create an event on the user's calendar.

    It is kept in the user's time zone unless start names another zone. Attendees are added
    without email unless send_invitations is true.

    Args:
        ctx: the user's calendar, zone and clock (not part of the schema).
        title: what the event is called.
        start: ISO 8601 with offset; append an IANA zone in brackets to keep the event in that
            zone, e.g. 2025-03-10T09:00:00-04:00[America/New_York].
        end: when it ends (exclusive), after start.
        attendees: email addresses of the people to invite.
        location: where it takes place.
        description: notes for the event.
        send_invitations: email the invitation to the attendees.
    """
    return _create(ctx, title, start, end, attendees, location, description, send_invitations)


def _create(
    ctx: ToolContext,
    title: str,
    start: datetime,
    end: datetime,
    attendees: list[str] | None = None,
    location: str | None = None,
    description: str | None = None,
    send_invitations: bool = False,
    calendar: str | None = None,
) -> Change:
    _check_span(start, end)
    new = NewEvent(
        # chosen before the call (the effect journal wrote it down), so a create repeated after
        # a crash finds the event instead of doubling it
        uid=ctx.effect_key or uuid.uuid4().hex,
        title=title,
        start=start,
        end=end,
        attendees=_unique(attendees or []),
        location=location or None,
        description=description or None,
        calendar=calendar,
    )
    notify = send_invitations and bool(new.attendees)
    return _localized(ctx.workspace, ctx.workspace.calendar.create_event(new, notify=notify))


def create_event_choosing(names: list[str], default: str) -> Tool:
    """``create_event`` with a ``calendar`` argument: which of several calendars it goes in.

    Offered only when the user has more than one calendar morrow may write to, so with one
    calendar the tool's schema is the one recorded trajectories know.
    """
    choice: Any = Literal.__getitem__(tuple(names))  # the names, as an enum in the schema
    described = f"which calendar: {', '.join(names)} (default: {default})"
    return with_argument(create_event, "calendar", choice | None, described, _create)


@tool(effect="send", effect_of=_update_effect, preview=_update_preview)
def update_event(
    ctx: ToolContext,
    event_id: str,
    title: Title | None = None,
    start: When | None = None,
    end: When | None = None,
    location: str | None = None,
    description: str | None = None,
    add_attendees: list[Email] | None = None,
    remove_attendees: list[Email] | None = None,
    send_updates: bool = False,
) -> Change:
    """Change an event; only the fields given change.

    An occurrence's id changes that occurrence only; to change every occurrence of a recurring
    event, pass its series_id. With start alone the event keeps its length.

    Args:
        ctx: the user's calendar, zone and clock (not part of the schema).
        event_id: the id from list_events or get_event (or a series_id).
        title: new title.
        start: new start, ISO 8601 with offset (a bracketed IANA zone moves the event into it).
        end: new end (exclusive).
        location: new location; an empty string removes it.
        description: new notes; an empty string removes them.
        add_attendees: email addresses to invite.
        remove_attendees: email addresses to take off the event.
        send_updates: email the change to the attendees (also those added or removed).
    """
    changes = EventChanges(
        title=title,
        start=start,
        end=end,
        location=location,
        description=description,
        add_attendees=_unique(add_attendees or []),
        remove_attendees=_unique(remove_attendees or []),
    )
    if not changes.model_dump(exclude_defaults=True):
        raise ToolRetry("nothing to change: give at least one field to change")
    current = ctx.workspace.calendar.get_event(event_id)
    new_start = start or current.start
    length = current.end.astimezone(UTC) - current.start.astimezone(UTC)  # elapsed, not wall
    new_end = end or new_start.astimezone(UTC) + length
    _check_span(new_start, new_end)
    present = {a.casefold() for a in current.attendees}
    absent = [a for a in changes.remove_attendees if a.casefold() not in present]
    if absent:
        raise ToolRetry(f"not attendees of this event: {', '.join(absent)}")
    change = ctx.workspace.calendar.update_event(event_id, changes, notify=send_updates)
    return _localized(ctx.workspace, change)


@tool(effect="send", effect_of=_cancel_effect, preview=_cancel_preview)
def cancel_event(ctx: ToolContext, event_id: str, notify: bool = False) -> Change:
    """Cancel an event and remove it from the calendar.

    An occurrence's id cancels that occurrence only; a series_id cancels every occurrence.

    Args:
        ctx: the user's calendar, zone and clock (not part of the schema).
        event_id: the id from list_events or get_event (or a series_id).
        notify: email the cancellation to the attendees.
    """
    return _localized(ctx.workspace, ctx.workspace.calendar.cancel_event(event_id, notify=notify))


@tool(effect="send", preview=_respond_preview)
def respond_to_event(
    ctx: ToolContext,
    event_id: str,
    response: Response,
    comment: Annotated[str, Field(max_length=2000)] | None = None,
) -> Change:
    """Answer an invitation as the user; the organizer is told.

    An occurrence's id answers for that occurrence only; a series_id answers for all of them.

    Args:
        ctx: the user's calendar, zone and clock (not part of the schema).
        event_id: the id from list_events or get_event (or a series_id).
        response: accepted, declined or tentative.
        comment: a short note to the organizer.
    """
    change = ctx.workspace.calendar.respond_to_event(event_id, response, comment or None)
    return _localized(ctx.workspace, change)


def _check_span(start: Any, end: Any) -> None:
    if end <= start:
        raise ToolRetry("end must be after start")
    if end - start > MAX_LENGTH:
        raise ToolRetry("an event may last at most 366 days")


def _unique(addresses: list[str]) -> list[str]:
    seen: dict[str, str] = {}
    for address in addresses:
        seen.setdefault(address.casefold(), address)
    return list(seen.values())


def _localized(workspace: Workspace, change: Change) -> Change:
    localized = change.model_copy(update={"event": localize(workspace, change.event)})
    return label_change(localized, workspace.user_email)
