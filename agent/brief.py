"""``morrow brief``: the daily briefing, for cron and systemd timers.

The data is gathered with the read tools' backends: today's agenda with conflicts and free
blocks within working hours, tomorrow's first commitment, and mail waiting on the user. When a
provider answers, the model writes the briefing from that data (offered read-only tools, nothing
else). When no provider is configured, its key is missing or every provider fails, a
deterministic digest of the same data is printed instead, clearly labelled, and the run still
succeeds.

A briefing runs at most once per day (a marker written atomically; ``--force`` runs it again),
and a lock keeps two runs from overlapping (the second exits 75). Each briefing is saved under
``<home>/briefings/``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any, Literal

import structlog

from agent.app import App
from agent.errors import AssistantError, BusyError, ConfigError, ProviderError, UsageError
from agent.loop import Limits, run_turn
from agent.messages import Message
from tools.calendar.backend import Event
from tools.calendar.tools import mark_conflicts
from tools.email.backend import EmailSummary
from tools.workspace import Workspace

log = structlog.get_logger("morrow.brief")

Format = Literal["md", "text", "json"]
_AUTOMATED = (
    "noreply",
    "no-reply",
    "no_reply",
    "donotreply",
    "do-not-reply",
    "newsletter",
    "news",
    "notifications",
    "notification",
    "notify",
    "updates",
    "mailer-daemon",
    "postmaster",
    "marketing",
    "receipts",
    "billing",
    "digest",
    "alerts",
    "info",
    "hello",
    "team",
)


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


def gather(workspace: Workspace, day: date) -> Briefing:
    """Read the day's calendar and the mail waiting on the user."""
    zone = workspace.timezone
    start = datetime.combine(day, time(0), zone)
    end = start + timedelta(days=1)
    events = _sorted(workspace.calendar.list_events(start, end), workspace)
    tomorrow = [
        e
        for e in _sorted(workspace.calendar.list_events(end, end + timedelta(days=1)), workspace)
        if not e.all_day
    ]
    waiting, asked = _waiting_mail(workspace, day)
    return Briefing(
        day=day,
        timezone=str(zone),
        events=events,
        free=_free_blocks(events, workspace, day),
        tomorrow_first=tomorrow[0] if tomorrow else None,
        waiting=waiting,
        asked=asked,
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


def _waiting_mail(workspace: Workspace, day: date) -> tuple[list[EmailSummary], list[EmailSummary]]:
    since = datetime.combine(day - timedelta(days=14), time(0), workspace.timezone)
    until = datetime.combine(day + timedelta(days=1), time(0), workspace.timezone)
    recent = workspace.mail.search(None, None, None, since, until, None, 200)
    me = (workspace.user_email or "").lower()
    latest: dict[str, EmailSummary] = {}
    for message in sorted(recent, key=lambda m: m.date):
        latest[message.thread_id] = message
    waiting, asked = [], []
    for message in sorted(latest.values(), key=lambda m: m.date, reverse=True):
        sender = _address(message.from_)
        if message.folder.lower() in ("sent", "drafts") or (me and sender == me):
            continue
        if _automated(sender):
            continue
        if "?" in message.snippet or "?" in message.subject:
            asked.append(message)
        elif message.unread:
            waiting.append(message)
    return waiting, asked


def _address(value: str) -> str:
    if "<" in value and ">" in value:
        value = value[value.index("<") + 1 : value.rindex(">")]
    return value.strip().lower()


def _automated(address: str) -> bool:
    local = address.split("@")[0]
    return any(local == word or local.startswith(word + "+") for word in _AUTOMATED) or (
        local.startswith(("noreply", "no-reply", "bounce"))
    )


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
        lines.append(f"- asks you something: {_mail(message)}")
    for message in b.waiting:
        lines.append(f"- unread: {_mail(message)}")
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


def _mail(message: EmailSummary) -> str:
    return f'"{message.subject}" from {message.from_} ({message.date:%a %d %b %H:%M})'


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
    }


async def write_with_model(app: App, briefing: Briefing) -> None:
    """Have the model write the briefing from the gathered data, offering read tools only."""
    provider = app.provider()
    data = json.dumps(_as_json(briefing) | {"text": None}, ensure_ascii=False, default=str)
    prompt = (
        f"Write my daily briefing for {briefing.day:%A %Y-%m-%d} in Markdown: today's agenda "
        "with conflicts and free blocks, tomorrow's first commitment, and mail waiting on me. "
        "Be short. The data gathered from my calendar and mailbox follows; use the tools only "
        "if you need more.\n"
        f'<untrusted_content source="briefing-data">\n{data}\n</untrusted_content>'
    )
    history: list[Message] = []
    try:
        result = await run_turn(
            history,
            prompt,
            provider=provider,
            tools=app.tools().only("read"),
            workspace=app.workspace(),
            gate=app.gate(interactive=False),
            system=app.system_prompt(),
            limits=Limits(max_steps=app.config.agent.max_steps),
            stream=False,
        )
    finally:
        await provider.aclose()
    briefing.text, briefing.source = result.answer, "model"


def run_brief(args: argparse.Namespace) -> int:
    """The ``brief`` command."""
    app = App.load(home=args.home, config=args.config)
    workspace = app.workspace()
    day = _day(args.date, workspace)
    state = app.paths.home / "state" / "brief"
    marker = state / f"{day.isoformat()}.done"
    with _lock(state / "brief.lock"):
        if marker.exists() and not args.force:
            print(f"briefing for {day.isoformat()} already done (use --force to run it again)")
            return 0
        briefing = gather(workspace, day)
        _write(app, briefing)
        output = render(briefing, args.format)
        _save(app.paths.home / "briefings", briefing, output, args.format)
        if args.out:
            _atomic_write(Path(args.out), output)
        else:
            sys.stdout.write(output if output.endswith("\n") else output + "\n")
        _atomic_write(marker, datetime.now(workspace.timezone).isoformat())
    return 0


def _write(app: App, briefing: Briefing) -> None:
    if not app.config.providers:
        briefing.notes.append("No provider is configured.")
        return
    try:
        asyncio.run(write_with_model(app, briefing))
    except (ProviderError, ConfigError) as error:
        # every provider's reason on one line (AllProvidersFailed spreads them over several)
        head, *causes = (line.strip() for line in str(error).splitlines())
        reason = f"{head} {'; '.join(causes)}" if causes else head
        log.warning("brief_fallback", reason=reason)
        briefing.notes.append(f"The model could not be used: {reason}")
    except AssistantError as error:
        briefing.notes.append(f"The model's briefing failed: {error}")


def _day(value: str | None, workspace: Workspace) -> date:
    if value is None:
        return workspace.now().date()
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise UsageError(f"--date must be YYYY-MM-DD, not {value!r}") from None


@contextmanager
def _lock(path: Path) -> Iterator[None]:
    import fcntl

    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise BusyError("another briefing is running (lock held)") from None
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _save(folder: Path, briefing: Briefing, output: str, fmt: Format) -> None:
    _atomic_write(folder / f"{briefing.day.isoformat()}.json", render(briefing, "json"))
    if fmt != "json":
        _atomic_write(folder / f"{briefing.day.isoformat()}.{fmt}", output)


def _atomic_write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with temporary.open("w", encoding="utf-8") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    temporary.replace(path)
