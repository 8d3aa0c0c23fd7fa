"""Expanding recurring events within limits, and saying what was left out.

A rule may repeat every second, for ever.

recurring-ical-events expands a series (its rule, RDATEs, EXDATEs and overrides) through
dateutil, which walks every candidate time from the series' start to the end of the period
asked for, and builds the whole list before returning any of it. ``RRULE:FREQ=SECONDLY`` with
no end, asked about a week a year after its start, is tens of millions of steps: the calendar
hangs. So before a series is expanded, the steps it would take are estimated from its rule
(:func:`steps_until`); a series is expanded only as far as :data:`MAX_STEPS` steps reach, and
only :data:`MAX_PER_SERIES` of its occurrences are kept for one answer. What is left out is
said (:class:`Expansion.cut_at`), never silently dropped.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import icalendar

from morrow.tools.errors import printable

MAX_STEPS = 200_000  # candidate times dateutil may walk for one series and one question
MAX_PER_SERIES = 2_000  # occurrences of one series in one answer
_PERIOD = {
    "SECONDLY": timedelta(seconds=1),
    "MINUTELY": timedelta(minutes=1),
    "HOURLY": timedelta(hours=1),
    "DAILY": timedelta(days=1),
    "WEEKLY": timedelta(days=7),
    "MONTHLY": timedelta(days=28),
    "YEARLY": timedelta(days=365),
}
# how many candidates a BY part can make of one period at most (a generous guess)
_SPREAD = {"BYDAY": {"YEARLY": 53, "MONTHLY": 5}, "BYWEEKNO": {"YEARLY": 7}}


@dataclass(frozen=True)
class Expansion:
    """The occurrences of one series in a period, as far as the limits allowed.

    Attributes:
        occurrences: recurring-ical-events' occurrences, earliest first.
        cut_at: None when every occurrence of the period is there; else the instant from
            which none were generated (the period was longer than the limits allow).
    """

    occurrences: list[Any]
    cut_at: datetime | None = None


def expand(
    series: Any,
    master: icalendar.Component | None,
    start: datetime,
    stop: datetime,
    zone: ZoneInfo,
    *,
    cap: int = MAX_PER_SERIES,
    steps: int = MAX_STEPS,
) -> Expansion:
    """Occurrences of ``series`` overlapping ``[start, stop)``, within the limits.

    Args:
        series: a ``recurring_ical_events.series.Series``.
        master: the component with the series' rule (None: only overrides, no rule).
        start: the period's start.
        stop: the period's end.
        zone: the user's zone, in which floating times and dates are read.
        cap: keep at most this many occurrences (the earliest).
        steps: walk the rule at most this far from its start (for an expansion from the
            series' start, about twice ``cap``: no more is kept anyway).
    """
    reach = stop
    if master is not None:
        limit = reachable(master, zone, steps)
        if limit is not None and limit < stop:
            reach = limit
    found: list[Any] = []
    if start < reach or start == reach == stop:  # an instant: what happens at it
        found = sorted(series.between(start.astimezone(zone), reach.astimezone(zone)))
    if len(found) > cap:
        return Expansion(found[:cap], _instant(found[cap].start, zone))
    return Expansion(found, reach if reach < stop else None)


def reachable(
    master: icalendar.Component, zone: ZoneInfo, steps: int = MAX_STEPS
) -> datetime | None:
    """How far the series' rule can be walked within ``steps``; None: any distance."""
    rules = master.get("RRULE")
    if rules is None:
        return None
    dtstart = master.get("DTSTART")
    if dtstart is None:
        return None
    first = _instant(dtstart.dt, zone)
    periods = [step for rule in _as_list(rules) if (step := _step(rule)) is not None]
    if not periods:
        return None
    step = min(periods)
    try:
        return first + step * steps
    except OverflowError:
        return None


def estimate(master: icalendar.Component | None, zone: ZoneInfo, stop: datetime) -> float:
    """About how many occurrences a series' rule has up to ``stop`` (COUNT respected)."""
    rules = master.get("RRULE") if master is not None else None
    dtstart = master.get("DTSTART") if master is not None else None
    if rules is None or dtstart is None:
        return 1.0
    total = 0.0
    for rule in _as_list(rules):
        step = _step(rule)
        if step is None or step <= timedelta():
            continue
        span = (stop - _instant(dtstart.dt, zone)) / step
        count = rule.get("COUNT")
        total += min(span, float(count[0])) if count else span
    return max(total, 1.0)


def _step(rule: Any) -> timedelta | None:
    """The time one candidate of the rule stands for (its period over its spread)."""
    freq = str((rule.get("FREQ") or [""])[0]).upper()
    period = _PERIOD.get(freq)
    if period is None:
        return None
    interval = max(int((rule.get("INTERVAL") or [1])[0] or 1), 1)
    spread = 1
    for part in ("BYSECOND", "BYMINUTE", "BYHOUR", "BYDAY", "BYMONTHDAY", "BYYEARDAY"):
        values = rule.get(part)
        if values:
            spread *= len(values) * _SPREAD.get(part, {}).get(freq, 1)
    if rule.get("BYMONTH") and freq == "YEARLY":
        spread *= 31 if not rule.get("BYMONTHDAY") and not rule.get("BYDAY") else 1
    return period * interval / max(spread, 1)


def describe_rule(master: icalendar.Component | None) -> str:
    """How often a series repeats, in a few words ("every second", "every 5 minutes")."""
    rules = master.get("RRULE") if master is not None else None
    if rules is None:
        return "repeats"
    rule = _as_list(rules)[0]
    freq = str((rule.get("FREQ") or ["?"])[0]).upper()
    interval = int((rule.get("INTERVAL") or [1])[0] or 1)
    unit = {"SECONDLY": "second", "MINUTELY": "minute", "HOURLY": "hour", "DAILY": "day"}.get(
        freq, freq.lower().removesuffix("ly") or "time"
    )
    return f"repeats every {unit}" if interval == 1 else f"repeats every {interval} {unit}s"


def describe(component: icalendar.Component | None) -> str:
    """An event as a user would recognise it: ``event 'Title' (UID x)``."""
    if component is None:
        return "an event"
    title = printable(component.get("SUMMARY", ""), limit=60) or "(no title)"
    uid = printable(component.get("UID", ""), limit=80)
    return f"event {title!r} (UID {uid})" if uid else f"event {title!r} (no UID)"


def cut_note(master: icalendar.Component | None, cut_at: datetime, zone: ZoneInfo) -> str:
    """What a note says when a series was expanded only up to ``cut_at``."""
    when = cut_at.astimezone(zone).strftime("%Y-%m-%d %H:%M")
    return (
        f"{describe(master)} {describe_rule(master)}: its occurrences from {when} on are not "
        "listed (too many to expand)"
    )


def _instant(value: date | datetime, zone: ZoneInfo) -> datetime:
    if not isinstance(value, datetime):
        return datetime.combine(value, time(), tzinfo=zone)
    if value.tzinfo is None:
        return value.replace(tzinfo=zone)
    return value


def _as_list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list) else [value]


def clamp_utc(value: datetime) -> float:
    """Seconds since 1970, clamped to what SQLite and datetime can hold around it."""
    try:
        return value.astimezone(UTC).timestamp()
    except (OverflowError, ValueError):
        return math.inf if value.year > 2000 else -math.inf
