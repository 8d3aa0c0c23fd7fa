"""``morrow brief``: the daily briefing, for cron and systemd timers.

The data is gathered with the read tools' backends: today's agenda with conflicts and free
blocks within working hours, tomorrow's first commitment, mail waiting on the user and the
reminders due today (:mod:`morrow.agent.brief.waiting`). When a provider answers, the model writes
the briefing from that data (offered read-only tools, nothing else). When no provider is
configured, its key is missing or every provider fails, a deterministic digest of the same data
is printed instead, clearly labelled, and the run still succeeds.

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
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime
from pathlib import Path

import structlog

from morrow.agent.app import App
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
from morrow.agent.loop import Limits, TurnResult, run_turn
from morrow.agent.messages import Message
from morrow.agent.safety.gate import ApprovalGate
from morrow.memory.files import LockBusyError, atomic_write, file_lock
from morrow.memory.store import Store
from morrow.tools.context import ToolContext
from morrow.tools.workspace import Workspace

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
    """The ``brief`` command."""
    with App.load(home=args.home, config=args.config) as app:
        workspace = app.workspace()
        day = _day(args.date, workspace)
        state = app.paths.home / "state" / "brief"
        marker = state / f"{day.isoformat()}.done"
        folder = app.paths.home / "briefings"
        with _lock(state / "brief.lock"):
            if marker.exists() and not args.force:
                print(f"briefing for {day.isoformat()} already done (use --force to run it again)")
                return 0
            briefing = gather(workspace, day, _store(app))
            history: list[Message] = []
            result = _write(app, briefing, history, folder / f"{day.isoformat()}.trajectory.json")
            output = render(briefing, args.format)
            _save(folder, briefing, output, args.format)
            remember_run(app, briefing, history, result)
            if args.out:
                atomic_write(Path(args.out), output)
            else:
                sys.stdout.write(output if output.endswith("\n") else output + "\n")
            atomic_write(marker, datetime.now(workspace.timezone).isoformat())
    return 0


def _store(app: App) -> Store | None:
    """The app's store, or None (logged) when it cannot be opened: the briefing goes on."""
    try:
        return app.store()
    except StoreError as exc:
        log.warning("brief_without_store", error=str(exc))
        return None


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
    try:
        with file_lock(path, wait=False):
            yield
    except LockBusyError:
        raise BusyError("another briefing is running (lock held)") from None


def _save(folder: Path, briefing: Briefing, output: str, fmt: Format) -> None:
    atomic_write(folder / f"{briefing.day.isoformat()}.json", render(briefing, "json"))
    if fmt != "json":
        atomic_write(folder / f"{briefing.day.isoformat()}.{fmt}", output)
