"""Free time: working hours minus busy intervals, day by day in the user's zone.

Working hours are wall-clock times of the user's zone on working days, so in a week with a DST
change the day still starts at 09:00 local time (the UTC offset differs). Interval arithmetic is
done on UTC instants: subtracting two aware datetimes of the same zone would give wall-clock
differences, wrong across a DST change.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from morrow.tools.calendar.backend import Event

Interval = tuple[datetime, datetime]


@dataclass(frozen=True)
class WorkingHours:
    """When the user can meet.

    Attributes:
        zone: the user's zone.
        start: start of the working day, local time.
        end: end of the working day, local time.
        days: working weekdays (Monday is 0).
    """

    zone: ZoneInfo
    start: time
    end: time
    days: frozenset[int]

    def windows(self, start: datetime, end: datetime) -> list[Interval]:
        """The working-hour windows that overlap ``[start, end)``, clipped to it (UTC)."""
        first = start.astimezone(self.zone).date()
        last = end.astimezone(self.zone).date()
        out: list[Interval] = []
        day = first
        while day <= last:
            if day.weekday() in self.days:
                begin, finish = self._day(day)
                begin, finish = max(begin, _utc(start)), min(finish, _utc(end))
                if begin < finish:
                    out.append((begin, finish))
            day += timedelta(days=1)
        return out

    def _day(self, day: date) -> Interval:
        # zoneinfo resolves a wall-clock time that a DST change skips or repeats (fold=0).
        begin = datetime.combine(day, self.start, tzinfo=self.zone)
        finish = datetime.combine(day, self.end, tzinfo=self.zone)
        return _utc(begin), _utc(finish)


def free_slots(
    hours: WorkingHours,
    busy: Iterable[Interval],
    start: datetime,
    end: datetime,
    duration: timedelta,
) -> list[Interval]:
    """Free stretches of at least ``duration`` within working hours in ``[start, end)``.

    Args:
        hours: the user's working hours.
        busy: busy intervals (aware, any zone; they may overlap and span days).
        start: earliest start (aware).
        end: latest end (aware).
        duration: the shortest stretch worth returning.

    Returns:
        Maximal free intervals in UTC, earliest first.
    """
    blocked = merge(busy)
    out: list[Interval] = []
    for window in hours.windows(start, end):
        out.extend(piece for piece in subtract(window, blocked) if piece[1] - piece[0] >= duration)
    return out


def merge(intervals: Iterable[Interval]) -> list[Interval]:
    """Sorted, non-overlapping UTC intervals covering the same time."""
    ordered = sorted((_utc(a), _utc(b)) for a, b in intervals if b > a)
    merged: list[Interval] = []
    for begin, finish in ordered:
        if merged and begin <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], finish))
        else:
            merged.append((begin, finish))
    return merged


def subtract(window: Interval, blocked: list[Interval]) -> list[Interval]:
    """The parts of ``window`` not covered by the merged ``blocked`` intervals."""
    begin, finish = window
    pieces: list[Interval] = []
    for busy_start, busy_end in blocked:
        if busy_end <= begin:
            continue
        if busy_start >= finish:
            break
        if busy_start > begin:
            pieces.append((begin, busy_start))
        begin = max(begin, busy_end)
    if begin < finish:
        pieces.append((begin, finish))
    return pieces


def ceil_to(moment: datetime, minutes: int) -> datetime:
    """The next instant on a ``minutes`` boundary (itself when already on one)."""
    utc = _utc(moment).replace(second=0, microsecond=0)
    if utc < _utc(moment):
        utc += timedelta(minutes=1)
    remainder = (utc.hour * 60 + utc.minute) % minutes
    return utc + timedelta(minutes=(minutes - remainder) % minutes)


def _utc(moment: datetime) -> datetime:
    return moment.astimezone(UTC)


def blocks(event: Event) -> bool:
    """Whether an event makes the user busy."""
    return not (event.status == "cancelled" or event.free or event.my_response == "declined")


def mark_conflicts(events: list[Event]) -> list[Event]:
    """Sort events by start and fill ``conflicts_with`` for overlapping timed events.

    All-day events never conflict: a holiday or a trip does not make a meeting double-booked;
    neither do events that show the user as free or that the user declined.
    """
    ordered = sorted(events, key=lambda event: (event.start, event.end, event.title))
    conflicts: dict[str, list[str]] = {event.id: [] for event in ordered}
    timed = [event for event in ordered if not event.all_day and blocks(event)]
    for index, event in enumerate(timed):
        for other in timed[index + 1 :]:
            if other.start >= event.end and other.start != event.start:
                break  # sorted by start: nothing later overlaps either
            conflicts[event.id].append(other.id)
            conflicts[other.id].append(event.id)
    return [event.model_copy(update={"conflicts_with": conflicts[event.id]}) for event in ordered]
