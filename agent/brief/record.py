"""Keeping a briefing run, so the user can ask later why it said something.

:func:`remember_run` stores the run as a turn of the session ``brief-YYYY-MM-DD`` in the memory
store: the request with the gathered data, each model step and tool result (or, for the
offline digest, the digest as the answer). ``morrow chat --session brief-YYYY-MM-DD`` then
continues from exactly what the briefing was made of. The request's gathered data comes from
the world (senders, subjects, event descriptions): it is a
:class:`~morrow.agent.messages.DataPart` of the message, not its text, so only the instruction
is the user's words: an address in an attacker's subject line is not trusted later ("ok,
handle that" sends nothing to it without the user's yes), and a fact planted in an email
cannot be "remembered" from it.

:func:`recorder_for` gives the trajectory recorder (the ``morrow.recorder`` entry point, as
``--record`` uses it) when it is installed and the world can be recorded: the local calendar
and Maildir, up to :data:`MAX_RECORDED_MESSAGES` messages (a trajectory holds a copy of the
whole mailbox).
"""

from __future__ import annotations

import os
import secrets
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import structlog

from morrow.agent.app import App
from morrow.agent.brief.gather import Briefing
from morrow.agent.brief.render import digest, prompt_of
from morrow.agent.errors import StoreError, UsageError
from morrow.agent.messages import Message, TextPart
from morrow.memory.errors import MemoryStoreError
from morrow.memory.records import NewMessage, TurnRecord, UsageRecord

if TYPE_CHECKING:  # the loop is imported only when a model writes the briefing
    from morrow.agent.loop import TurnResult

log = structlog.get_logger("morrow.brief")

MAX_RECORDED_MESSAGES = 2000


def session_id_of(briefing: Briefing) -> str:
    """The session a briefing is kept in: ``brief-YYYY-MM-DD``."""
    return f"brief-{briefing.day.isoformat()}"


def remember_run(
    app: App, briefing: Briefing, history: list[Message], result: TurnResult | None
) -> None:
    """Store the run as a turn of the briefing's session; a store failure is only logged."""
    instruction, data = prompt_of(briefing)
    if not history:  # the offline digest: the request and the digest that answered it
        answer = Message(role="assistant", parts=(TextPart(text=digest(briefing)),))
        request = Message(role="user", parts=(TextPart(text=instruction), data))
        history = [request, answer]
    messages = [
        NewMessage(
            m.role,
            m.model_dump_json(),
            "" if m.role == "tool" else m.text,
            tool_results=len(m.tool_results),
        )
        for m in history
    ]
    usage = None
    if result is not None:
        usage = UsageRecord(
            provider=result.provider,
            model=result.model,
            steps=result.steps,
            input_tokens=result.usage.input_tokens,
            output_tokens=result.usage.output_tokens,
            cache_read_tokens=result.usage.cache_read_tokens,
            cache_write_tokens=result.usage.cache_write_tokens,
        )
    record = TurnRecord(
        id=secrets.token_hex(8),
        started=datetime.now(UTC),
        status="ok",
        messages=messages,
        usage=usage,
        title=f"Briefing for {briefing.day.isoformat()}",
    )
    try:
        app.store().save_turn(session_id_of(briefing), record)
    except (StoreError, MemoryStoreError) as exc:
        log.warning("brief_not_kept", session=session_id_of(briefing), error=str(exc))


def recorder_for(app: App, path: Path | None) -> Any:
    """The trajectory recorder for ``path``, or one that records nothing (and why, logged)."""
    if path is None:
        return app.recorder(None)
    config = app.config
    if config.calendar.backend != "ics" or config.email.backend != "maildir":
        log.info("brief_trajectory_skipped", reason="remote calendar or mailbox")
        return app.recorder(None)
    if _messages_over(app.paths.resolve_path(config.email.path), MAX_RECORDED_MESSAGES):
        log.info("brief_trajectory_skipped", reason=f"over {MAX_RECORDED_MESSAGES} messages")
        return app.recorder(None)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        return app.recorder(str(path))
    except UsageError as exc:  # the evals package (the recorder) is not installed
        log.info("brief_trajectory_skipped", reason=str(exc))
        return app.recorder(None)


def _messages_over(maildir: Path, limit: int) -> bool:
    """Whether the Maildir holds more than ``limit`` messages (counting stops there)."""
    count = 0
    folders = [maildir, *(p for p in maildir.glob(".*") if p.is_dir())] if maildir.is_dir() else []
    for folder in folders:
        for sub in ("cur", "new"):
            try:
                with os.scandir(folder / sub) as entries:
                    for _ in entries:
                        count += 1
                        if count > limit:
                            return True
            except OSError:
                continue
    return False
