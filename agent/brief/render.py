"""A briefing as text: the model's words or the offline digest, in Markdown, text or JSON.

The digest lays out the gathered data deterministically, so the cron job prints something
useful with every provider down. :func:`prompt_of` is the request the model gets, its data
marked as untrusted (it holds senders, subjects and event text written by others).
"""

from __future__ import annotations

import json
from typing import Any
from zoneinfo import ZoneInfo

from morrow.agent.brief.gather import Briefing, Format
from morrow.agent.messages import DataPart
from morrow.tools.calendar.backend import Event
from morrow.tools.email.backend import EmailSummary


def render(briefing: Briefing, fmt: Format) -> str:
    """The briefing as Markdown, plain text or JSON."""
    if fmt == "json":
        return json.dumps(_as_json(briefing), indent=2, ensure_ascii=False)
    text = briefing.text if briefing.source == "model" else digest(briefing)
    if fmt == "text":
        text = "\n".join(
            line.lstrip("#").strip() if line.startswith("#") else line for line in text.splitlines()
        )
    return text


def digest(b: Briefing) -> str:
    """The deterministic digest: the same data, laid out without a model."""
    lines = [f"# Briefing for {b.day:%A %d %B %Y} ({b.timezone})", ""]
    lines.append("_Offline digest: written without a model._")
    lines += [f"_{note}_" for note in b.notes]
    if b.reminders:
        lines += ["", "## Reminders"]
        lines += [f"- {r.text} (you asked on {r.said_at:%a %d %b})" for r in b.reminders]
    lines += ["", "## Today"]
    if not b.events:
        lines.append("- nothing on the calendar")
    for event in b.events:
        lines.append(f"- {_when(event)}  {event.title}{_where(event)}{_clash(event, b)}")
    if b.conflicts:
        lines += ["", "## Conflicts"]
        for first, second in b.conflicts:
            lines.append(
                f"- {first.title} ({first.start:%H:%M}-{first.end:%H:%M}) overlaps "
                f"{second.title} ({second.start:%H:%M}-{second.end:%H:%M})"
            )
    lines += ["", "## Free blocks in working hours"]
    lines += [f"- {a:%H:%M}-{b_:%H:%M}" for a, b_ in b.free] or ["- none"]
    lines += ["", "## Tomorrow"]
    nxt = b.tomorrow_first
    lines.append(f"- first: {nxt.start:%H:%M} {nxt.title}" if nxt else "- nothing timed")
    lines += ["", "## Mail waiting on you"]
    for message in b.asked:
        lines.append(f"- asks you something: {_mail(message, b.timezone)}")
    for message in b.waiting:
        lines.append(f"- unread: {_mail(message, b.timezone)}")
    if not (b.asked or b.waiting):
        lines.append("- nothing waiting")
    return "\n".join(lines) + "\n"


def _when(event: Event) -> str:
    return "all day     " if event.all_day else f"{event.start:%H:%M}-{event.end:%H:%M}"


def _where(event: Event) -> str:
    return f" ({event.location})" if event.location else ""


def _clash(event: Event, b: Briefing) -> str:
    titles = [e.title for e in b.events if e.id in event.conflicts_with]
    return f"  [conflicts with {', '.join(titles)}]" if titles else ""


def _mail(message: EmailSummary, zone: str) -> str:
    sent = message.date.astimezone(ZoneInfo(zone))
    return f'"{message.subject}" from {message.from_} ({sent:%a %d %b %H:%M})'


def _as_json(b: Briefing) -> dict[str, Any]:
    return {
        "date": b.day.isoformat(),
        "timezone": b.timezone,
        "source": b.source,
        "notes": b.notes,
        "text": b.text if b.source == "model" else digest(b),
        "events": [e.model_dump(mode="json", exclude_none=True) for e in b.events],
        "conflicts": [[x.id, y.id] for x, y in b.conflicts],
        "free": [[x.isoformat(), y.isoformat()] for x, y in b.free],
        "tomorrow_first": b.tomorrow_first.model_dump(mode="json", exclude_none=True)
        if b.tomorrow_first
        else None,
        "mail_asking": [m.model_dump(mode="json", by_alias=True) for m in b.asked],
        "mail_unread": [m.model_dump(mode="json", by_alias=True) for m in b.waiting],
        "reminders": [
            {"fact_id": r.fact_id, "text": r.text, "said_at": r.said_at.isoformat()}
            for r in b.reminders
        ],
    }


INSTRUCTION = (
    "Write my daily briefing for {day:%A %Y-%m-%d} in Markdown: today's agenda with conflicts "
    "and free blocks, tomorrow's first commitment, mail waiting on me, and my reminders for "
    "today. Be short. The data gathered from my calendar, mailbox and memory follows; use the "
    "tools only if you need more."
)


def prompt_of(briefing: Briefing) -> tuple[str, DataPart]:
    """The briefing request: the instruction, and the gathered data beside it.

    The data comes from the world (senders, subjects, event text): it goes to the model as a
    :class:`~morrow.agent.messages.DataPart` inside an untrusted block, so neither provenance
    nor long-term memory ever takes an address or a fact in it for the user's own words.
    """
    instruction = INSTRUCTION.format(day=briefing.day)
    data = json.dumps(_as_json(briefing) | {"text": None}, ensure_ascii=False, default=str)
    wrapped = f'<untrusted_content source="briefing-data">\n{data}\n</untrusted_content>'
    return instruction, DataPart(source="briefing-data", text=wrapped)
