"""``morrow brief``: the daily briefing, for cron and systemd timers.

The data is gathered with the read tools' backends: today's agenda with conflicts and free
blocks within working hours, tomorrow's first commitment, mail waiting on the user and the
reminders due today (:mod:`morrow.agent.brief.waiting`). When a provider answers, the model writes
the briefing from that data (offered read-only tools, nothing else). When no provider is
configured or every provider is unreachable, a deterministic digest of the same data is printed
instead, clearly labelled, and the run succeeds (exit 0).

What is not an outage is not hidden behind the digest: a calendar file or Maildir that is not
there (a cron job without its environment reads the platform's empty default home) is exit 78
before anything is written, not an empty day; a backend that cannot be read is 69; a
provider's key that is not set or refused, or an unknown model, prints the digest and exits 78.
The day is marked done only after a briefing that read its sources and needs no fix, so the
next run tries again. ``--format json`` is honoured on every path: the day already done prints
the saved briefing (``"already_done": true``) and a failure prints ``{"error", "exit_code"}``.

A briefing runs at most once per day (a marker written atomically; ``--force`` runs it again),
and a lock keeps two runs from overlapping (the second exits 75). A store that cannot be opened
does not stop it: the briefing is made without reminders and is not kept as a session. Each
briefing is kept, so the user can ask later why it said something:

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
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import structlog

from morrow.agent.app import App
from morrow.agent.backends import missing_sources
from morrow.agent.brief.gather import Briefing, Format, gather
from morrow.agent.brief.record import recorder_for, remember_run
from morrow.agent.brief.render import prompt_of, render
from morrow.agent.errors import (
    AssistantError,
    BusyError,
    ConfigError,
    ProviderError,
    StoreError,
    UsageError,
)
from morrow.agent.messages import Message
from morrow.memory.files import LockBusyError, atomic_write, file_lock
from morrow.memory.store import Store
from morrow.tools.context import ToolContext
from morrow.tools.workspace import Workspace

if TYPE_CHECKING:  # the loop is imported only when a model writes the briefing
    from morrow.agent.loop import TurnResult

log = structlog.get_logger("morrow.brief")


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
    from morrow.agent.loop import Limits, run_turn
    from morrow.agent.safety.gate import ApprovalGate

    provider = app.provider()
    recorder = recorder_for(app, trajectory)
    prompt, data = prompt_of(briefing)
    history = [] if history is None else history
    try:
        tools, gate = app.tool_context(), app.gate(interactive=False)
    except StoreError:  # read tools only: the briefing goes on without the store
        tools, gate = ToolContext(app.workspace()), ApprovalGate(mode="deny")
    try:
        result = await run_turn(
            history,
            prompt,
            provider=recorder.wrap(provider),
            tools=app.tools(external=False).only("read"),
            tool_context=tools,
            gate=recorder.watch(gate),
            system=app.system_prompt(),
            limits=Limits(max_steps=app.config.agent.max_steps),
            stream=False,
            data=(data,),
        )
    finally:
        recorder.turn_done(history)
        await provider.aclose()
    briefing.text, briefing.source = result.answer, "model"
    return result


def run_brief(args: argparse.Namespace) -> int:
    """The ``brief`` command; with ``--format json`` a failure is JSON on stdout too."""
    try:
        with App.load(home=args.home, config=args.config) as app:
            return _brief(app, args)
    except (AssistantError, OSError) as error:
        if args.format == "json" and not args.out:
            code = error.exit_code if isinstance(error, AssistantError) else 1
            print(json.dumps({"error": str(error), "exit_code": code}, ensure_ascii=False))
        raise


def _brief(app: App, args: argparse.Namespace) -> int:
    missing = missing_sources(app.config, app.paths)
    calendars = [line for line in missing if line.startswith("calendar:")]
    if len(missing) > len(calendars) or len(calendars) == len(app.config.calendar_entries()):
        raise ConfigError("nothing to brief from: " + "; ".join(missing))
    # one calendar of several is not there: the briefing says so and reads the others
    workspace = app.workspace()
    day = _day(args.date, workspace)
    state = app.paths.home / "state" / "brief"
    marker = state / f"{day.isoformat()}.done"
    folder = app.paths.home / "briefings"
    with _lock(state / "brief.lock"):
        if marker.exists() and not args.force:
            _already_done(day, folder, args)
            return 0
        briefing = _gather(workspace, day, _store(app))
        briefing.notes[:0] = calendars
        history: list[Message] = []
        trajectory = folder / f"{day.isoformat()}.trajectory.json"
        result, to_fix = _write(app, briefing, history, trajectory)
        output = render(briefing, args.format)
        _save(folder, briefing, output, args.format)
        remember_run(app, briefing, history, result)
        if args.out:
            atomic_write(Path(args.out), output)
        else:
            sys.stdout.write(output if output.endswith("\n") else output + "\n")
        if to_fix is not None:
            raise to_fix  # the digest is out; the day stays open for a run that can use a model
        atomic_write(marker, datetime.now(workspace.timezone).isoformat())
    return 0


def _store(app: App) -> Store | None:
    """The app's store, or None (logged) when it cannot be opened: the briefing goes on."""
    try:
        return app.store()
    except StoreError as exc:
        log.warning("brief_without_store", error=str(exc))
        return None


def _gather(workspace: Workspace, day: date, store: Store | None) -> Briefing:
    """The day's data; a backend that cannot be read is one line (69), not an empty day."""
    from morrow.tools.errors import ToolError

    try:
        return gather(workspace, day, store)
    except ToolError as error:
        raise ServiceError(f"cannot read the calendar or the mailbox: {error}") from None


class ServiceError(AssistantError):
    """A calendar or mail service could not be read (exit 69, like an unreachable provider)."""

    exit_code = 69


def _already_done(day: date, folder: Path, args: argparse.Namespace) -> None:
    """Say the day is done, in the format asked for (JSON: the saved briefing)."""
    if args.format != "json":
        print(f"briefing for {day.isoformat()} already done (use --force to run it again)")
        return
    saved = folder / f"{day.isoformat()}.json"
    try:
        payload = json.loads(saved.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        payload = {"date": day.isoformat()}
    payload["already_done"] = True
    print(json.dumps(payload, indent=2, ensure_ascii=False))


def _write(
    app: App, briefing: Briefing, history: list[Message], trajectory: Path
) -> tuple[TurnResult | None, AssistantError | None]:
    """The model's briefing when a provider answers; otherwise a note on the digest.

    Returns the turn (None for the digest) and, when the model could not be used because of
    a mistake in the set-up (a key not set or refused, an unknown model), that error.
    """
    if not app.config.providers:
        briefing.notes.append("No provider is configured.")
        return None, None
    if all(p.kind == "demo" for p in app.config.providers):
        briefing.notes.append("Only the offline demo model is configured: this is its briefing.")
        return None, None
    to_fix: AssistantError | None = None
    try:
        return asyncio.run(write_with_model(app, briefing, history, trajectory)), None
    except (ProviderError, ConfigError) as error:
        # every provider's reason on one line (AllProvidersFailed spreads them over several)
        head, *causes = (line.strip() for line in str(error).splitlines())
        reason = f"{head} {'; '.join(causes)}" if causes else head
        briefing.notes.append(f"The model could not be used: {reason}")
        if error.exit_code == ConfigError.exit_code:
            to_fix = error  # the CLI says it on one line
        (log.info if to_fix else log.warning)("brief_fallback", reason=reason)
    except AssistantError as error:
        briefing.notes.append(f"The model's briefing failed: {error}")
    history.clear()  # the digest is what was shown: the failed attempt is not the record
    return None, to_fix


def _day(value: str | None, workspace: Workspace) -> date:
    if value is None:
        return workspace.now().date()
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise UsageError(f"--date must be YYYY-MM-DD, not {value!r}") from None


@contextmanager
def _lock(path: Path) -> Iterator[None]:
    try:
        with file_lock(path, wait=False):
            yield
    except LockBusyError:
        raise BusyError("another briefing is running (lock held)") from None


def _save(folder: Path, briefing: Briefing, output: str, fmt: Format) -> None:
    atomic_write(folder / f"{briefing.day.isoformat()}.json", render(briefing, "json"))
    if fmt != "json":
        atomic_write(folder / f"{briefing.day.isoformat()}.{fmt}", output)
