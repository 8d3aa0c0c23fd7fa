"""The crash sweep: SIGKILL at every step of the send and create paths, then a new run.

Each run forks a child that does what ``morrow ask`` does (the App, a stored session, the loop
with a model that asks for one send or one create, the approval gate in ``allow`` mode and the
effect journal) and is killed (SIGKILL) at one point of it: in the journal, in the SMTP
exchange (after the server received the whole message, before it answered: the server kills
the client), in the Sent copy, in the calendar's atomic write, in the saving of the turn. Then
a new run, as a user would start it after the crash, in a *new session*: morrow settles what
the killed run left open and tells the user, and the same request goes through the loop again,
``allow`` mode, nobody to ask. Whatever the point:

- the SMTP sink and the Sent folder hold each message at most once, the calendar each event at
  most once (0 duplicate deliveries, 0 duplicate events);
- the effect happened exactly once when it had started to happen before the kill (or when
  nothing was journaled yet, or the calendar shows the event was never created, and the new
  run did it), and never when it had not, for morrow never repeats an effect whose outcome
  it does not know: the user decides;
- the user is told of each effect whose outcome never reached them, and of each unknown one.

Cheap by design: one SMTP sink and one home per path for every run (each run has its own
subject or title), a fork per killed run (the parent's modules are already imported), the kill
armed by wrapping one function in the child, and no sleeps anywhere.
"""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import icalendar
import pytest
from support.mail_servers import SmtpSink, free_port
from support.turns import ask, make_app

import morrow.tools.email.maildir as maildir
from morrow.agent.context.sessions import Session
from morrow.agent.providers.scripted import ScriptedProvider, call, calls, text
from morrow.agent.safety.gate import ApprovalGate
from morrow.memory.journal import Journal
from morrow.memory.store import Store
from morrow.tools.calendar.ics import IcsCalendar
from morrow.tools.email.maildir import MaildirMailbox

ME = "alex@example.com"
REPEATS = 5
SEND_POINTS = [
    "none",
    "before_intent",
    "after_intent",
    "before_submit",
    "in_data",  # the server has the whole message and kills the client before it answers
    "after_submit",
    "after_sent_copy",
    "before_outcome",
    "after_outcome",
    "before_save",
    "after_save",
]
CREATE_POINTS = [
    "none",
    "before_intent",
    "after_intent",
    "before_write",
    "before_rename",  # the calendar's new version written to its temporary file, not renamed
    "after_write",
    "before_outcome",
    "after_outcome",
    "before_save",
    "after_save",
]
# Killed at these points, the effect had already happened (the message reached the server,
# the event the calendar file).
HAPPENED = {
    "send": {"in_data", "after_submit", "after_sent_copy", "before_outcome"}
    | {"after_outcome", "before_save", "after_save", "none"},
    "create": {"after_write", "before_outcome", "after_outcome", "before_save"}
    | {"after_save", "none"},
}
# ... and after these, nobody can tell: the message may have gone out though its copy never
# reached Sent (a server may take it and the client die before it answers).
UNKNOWN = {
    "send": {"after_intent", "before_submit", "in_data", "after_submit"},
    "create": set(),
}
# An event is on the calendar (its UID) or was never created: once the run has ended, not
# finding it settles it as not done, and the same request later simply does it, once.
NOT_DONE = {"send": set(), "create": {"after_intent", "before_write", "before_rename"}}
# The user had the outcome (the turn was saved) or nothing was journaled: nothing to tell.
NOT_TOLD = {"none", "after_save", "before_intent"}


@dataclass
class KillingSink(SmtpSink):
    """The SMTP sink, which can kill the client once it holds the whole message."""

    kill: int | None = None

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        answer = await super().handle_DATA(server, session, envelope)
        if self.kill is not None:  # the message is the server's now; the answer never comes
            os.kill(self.kill, signal.SIGKILL)
            self.kill = None
        return answer


def config(port: int) -> dict[str, Any]:
    return {
        "user": {"timezone": "Europe/Berlin", "email": ME, "name": "Alex"},
        "approvals": {"mode": "allow"},
        "email": {
            "backend": "maildir",
            "path": "Mail",
            "smtp": {"host": "127.0.0.1", "port": port, "security": "none"},
        },
    }


def request(kind: str, point: str, n: int) -> tuple[str, str, dict[str, Any]]:
    """What the user asks, the tool the model calls, and its arguments."""
    if kind == "send":
        subject = f"note {point} {n}"
        arguments = {"to": [ME], "subject": subject, "body": "hi"}
        return f"Send an email to {ME} with the subject {subject}", "send_email", arguments
    start = f"2030-04-{1 + n:02d}T10:00:00+02:00"
    title = f"event {point} {n}"
    arguments = {"title": title, "start": start, "end": start[:11] + "11:00:00+02:00"}
    return f"Create an event {title} on the calendar", "create_event", arguments


def the_request(home: Path, port: int, kind: str, point: str, n: int, session: str | None):
    """One run of the request, as ``morrow ask`` does it; returns the user's view of it."""
    words, name, arguments = request(kind, point, n)
    app = make_app(home, config(port))
    try:
        told = app.settle_effects()
        model = ScriptedProvider([calls(call(name, **arguments)), text("Done.")])
        opened = Session.open(app, model, session_id=session)
        gate = ApprovalGate(mode="allow", journal=app.journal())
        asyncio.run(ask(app, opened, model, words, gate=gate))
        (result,) = opened.history[-2].tool_results
        return told, result.content
    finally:
        app.close()


def arm(point: str) -> None:
    """Make this (child) process kill itself at ``point``."""
    table: dict[str, tuple[Any, str, bool, Callable[..., bool]]] = {
        "before_intent": (Journal, "begin", True, _always),
        "after_intent": (Journal, "begin", False, _always),
        "before_submit": (maildir, "submit", True, _always),
        "after_submit": (maildir, "submit", False, _always),
        "after_sent_copy": (MaildirMailbox, "_deliver", False, _always),
        "before_write": (IcsCalendar, "create_event", True, _always),
        "before_rename": (os, "replace", True, _onto_the_calendar),
        "after_write": (IcsCalendar, "create_event", False, _always),
        "before_outcome": (Journal, "finish", True, _done),
        "after_outcome": (Journal, "finish", False, _done),
        "before_save": (Store, "save_turn", True, _always),
        "after_save": (Store, "save_turn", False, _always),
    }
    if point not in table:
        return
    owner, attribute, before, when = table[point]
    original = getattr(owner, attribute)

    def wrapped(*args: Any, **kwargs: Any) -> Any:
        if before and when(*args, **kwargs):
            os.kill(os.getpid(), signal.SIGKILL)
        result = original(*args, **kwargs)
        if not before and when(*args, **kwargs):
            os.kill(os.getpid(), signal.SIGKILL)
        return result

    setattr(owner, attribute, wrapped)


def _always(*args: Any, **kwargs: Any) -> bool:
    return True


def _done(journal: Journal, entry_id: int, status: str, *args: Any, **kwargs: Any) -> bool:
    return status == "done"


def _onto_the_calendar(source: Any, target: Any, *args: Any, **kwargs: Any) -> bool:
    return Path(target).name == "calendar.ics"


def killed_run(home: Path, sink: KillingSink, kind: str, point: str, n: int) -> None:
    """The request in a child killed at ``point`` (a run that ends by itself at "none")."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: armed, then it waits for the sink to be ready for it
        try:
            os.close(write)
            os.read(read, 1)
            arm(point)
            the_request(home, sink.port, kind, point, n, f"killed-{point}-{n}")
        finally:
            os._exit(0)
    os.close(read)
    sink.kill = pid if point == "in_data" else None
    os.write(write, b"go")
    os.close(write)
    _, status = os.waitpid(pid, 0)
    sink.kill = None
    killed = os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL
    assert killed == (point != "none"), (point, status)


def world(home: Path) -> None:
    for folder in (home / "Mail", home / "Mail" / ".Sent"):
        for sub in ("cur", "new", "tmp"):
            (folder / sub).mkdir(parents=True, exist_ok=True)
    (home / "calendar.ics").write_text(
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//t//EN\r\nEND:VCALENDAR\r\n"
    )


def happened(home: Path, sink: KillingSink, kind: str, point: str, n: int) -> int:
    """How many times the run's effect is in the world (asserting every copy agrees)."""
    _, _, arguments = request(kind, point, n)
    if kind == "create":
        calendar = icalendar.Calendar.from_ical((home / "calendar.ics").read_bytes())
        return sum(str(e.get("SUMMARY")) == arguments["title"] for e in calendar.walk("VEVENT"))
    subject = f"Subject: {arguments['subject']}\n".encode()
    delivered = sum(r.message["Subject"] == arguments["subject"] for r in sink.received)
    sent = sum(subject in p.read_bytes() for p in (home / "Mail" / ".Sent" / "cur").iterdir())
    assert sent <= delivered, (point, n, sent, delivered)  # a copy only of what went out
    return delivered


@pytest.mark.parametrize(("kind", "points"), [("send", SEND_POINTS), ("create", CREATE_POINTS)])
def test_a_new_run_after_a_kill_at_any_point_repeats_nothing_and_tells_the_user(
    tmp_path, kind, points
):
    from aiosmtpd.controller import Controller

    home = tmp_path / kind
    world(home)
    sink = KillingSink(port=free_port())
    controller = Controller(sink, hostname="127.0.0.1", port=sink.port)
    controller.start()
    runs = 0
    try:
        for point in points:
            for n in range(REPEATS):
                killed_run(home, sink, kind, point, n)
                told, outcome = the_request(home, sink.port, kind, point, n, None)
                runs += 1
                count = happened(home, sink, kind, point, n)
                journaled = point != "before_intent"
                again = not journaled or point in NOT_DONE[kind]  # the new run does it, once
                assert count == (1 if point in HAPPENED[kind] or again else 0), (point, n, count)
                if again:  # nothing journaled, or known not done
                    assert not outcome.startswith("not approved"), (point, outcome)
                else:  # never again without the user, who is not there to ask
                    assert outcome.startswith("not approved"), (point, outcome)
                    unknown = point in UNKNOWN[kind]
                    expected = "outcome unknown" if unknown else "already done"
                    assert expected in outcome, (point, outcome)
                _, _, arguments = request(kind, point, n)
                shown = str(arguments.get("subject") or arguments.get("title"))
                about = [line for line in told if shown in line]
                if point in NOT_TOLD:
                    assert about == [], (point, told)
                else:
                    (line,) = about
                    assert ("OUTCOME UNKNOWN" in line) == (point in UNKNOWN[kind]), (point, line)
                    assert ("it did not happen" in line) == (point in NOT_DONE[kind]), line
                    assert told[0].startswith("an earlier run stopped before telling you")
    finally:
        controller.stop()
    ids = [r.message["Message-ID"] for r in sink.received]
    assert len(ids) == len(set(ids))
    assert runs == len(points) * REPEATS
    print(f"\n{kind}: {len(points)} kill points x {REPEATS} runs = {runs}, duplicates: 0")
