"""What the briefing gathers besides the calendar: mail waiting on the user, and reminders.

**Mail waiting on you** looks at the last 14 days. A conversation waits on the user when its
latest message came from someone else, from a real person (not a newsletter, a receipt or a
notification), and the user has not answered it since: neither later in the thread nor by a
message in Sent to that person with the same subject (mail clients do not always keep the
thread headers). Of those, the ones where the sender asked something (a question mark or a
request such as "could you" in the text they wrote, quoted lines left out) are "asks you
something"; the others count when unread.

"A real person": the backends do not expose the List-Unsubscribe, Precedence or
Auto-Submitted headers (a message is given as sender, subject and text), so the sender's
address decides (``noreply@``, ``newsletter@``, ``billing@``... are automated) and so does an
unsubscribe link in the text.

**Reminders** are remembered facts in which the user asked to be reminded ("remind me to ...",
"don't forget ..."). A reminder naming a day (today, tomorrow, a weekday, a date) is shown on
that day only; one naming no day is shown every day until it is forgotten.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import structlog

from morrow.memory.store import Store
from morrow.tools.email.addresses import parse_key
from morrow.tools.email.backend import EmailSummary
from morrow.tools.workspace import Workspace

log = structlog.get_logger("morrow.brief")

LOOK_BACK_DAYS = 14
MAX_READS = 40  # messages whose text is read to find a question (each may be a request)
AUTOMATED_LOCAL_PARTS = (
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
    "invoice",
    "orders",
    "digest",
    "alerts",
    "info",
    "hello",
    "team",
    "bounce",
    "bounces",
)
_ASKING = re.compile(
    r"\?|\b(could|can|would|will) you\b|\blet me know\b|\bplease (confirm|reply|send|check)\b",
    re.IGNORECASE,
)
_SENT_FOLDERS = {"sent", "sent items", "sent messages", "sent mail", "drafts", "draft"}


def _key(value: str) -> str:
    """The address of ``Name <address>`` as the one parser compares it ("" when invalid)."""
    return parse_key(value) or ""


def automated(address: str) -> bool:
    """Whether an address looks like a machine's (newsletters, receipts, notifications)."""
    local = address.split("@")[0]
    return any(
        local == word or local.startswith((word + "+", word + "-"))
        for word in AUTOMATED_LOCAL_PARTS
    ) or local.startswith(("noreply", "no-reply", "bounce"))


def _subject_key(subject: str) -> str:
    key = subject.strip().lower()
    while re.match(r"^(re|fwd?|aw|wg)\s*:", key):
        key = key.split(":", 1)[1].strip()
    return key


def waiting_mail(workspace: Workspace, day: date) -> tuple[list[EmailSummary], list[EmailSummary]]:
    """Mail waiting on the user on ``day``: (unread from people, asking the user something)."""
    zone = workspace.timezone
    since = datetime.combine(day - timedelta(days=LOOK_BACK_DAYS), time(0), zone)
    until = datetime.combine(day + timedelta(days=1), time(0), zone)
    recent = workspace.mail.search(None, None, None, since, until, None, 100)
    me = _key(workspace.user_email or "")

    def mine(message: EmailSummary) -> bool:
        sender = _key(message.from_)
        return message.folder.lower() in _SENT_FOLDERS or bool(me and sender == me)

    latest: dict[str, EmailSummary] = {}
    for message in sorted(recent, key=lambda m: m.date):
        latest[message.thread_id] = message
    answers = [m for m in recent if mine(m)]
    waiting: list[EmailSummary] = []
    asked: list[EmailSummary] = []
    reads = 0
    for message in sorted(latest.values(), key=lambda m: m.date, reverse=True):
        sender = _key(message.from_)
        if mine(message) or automated(sender) or _answered(message, sender, answers):
            continue
        text = message.snippet
        if reads < MAX_READS:
            reads += 1
            text = _own_text(workspace, message)
        if "unsubscribe" in text.lower():
            continue  # a mailing list's footer: not a person waiting
        if message.subject.rstrip().endswith("?") or _ASKING.search(text):
            asked.append(message)
        elif message.unread:
            waiting.append(message)
    return waiting, asked


def _answered(message: EmailSummary, sender: str, answers: list[EmailSummary]) -> bool:
    """Whether the user wrote to ``sender`` about the same subject after ``message``."""
    key = _subject_key(message.subject)
    return any(
        answer.date > message.date
        and _subject_key(answer.subject) == key
        and any(_key(to) == sender for to in answer.to)
        for answer in answers
    )


def _own_text(workspace: Workspace, message: EmailSummary) -> str:
    """What the sender wrote themselves: the start of the body without quoted lines (``>``).

    Only the top of a message is read (the Maildir's first 16 KB; a remote mailbox's snippet,
    which costs no request): a question to the user is near the top, not in attachments.
    """
    opening = getattr(workspace.mail, "opening", None)
    if opening is None:
        return message.snippet
    try:
        body = opening(message.id)
    except Exception as exc:  # one unreadable message must not cost the whole briefing
        log.warning("brief_mail_unreadable", email_id=message.id, error=str(exc))
        return message.snippet
    own = []
    for line in body.splitlines():
        if re.match(r"^On .+ wrote:\s*$", line.strip()):
            break  # the quoted original follows
        if not line.lstrip().startswith(">"):
            own.append(line)
    return "\n".join(own)


# -- reminders ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Reminder:
    """A remembered fact asking for a reminder, shown on ``day``."""

    fact_id: int
    text: str
    said_at: datetime


_REMIND = re.compile(r"\bremind(er|ers)?\b|\b(don'?t|do not) (let me )?forget\b", re.IGNORECASE)
_WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_MONTHS = (
    "january february march april may june july august september october november december"
).split()


def reminders(store: Store, day: date, zone: ZoneInfo) -> list[Reminder]:
    """The reminders among the remembered facts that are due on ``day``."""
    from morrow.memory.errors import MemoryStoreError
    from morrow.memory.facts import Facts

    try:
        facts = Facts(store).all()
    except MemoryStoreError as exc:  # the briefing goes on without them
        log.warning("brief_reminders_unavailable", error=str(exc))
        return []
    due = []
    for fact in facts:
        said = fact.said_at.astimezone(zone)
        if _REMIND.search(fact.text) and said.date() <= day and _due(fact.text, said.date(), day):
            due.append(Reminder(fact.id, fact.text, said))
    return sorted(due, key=lambda r: r.said_at)


def _due(text: str, said: date, day: date) -> bool:
    """Whether a reminder said on ``said`` is for ``day`` (no day named: every day)."""
    lower = text.lower()
    named: list[bool] = []
    if re.search(r"\btomorrow\b", lower):
        named.append(day == said + timedelta(days=1))
    if re.search(r"\b(today|tonight|this (morning|afternoon|evening))\b", lower):
        named.append(day == said)
    for index, name in enumerate(_WEEKDAYS):
        if re.search(rf"\b{name}s?\b", lower):
            named.append(day.weekday() == index)
    for match in re.finditer(r"\b(\d{4})-(\d{2})-(\d{2})\b", lower):
        named.append(match.group(0) == day.isoformat())
    for match in re.finditer(r"\b(\d{1,2})\.? (" + "|".join(_MONTHS) + r")\b", lower):
        named.append(
            (int(match.group(1)), _MONTHS.index(match.group(2)) + 1) == (day.day, day.month)
        )
    for match in re.finditer(r"\b(" + "|".join(_MONTHS) + r") (\d{1,2})\b", lower):
        named.append(
            (int(match.group(2)), _MONTHS.index(match.group(1)) + 1) == (day.day, day.month)
        )
    return any(named) if named else True
