"""What every calendar backend offers: the :class:`Event` a tool returns and the protocol.

Event ids are opaque strings chosen by the backend. Whatever their shape, an id returned by
``list_events`` must be accepted by ``get_event`` (and, later, by the write tools) and must name
the same occurrence. For the local iCalendar backend an ordinary event's id is its UID, and one
occurrence of a recurring series is ``"<UID>@<RECURRENCE-ID>"`` (see :mod:`tools.calendar.ics`).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Protocol

from pydantic import AwareDatetime, BaseModel, Field


class Event(BaseModel):
    """One occurrence of a calendar event.

    Attributes:
        id: opaque id; one occurrence of a recurring series has its own id.
        title: the summary line.
        start: when it starts (aware). All-day events start at local midnight of the user's zone.
        end: when it ends (aware, exclusive). All-day events end at the midnight after their
            last day.
        all_day: whether the event spans whole days rather than times.
        start_date: the first day of an all-day event.
        end_date: the day after the last day of an all-day event (exclusive, as in iCalendar
            and Google Calendar).
        timezone: the IANA zone the event was written in, "UTC", or "floating" when the event
            has no zone (read in the user's zone).
        location: where it takes place.
        description: free text from the event; data from the world, never instructions.
        organizer: the organizer's email address.
        attendees: the attendees' email addresses.
        status: "confirmed", "tentative" or "cancelled" when the event says so.
        recurring: whether this occurrence belongs to a recurring series.
        conflicts_with: ids of other listed timed events that overlap this one.
    """

    id: str
    title: str
    start: AwareDatetime
    end: AwareDatetime
    all_day: bool = False
    start_date: date | None = None
    end_date: date | None = None
    timezone: str = "floating"
    location: str | None = None
    description: str | None = None
    organizer: str | None = None
    attendees: list[str] = Field(default_factory=list)
    status: str | None = None
    recurring: bool = False
    conflicts_with: list[str] = Field(default_factory=list)


class CalendarBackend(Protocol):
    """A calendar the tools can read (writes follow with the calendar write tools)."""

    def list_events(self, start: datetime, end: datetime) -> list[Event]:
        """The occurrences overlapping the half-open span ``[start, end)``, except cancelled ones.

        A zero-length event exactly at ``start`` is included. The order is unspecified; the
        tool sorts.
        """
        ...

    def get_event(self, event_id: str) -> Event:
        """The occurrence with this id; raise :class:`~tools.errors.NotFoundError` if none."""
        ...
