"""The offline demo model (``kind = "demo"``): rules, not AI, to try morrow with no key.

A newcomer who ran ``make demo`` can chat with the demo workspace before choosing a provider:
``.venv/bin/morrow --home .demo``. This model reads the user's words with a few keyword rules,
calls the real tools through the real loop (so the tool lines, the approval box, ``/undo`` and
the journal are all the real thing) and words the results itself. It says what it is in its
first answer of a conversation and when it does not understand, so nobody mistakes it for a
language model. It needs no network and no key; its tokens are counted as zero.

What it understands (English keywords): the day's or tomorrow's agenda ("what is on today?",
"tomorrow", "my calendar", a briefing), unread mail ("any mail?"), free time ("when am I
free tomorrow?"), adding an event ("add lunch with Sam tomorrow at 12:30", 30 minutes, no
invitations) and remembering a fact ("remember that I prefer mornings"). Dates are read from
the system prompt's "Now:" line, so its answers follow the user's clock and zone.
"""

from __future__ import annotations

import json
import re
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from morrow.agent.messages import Message, ModelRequest, ModelResponse, TextPart, ToolCallPart
from morrow.agent.providers.function import CallInfo, FunctionProvider

LABEL = "(morrow's offline demo model: keyword rules, no AI; `morrow init` sets up a real one)"
HELP = (
    "I understand a few requests: 'what is on today?', 'and tomorrow?', 'any unread mail?', "
    "'when am I free tomorrow?', 'add lunch with Sam tomorrow at 12:30', "
    "'remember that I prefer mornings'."
)
_NOW = re.compile(r"Now: \w+ (\d{4}-\d{2}-\d{2}) (\d{2}:\d{2}) in (\S+)")
_AT = re.compile(r"\bat (\d{1,2})(?::(\d{2}))?\s*(am|pm)?\b", re.IGNORECASE)
_TAGS = re.compile(r"</?untrusted_content[^>]*>")


class DemoProvider(FunctionProvider):
    """The demo model behind the ordinary provider protocol (streamed like the others)."""

    def __init__(self, name: str = "demo", model: str = "offline-demo") -> None:
        super().__init__(_answer, name=name, model=model)


def _answer(request: ModelRequest, info: CallInfo) -> ModelResponse:
    now = _now(request.system)
    last = request.messages[-1] if request.messages else Message.user("")
    first = sum(m.role == "user" and bool(m.text) for m in request.messages) <= 1
    label = f"\n\n{LABEL}" if first else ""  # the first answer says what this model is
    if last.role == "tool":
        return info.response([TextPart(text=_report(last, now) + label)], "end_turn")
    call = _call_for(last.text, now)
    if call is None:
        return info.response([TextPart(text=f"{HELP}\n\n{LABEL}")], "end_turn")
    return info.response([call], "tool_use")


def _now(system: str) -> datetime:
    found = _NOW.search(system)
    if found is None:
        return datetime.now(ZoneInfo("UTC"))
    day, clock, zone = found.groups()
    return datetime.combine(date.fromisoformat(day), time.fromisoformat(clock), ZoneInfo(zone))


def _call_for(text: str, now: datetime) -> ToolCallPart | None:
    """The tool call the user's words ask for, or None."""
    words = text.casefold()
    day = now.date() + timedelta(days=1) if "tomorrow" in words else now.date()
    if words.startswith("remember"):
        fact = re.sub(r"^remember( that)?\s*", "", text.strip(), flags=re.IGNORECASE)
        return _call("remember", fact=fact.rstrip(".") or text)
    if re.search(r"\b(add|book|schedule|put)\b", words) and _AT.search(words):
        return _create(text, day, now)
    if re.search(r"\bfree\b|\bslot", words):
        start = max(now, _at(day, time(0), now))
        end = _at(day, time(0), now) + timedelta(days=1)
        return _call(
            "find_free_slots", duration_minutes=30, start=start.isoformat(), end=end.isoformat()
        )
    if re.search(r"\b(mail|email|inbox|unread|message)", words):
        return _call("search_emails", unread=True, limit=10)
    if re.search(r"\b(today|tomorrow|calendar|agenda|meeting|schedule|brief|day|on)\b", words):
        start = _at(day, time(0), now)
        return _call(
            "list_events", start=start.isoformat(), end=(start + timedelta(days=1)).isoformat()
        )
    return None


def _create(text: str, day: date, now: datetime) -> ToolCallPart:
    match = _AT.search(text)
    assert match is not None
    hour, minute, half = int(match.group(1)), int(match.group(2) or 0), match.group(3)
    if half and half.lower() == "pm" and hour < 12:
        hour += 12
    start = _at(day, time(hour % 24, minute % 60), now)
    title = re.sub(r"^.*?\b(add|book|schedule|put)\b\s*", "", text[: match.start()], flags=re.I)
    title = re.sub(r"\b(today|tomorrow|on my calendar|to my calendar)\b", "", title, flags=re.I)
    title = " ".join(title.split()).strip(" ,.") or "Busy"
    end = start + timedelta(minutes=30)
    return _call(
        "create_event",
        title=title[:1].upper() + title[1:],
        start=start.isoformat(),
        end=end.isoformat(),
    )


def _at(day: date, clock: time, now: datetime) -> datetime:
    return datetime.combine(day, clock, now.tzinfo)


_counter = iter(range(1, 1 << 62))


def _call(name: str, **arguments: Any) -> ToolCallPart:
    return ToolCallPart(id=f"demo_{next(_counter)}", name=name, arguments=arguments)


def _report(results: Message, now: datetime) -> str:
    """The tool results in words."""
    lines = []
    for part in results.tool_results:
        if part.is_error:
            first = (part.content.strip().splitlines() or [""])[0]
            lines.append(f"That was not done: {first}")
            continue
        try:
            value = json.loads(part.content)
        except ValueError:
            value = part.content
        lines.append(_describe(part.name, value, now))
    return "\n".join(lines)


def _describe(tool: str, value: Any, now: datetime) -> str:
    if tool == "list_events" and isinstance(value, list):
        if not value:
            return "Nothing on the calendar then."
        rows = [_event_line(e) for e in value]
        return "On the calendar:\n" + "\n".join(f"- {row}" for row in rows)
    if tool == "search_emails" and isinstance(value, list):
        if not value:
            return "No unread mail."
        rows = [_mail_line(m) for m in value]
        return f"{len(rows)} unread:\n" + "\n".join(f"- {row}" for row in rows)
    if tool == "find_free_slots" and isinstance(value, dict):
        slots = value.get("slots") or []
        if not slots:
            return "No free half hour within your working hours then."
        rows = [f"{_clock(s['start'])}-{_clock(s['end'])}" for s in slots]
        return "Free: " + ", ".join(rows) + "."
    if tool == "create_event" and isinstance(value, dict):
        event = value.get("event") or {}
        return f"Added **{_plain(event.get('title', ''))}** at {_clock(event.get('start', ''))}."
    if tool == "remember" and isinstance(value, dict):
        return f"I will remember that ({value.get('status', 'kept')})."
    return f"{tool}: done."


def _event_line(event: dict[str, Any]) -> str:
    when = "all day" if event.get("all_day") else f"{_clock(event['start'])}-{_clock(event['end'])}"
    clash = " (conflict)" if event.get("conflicts_with") else ""
    return f"{when} {_plain(event.get('title', ''))}{clash}"


def _mail_line(item: dict[str, Any]) -> str:
    content = _plain(item.get("content", ""))
    fields = dict(
        line.split(": ", 1) for line in content.splitlines() if ": " in line and line[0].isupper()
    )
    return f'"{fields.get("Subject", "?")}" from {fields.get("From", "?")}'


def _clock(value: str) -> str:
    try:
        return datetime.fromisoformat(value).strftime("%H:%M")
    except ValueError:
        return value


def _plain(text: str) -> str:
    return _TAGS.sub("", str(text)).strip()
