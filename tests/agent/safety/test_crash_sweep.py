"""The crash sweep: SIGKILL at every step of the send and create paths, then a restart.

Each run forks a child that approves and runs one effect through the gate and the effect
journal (the loop's effect path) and kills itself (SIGKILL) at one point; the parent then
"restarts": a new run of the same session asks for the same action again in ``allow`` mode,
with nobody to ask. Whatever the point, the SMTP sink (a real aiosmtpd server) and the Sent
folder hold each message at most once, and the calendar each event at most once: morrow never
repeats an effect whose outcome it does not know; it looks the key up (Sent, the calendar)
and otherwise leaves it to the user.
"""

import asyncio
import os
import signal
from pathlib import Path
from zoneinfo import ZoneInfo

import icalendar
import pytest
from support.mail_servers import run_smtp_sink

from morrow.agent.safety.gate import ApprovalGate
from morrow.agent.safety.journal import EffectJournal
from morrow.memory.journal import Journal
from morrow.memory.store import Store
from morrow.tools.base import ToolRegistry
from morrow.tools.calendar.ics import IcsCalendar
from morrow.tools.catalog import all_tools
from morrow.tools.context import ToolContext
from morrow.tools.email.maildir import MaildirMailbox
from morrow.tools.email.smtp import SmtpSettings
from morrow.tools.workspace import Workspace

TOOLS = ToolRegistry(all_tools())
ZONE = ZoneInfo("Europe/Berlin")
REPEATS = 14
SEND_POINTS = [
    "none",
    "before_intent",
    "after_intent",
    "before_submit",
    "after_submit",
    "after_sent_copy",
    "before_outcome",
    "after_outcome",
]
CREATE_POINTS = [
    "none",
    "before_intent",
    "after_intent",
    "before_write",
    "after_write",
    "before_outcome",
    "after_outcome",
]
# After a kill at these points the effect happened and morrow can prove it (the journal says
# done, or the key is found in Sent / on the calendar). After "after_submit" the message went
# out but its copy never reached Sent: the outcome stays unknown and the user decides. Before
# "after_intent" nothing was journaled, so the restart does it (once).
HAPPENED = {"after_sent_copy", "before_outcome", "after_outcome", "none"}
HAPPENED_CREATE = {"after_write", "before_outcome", "after_outcome", "none"}


def workspace(root: Path, port: int, session: str) -> ToolContext:
    """The tools' context of one process over the world at ``root`` (its own store connection)."""
    mail = root / "Mail"
    for folder in (mail, mail / ".Sent"):
        for sub in ("cur", "new", "tmp"):
            (folder / sub).mkdir(parents=True, exist_ok=True)
    if not (root / "calendar.ics").exists():
        (root / "calendar.ics").write_text(
            "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//t//EN\r\nEND:VCALENDAR\r\n"
        )
    store = Store.open(root / "morrow.sqlite")
    if store.session(session) is None:
        store.create_session(session)
    world = Workspace(
        calendar=IcsCalendar(root / "calendar.ics", ZONE),
        mail=MaildirMailbox(
            mail,
            address="Alex <alex@example.com>",
            index_path=root / "index.sqlite",
            smtp=SmtpSettings(host="127.0.0.1", port=port, security="none", timeout=10),
        ),
        timezone=ZONE,
        user_email="alex@example.com",
    )
    return ToolContext(world, store, session_id=session)


def action(kind: str, n: int, tag: str = "") -> tuple[str, dict]:
    if kind == "send":
        subject = f"note {tag} {n}"
        return "send_email", {"to": ["alex@example.com"], "subject": subject, "body": "hi"}
    start = f"2025-04-{1 + n % 28:02d}T10:00:00+02:00"
    return "create_event", {
        "title": f"event {tag} {n}",
        "start": start,
        "end": start[:11] + "11:00:00+02:00",
    }


async def effect(ws: ToolContext, kind: str, n: int, run_id: str, tag: str = "") -> str:
    name, raw = action(kind, n, tag)
    tool = TOOLS.get(name)
    args = tool.validate(raw)
    assert ws.store is not None
    gate = ApprovalGate(mode="allow", journal=EffectJournal(ws.store, run_id))
    context = ws.for_call(f"{run_id}-{n}")
    request = await gate.review(tool, args, context)
    decision = await gate.decide(request)
    if not decision.approved:
        return "refused: " + decision.reason
    await gate.run(tool, args, context)
    return "done"


def arm(point: str, monkeypatch_targets: list) -> None:
    """Make this (child) process kill itself at ``point``."""

    def die() -> None:
        os.kill(os.getpid(), signal.SIGKILL)

    def around(owner, attribute, *, before: bool, when=lambda *a, **k: True):
        original = getattr(owner, attribute)

        def wrapped(*args, **kwargs):
            if before and when(*args, **kwargs):
                die()
            result = original(*args, **kwargs)
            if not before and when(*args, **kwargs):
                die()
            return result

        setattr(owner, attribute, wrapped)

    import morrow.tools.email.maildir as maildir

    done = lambda self, entry_id, status, note=None, **_: status == "done"  # noqa: E731
    table = {
        "before_intent": (Journal, "begin", True, None),
        "after_intent": (Journal, "begin", False, None),
        "before_submit": (maildir, "submit", True, None),
        "after_submit": (maildir, "submit", False, None),
        "after_sent_copy": (MaildirMailbox, "_deliver", False, None),
        "before_write": (IcsCalendar, "create_event", True, None),
        "after_write": (IcsCalendar, "create_event", False, None),
        "before_outcome": (Journal, "finish", True, done),
        "after_outcome": (Journal, "finish", False, done),
    }
    if point in table:
        owner, attribute, before, when = table[point]
        around(owner, attribute, before=before, **({"when": when} if when else {}))


def run_child(root: Path, port: int, kind: str, point: str, n: int) -> int:
    pid = os.fork()
    if pid == 0:  # the child: one effect, killed at the point
        try:
            arm(point, [])
            asyncio.run(effect(workspace(root, port, f"s{n}"), kind, n, "child", point))
        finally:
            os._exit(0)
    _, status = os.waitpid(pid, 0)
    return status


def events_titled(root: Path, title: str) -> int:
    calendar = icalendar.Calendar.from_ical((root / "calendar.ics").read_bytes())
    return sum(str(e.get("SUMMARY")) == title for e in calendar.walk("VEVENT"))


@pytest.mark.parametrize(("kind", "points"), [("send", SEND_POINTS), ("create", CREATE_POINTS)])
def test_no_effect_is_repeated_after_a_kill_at_any_point(tmp_path, kind, points):
    runs = 0
    with run_smtp_sink() as sink:
        for point in points:
            root = tmp_path / point
            for n in range(REPEATS):
                status = run_child(root, sink.port, kind, point, n)
                killed = os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL
                assert killed or point == "none", (point, status)
                ws = workspace(root, sink.port, f"s{n}")  # the restart: a new process's view
                outcome = asyncio.run(effect(ws, kind, n, "restart", point))
                runs += 1
                _, raw = action(kind, n, point)
                if kind == "send":
                    subject = raw["subject"]
                    delivered = sum(r.message["Subject"] == subject for r in sink.received)
                    saved = [
                        s
                        for s in ws.workspace.mail.search(
                            subject, None, None, None, None, "Sent", 5
                        )
                        if s.subject == subject
                    ]
                    assert delivered <= 1 and len(saved) <= 1, (point, n, delivered, saved)
                    happened = point in HAPPENED
                    went_out = happened or point in ("before_intent", "after_submit")
                    assert delivered == (1 if went_out else 0), (point, n, delivered)
                else:
                    count = events_titled(root, raw["title"])
                    assert count <= 1, (point, n, count)
                    happened = point in HAPPENED_CREATE
                if point == "before_intent":  # nothing was journaled: the restart does it once
                    assert outcome == "done", outcome
                else:  # journaled: never repeated without the user
                    assert outcome.startswith("refused"), (point, outcome)
                    assert "already done" in outcome or "outcome unknown" in outcome
                    if happened:
                        assert "already done" in outcome, (point, outcome)
                ws.store.close()
        if kind == "send":
            ids = [r.message["Message-ID"] for r in sink.received]
            assert len(ids) == len(set(ids))
    assert runs == len(points) * REPEATS


def test_the_sweep_has_at_least_200_runs():
    assert (len(SEND_POINTS) + len(CREATE_POINTS)) * REPEATS >= 200


def test_an_unknown_outcome_found_in_sent_becomes_done(tmp_path):
    with run_smtp_sink() as sink:
        root = tmp_path / "w"
        run_child(root, sink.port, "send", "after_sent_copy", 1)
        with Store.open(root / "morrow.sqlite") as store:
            (entry,) = Journal(store).entries()
            assert entry.status == "pending" and entry.key and entry.key.endswith("@example.com")
            assert Journal(store).settle_interrupted()[0].id == entry.id
        ws = workspace(root, sink.port, "s1")
        assert "already done" in asyncio.run(effect(ws, "send", 1, "again", "after_sent_copy"))
        ws.store.close()
        with Store.open(root / "morrow.sqlite") as store:
            entries = Journal(store).entries()
        assert entries[0].status == "done" and "found" in (entries[0].note or "")
        assert entries[1].status == "refused"
        assert sink.received[0].message["Message-ID"] == f"<{entry.key}>"
