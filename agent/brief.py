"""``morrow brief``: the daily briefing, for cron and systemd timers.

The data is gathered with the read tools' backends: today's agenda with conflicts and free
blocks within working hours, tomorrow's first commitment, mail waiting on the user and the
reminders due today (:mod:`agent.brief_data`). When a provider answers, the model writes the
briefing from that data (offered read-only tools, nothing else). When no provider is
configured, its key is missing or every provider fails, a deterministic digest of the same data
is printed instead, clearly labelled, and the run still succeeds.

A briefing runs at most once per day (a marker written atomically; ``--force`` runs it again),
and a lock keeps two runs from overlapping (the second exits 75). Each briefing is kept, so the
user can ask later why it said something:

- its text under ``<home>/briefings/`` (``YYYY-MM-DD.md``/``.text`` and always ``.json``);
- the run as a session named ``brief-YYYY-MM-DD`` in the memory store (the data the model was
  given, its tool calls and results, the briefing), so ``morrow chat --session
  brief-YYYY-MM-DD`` continues from it;
- when the model wrote it and the trajectory recorder is installed, its trajectory
  (``YYYY-MM-DD.trajectory.json``, replayable with ``morrow replay``; local calendar and
  Maildir only, and not for a mailbox of more than 2,000 messages, which it would copy whole).
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
from zoneinfo import ZoneInfo

import structlog

from agent.app import App
from agent.brief_data import Reminder, reminders, waiting_mail
from agent.errors import AssistantError, BusyError, ConfigError, ProviderError, UsageError
from agent.loop import Limits, TurnResult, run_turn
from agent.messages import Message
from tools.calendar.backend import Event
from tools.calendar.tools import mark_conflicts
from tools.email.backend import EmailSummary
from tools.workspace import Workspace

log = structlog.get_logger("morrow.brief")

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


def gather(workspace: Workspace, day: date, store_path: Path | None = None) -> Briefing:
    """Read the day's calendar, the mail waiting on the user and the reminders due."""
    zone = workspace.timezone
    start = datetime.combine(day, time(0), zone)
    end = start + timedelta(days=1)
    events = _sorted(workspace.calendar.list_events(start, end), workspace)
    tomorrow = [
        e
        for e in _sorted(workspace.calendar.list_events(end, end + timedelta(days=1)), workspace)
        if not e.all_day
    ]
    waiting, asked = waiting_mail(workspace, day)
    due = reminders(store_path, day, zone) if store_path is not None else []
    return Briefing(
        day=day,
        timezone=str(zone),
        events=events,
        free=_free_blocks(events, workspace, day),
        tomorrow_first=tomorrow[0] if tomorrow else None,
        waiting=waiting,
        asked=asked,
        reminders=due,
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


def prompt_of(briefing: Briefing) -> tuple[str, str]:
    """The briefing request: (the whole prompt with the data, the instruction alone).

    The data comes from the world (senders, subjects, event text), so it is marked untrusted;
    the instruction alone is what the store keeps as the user's own words.
    """
    instruction = INSTRUCTION.format(day=briefing.day)
    data = json.dumps(_as_json(briefing) | {"text": None}, ensure_ascii=False, default=str)
    wrapped = f'<untrusted_content source="briefing-data">\n{data}\n</untrusted_content>'
    return f"{instruction}\n{wrapped}", instruction


async def write_with_model(
    app: App,
    briefing: Briefing,
    history: list[Message] | None = None,
    trajectory: Path | None = None,
) -> TurnResult:
    """Have the model write the briefing from the gathered data, offering read tools only.

    Args:
        app: the user's setup.
        briefing: the gathered data; its text and source are set from the model's answer.
        history: receives the run's messages (the request, each step, each tool result).
        trajectory: where to record the run's trajectory, when the recorder is available.
    """
    from agent.brief_record import recorder_for

    provider = app.provider()
    recorder = recorder_for(app, trajectory)
    prompt, _ = prompt_of(briefing)
    history = [] if history is None else history
    try:
        result = await run_turn(
            history,
            prompt,
            provider=recorder.wrap(provider),
            tools=app.tools().only("read"),
            workspace=app.workspace(),
            gate=recorder.watch(app.gate(interactive=False)),
            system=app.system_prompt(),
            limits=Limits(max_steps=app.config.agent.max_steps),
            stream=False,
        )
    finally:
        recorder.turn_done(history)
        await provider.aclose()
    briefing.text, briefing.source = result.answer, "model"
    return result


def run_brief(args: argparse.Namespace) -> int:
    """The ``brief`` command."""
    from agent.brief_record import remember_run

    app = App.load(home=args.home, config=args.config)
    workspace = app.workspace()
    day = _day(args.date, workspace)
    state = app.paths.home / "state" / "brief"
    marker = state / f"{day.isoformat()}.done"
    folder = app.paths.home / "briefings"
    with _lock(state / "brief.lock"):
        if marker.exists() and not args.force:
            print(f"briefing for {day.isoformat()} already done (use --force to run it again)")
            return 0
        briefing = gather(workspace, day, app.store_path)
        history: list[Message] = []
        result = _write(app, briefing, history, folder / f"{day.isoformat()}.trajectory.json")
        output = render(briefing, args.format)
        _save(folder, briefing, output, args.format)
        remember_run(app, briefing, history, result)
        if args.out:
            _atomic_write(Path(args.out), output)
        else:
            sys.stdout.write(output if output.endswith("\n") else output + "\n")
        _atomic_write(marker, datetime.now(workspace.timezone).isoformat())
    return 0


def _write(
    app: App, briefing: Briefing, history: list[Message], trajectory: Path
) -> TurnResult | None:
    """The model's briefing when a provider answers; otherwise a note on the digest."""
    if not app.config.providers:
        briefing.notes.append("No provider is configured.")
        return None
    try:
        return asyncio.run(write_with_model(app, briefing, history, trajectory))
    except (ProviderError, ConfigError) as error:
        # every provider's reason on one line (AllProvidersFailed spreads them over several)
        head, *causes = (line.strip() for line in str(error).splitlines())
        reason = f"{head} {'; '.join(causes)}" if causes else head
        log.warning("brief_fallback", reason=reason)
        briefing.notes.append(f"The model could not be used: {reason}")
    except AssistantError as error:
        briefing.notes.append(f"The model's briefing failed: {error}")
    history.clear()  # the digest is what was shown: the failed attempt is not the record
    return None


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
