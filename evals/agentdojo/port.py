"""AgentDojo's workspace environment as a morrow world, and its tools mapped onto morrow's.

The environment (``environment.yaml`` and its ``include/`` files, MIT, see the suite's
README) becomes an .ics calendar and a Maildir: each event keeps its AgentDojo id in its UID
(``event-<id>``), each message in its Maildir name (``email-<id>``), received mail goes to the
INBOX (seen or not, as the YAML says), sent mail to ``Sent``. Naive times are read in the zone
:data:`TIMEZONE`. The injection placeholders get their benign defaults, filled into the raw
text before parsing, as AgentDojo does.

:func:`map_call` translates one AgentDojo tool call into morrow tool calls (docs/evals.md has
the table and the places where the two tool sets differ).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import icalendar

from morrow.evals.script import ScriptedCall, ScriptedStep
from morrow.evals.world import INBOX, StoredMessage, World

TIMEZONE = "America/New_York"
ZONE = ZoneInfo(TIMEZONE)
USER_EMAIL = "emma.johnson@bluesparrowtech.com"
USER_NAME = "Emma Johnson"
SEARCH_WINDOW = timedelta(days=180)  # AgentDojo's searches span the whole calendar


@dataclass
class Environment:
    """The parsed AgentDojo environment and the ids morrow gives its items."""

    today: date
    events: list[dict[str, Any]]
    emails: list[dict[str, Any]]
    email_ids: dict[str, str] = field(default_factory=dict)

    @property
    def now(self) -> datetime:
        """The moment the tasks happen: 08:00 on AgentDojo's current day."""
        return datetime.combine(self.today, time(8, 0), tzinfo=ZONE)

    def people_met_today(self) -> list[str]:
        """The addresses of everyone but the user in today's events, sorted."""
        return sorted(
            {
                address
                for event in self.events
                if str(event["start_time"])[:10] == self.today.isoformat()
                for address in event.get("participants") or []
                if address != USER_EMAIL
            }
        )


def load_environment(data: Path) -> Environment:
    """Read ``environment.yaml`` (resolving ``!include``) with the benign injection texts."""
    import yaml

    defaults = {
        name: str(spec.get("default", ""))
        for name, spec in yaml.safe_load((data / "injection_vectors.yaml").read_text()).items()
    }

    def read(path: Path) -> Any:
        text = path.read_text(encoding="utf-8")
        for name, value in defaults.items():
            text = text.replace("{" + name + "}", value)
        return yaml.load(text, Loader=_loader(path.parent, read))

    root = read(data / "environment.yaml")
    inbox, calendar = root["inbox"], root["calendar"]
    emails = list(inbox["initial_emails"])
    env = Environment(
        today=_as_date(calendar["current_day"]),
        events=list(calendar["initial_events"]),
        emails=emails,
    )
    for email in emails:
        folder = INBOX if email["status"] == "received" else email["status"].title()
        env.email_ids[str(email["id_"])] = f"{folder}/email-{email['id_']}"
    return env


def _loader(base: Path, read: Any) -> Any:
    import yaml

    class Loader(yaml.SafeLoader):
        pass

    def include(loader: Any, node: Any) -> Any:
        return read(base / loader.construct_scalar(node))

    Loader.add_constructor("!include", include)
    return Loader


def build_world(env: Environment) -> World:
    """The environment as an inline world: the calendar file and the mail folders."""
    mail: dict[str, list[StoredMessage]] = {}
    for email in env.emails:
        folder, name = env.email_ids[str(email["id_"])].split("/", 1)
        flags = "S" if email.get("read", True) or folder != INBOX else ""
        mail.setdefault(folder, []).append(StoredMessage.of(name, flags, _message(email)))
    return World(calendar_ics=_calendar(env.events), mail=mail)


_BUILT: dict[str, Any] = {}


def _once(kind: str, item: Any, build: Any) -> Any:
    """``build(item)``, made once per distinct item (attacked worlds share most of theirs)."""
    key = kind + json.dumps(item, sort_keys=True, default=str)
    if key not in _BUILT:
        _BUILT[key] = build(item)
    return _BUILT[key]


def _calendar(events: list[dict[str, Any]]) -> str:
    text: str = _once("calendar", events, _build_calendar)
    return text


def _build_calendar(events: list[dict[str, Any]]) -> str:
    """The calendar file: its head (with the zone's VTIMEZONE), each event, the end.

    Every event is in the zone :data:`TIMEZONE`, so the head is the same for every world, and
    each event's text is made once (an attacked world differs from another in one or two).
    """
    head: str = _once("head", TIMEZONE, _calendar_head)
    body = "".join(_once("event", item, _event_text) for item in events)
    return head + body + "END:VCALENDAR\r\n"


def _calendar_head(zone: str) -> str:
    calendar = icalendar.Calendar()
    calendar.add("prodid", "-//morrow//agentdojo workspace//EN")
    calendar.add("version", "2.0")
    calendar.add_component(
        _event(
            {
                "id_": "0",
                "title": "",
                "start_time": "2024-05-15T08:00",
                "end_time": "2024-05-15T09:00",
            }
        )
    )
    calendar.add_missing_timezones()
    text: str = calendar.to_ical().decode()
    return text[: text.index("BEGIN:VEVENT")]


def _event_text(item: dict[str, Any]) -> str:
    text: str = _event(item).to_ical().decode()
    return text


def _event(item: dict[str, Any]) -> icalendar.Event:
    event = icalendar.Event()
    event.add("uid", f"event-{item['id_']}")
    event.add("summary", item["title"])
    start, end = _local(item["start_time"]), _local(item["end_time"])
    if item.get("all_day"):
        event.add("dtstart", start.date())
        event.add("dtend", end.date() + timedelta(days=1))
    else:
        event.add("dtstart", start)
        event.add("dtend", end)
    event.add("dtstamp", datetime(2024, 5, 1, tzinfo=ZONE))
    if item.get("description"):
        event.add("description", item["description"])
    if item.get("location"):
        event.add("location", item["location"])
    if item.get("organizer"):  # an invitation (AgentDojo's own events have none)
        event.add("organizer", f"mailto:{item['organizer']}")
    for address in item.get("participants") or []:
        event.add("attendee", f"mailto:{address}")
    event.add("status", "CANCELLED" if item.get("status") == "canceled" else "CONFIRMED")
    return event


def _message(email: dict[str, Any]) -> bytes:
    raw: bytes = _once("message", email, _build_message)
    return raw


def _build_message(email: dict[str, Any]) -> bytes:
    message = EmailMessage()
    message["From"] = email["sender"]
    message["To"] = ", ".join(email.get("recipients") or [])
    if email.get("cc"):
        message["Cc"] = ", ".join(email["cc"])
    if email.get("bcc"):
        message["Bcc"] = ", ".join(email["bcc"])
    message["Subject"] = email["subject"]
    message["Date"] = format_datetime(_local(email["timestamp"]))
    message["Message-ID"] = f"<agentdojo-{email['id_']}@bluesparrowtech.com>"
    if email.get("in_reply_to"):  # a reply into a thread (the injection suite's joined thread)
        message["In-Reply-To"] = message["References"] = f"<{email['in_reply_to']}>"
    message.set_content(email["body"])
    return message.as_bytes()


def _local(value: Any) -> datetime:
    parsed = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return parsed.replace(tzinfo=ZONE) if parsed.tzinfo is None else parsed


def _as_date(value: Any) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value))


# -- calls -----------------------------------------------------------------------------------


class CallMapper:
    """Translates AgentDojo calls of one run into morrow scripted steps.

    Keeps what a run created, so a later call naming such an id reads the id morrow minted,
    through a script alias. AgentDojo numbers a new event from the largest event id + 1 and a
    new email from the largest email id + 1; an email is created by ``send_email`` and by
    every create, reschedule and cancel of an event (the invitation or notice it mails), and
    ``delete_email`` frees its id (so the next email may take it again). Only the emails
    ``send_email`` created exist in morrow's world too (its eval calendar mails nobody); a
    delete of an invitation finds nothing there.
    """

    def __init__(self, env: Environment) -> None:
        self.env = env
        self.next_event = max(int(e["id_"]) for e in env.events) + 1
        self.events = {str(e["id_"]): e for e in env.events}
        self.email_numbers = {int(e["id_"]) for e in env.emails}
        self.sent: dict[str, str] = {}  # AgentDojo id of an email sent in this run -> alias

    def _new_email(self) -> str:
        """The id AgentDojo gives the next email it stores."""
        number = max(self.email_numbers, default=0) + 1
        self.email_numbers.add(number)
        self.sent.pop(str(number), None)
        return str(number)

    def steps(self, calls: list[tuple[str, dict[str, Any]]]) -> list[ScriptedStep]:
        """One model step's AgentDojo calls as morrow steps (a second one marks mail read)."""
        now: list[ScriptedCall] = []
        after: list[ScriptedCall] = []
        for function, args in calls:
            first, then = self.map_call(function, args or {})
            now += first
            after += then
        return [ScriptedStep(calls=batch) for batch in (now, after) if batch]

    def map_call(
        self, function: str, args: dict[str, Any]
    ) -> tuple[list[ScriptedCall], list[ScriptedCall]]:
        """Morrow calls for this step, and calls for a follow-up step (marking mail read)."""
        handler = getattr(self, f"_{function}", None)
        if handler is None:  # drive tools and anything else morrow does not have
            return [ScriptedCall(name=function, arguments=args)], []
        result: tuple[list[ScriptedCall], list[ScriptedCall]] = handler(args)
        return result

    def _day(self, day: str) -> dict[str, str]:
        try:
            start = datetime.combine(date.fromisoformat(str(day)[:10]), time(), tzinfo=ZONE)
        except ValueError:  # AgentDojo's tool failed on it too; morrow's will say why
            return {"start": str(day), "end": str(day)}
        return {"start": start.isoformat(), "end": (start + timedelta(days=1)).isoformat()}

    def _time(self, value: str) -> str:
        try:
            return _local(str(value).replace(" ", "T")).isoformat()
        except ValueError:
            return str(value)

    def _event_id(self, value: Any) -> str:
        key = str(value)
        return f"event-{key}" if key in self.events else f"{{{{event{key}.id}}}}"

    def _email_id(self, value: Any) -> str:
        key = str(value)
        if key in self.sent:
            return f"{{{{{self.sent[key]}.email_id}}}}"
        return self.env.email_ids.get(key, key)

    def _get_current_day(self, args: dict[str, Any]) -> Any:
        return [], []  # the date is in morrow's system prompt

    def _get_day_calendar_events(self, args: dict[str, Any]) -> Any:
        return [ScriptedCall(name="list_events", arguments=self._day(args.get("day", "")))], []

    def _search_calendar_events(self, args: dict[str, Any]) -> Any:
        if args.get("date"):
            window = self._day(args["date"])
        else:
            now = self.env.now
            window = {
                "start": (now - SEARCH_WINDOW).isoformat(),
                "end": (now + SEARCH_WINDOW).isoformat(),
            }
        query = {"query": args["query"]} if args.get("query") else {}
        return [ScriptedCall(name="list_events", arguments={**window, **query})], []

    def _create_calendar_event(self, args: dict[str, Any]) -> Any:
        arguments: dict[str, Any] = {
            "title": args.get("title", ""),
            "start": self._time(args.get("start_time", "")),
            "end": self._time(args.get("end_time", "")),
        }
        for source, target in (("description", "description"), ("location", "location")):
            if args.get(source):
                arguments[target] = args[source]
        if args.get("participants"):
            arguments["attendees"] = list(args["participants"])
            arguments["send_invitations"] = True  # AgentDojo always emails an invitation
        alias = f"event{self.next_event}"
        self.next_event += 1
        self._new_email()  # AgentDojo's invitation
        return [ScriptedCall(name="create_event", arguments=arguments, as_=alias)], []

    def _reschedule_calendar_event(self, args: dict[str, Any]) -> Any:
        start = self._time(args.get("new_start_time", ""))
        end = args.get("new_end_time")
        if not end:
            original = self.events.get(str(args.get("event_id")))
            length = (
                _local(original["end_time"]) - _local(original["start_time"])
                if original
                else timedelta(hours=1)
            )
            try:
                end_value = (datetime.fromisoformat(start) + length).isoformat()
            except ValueError:
                end_value = start
        else:
            end_value = self._time(end)
        arguments = {
            "event_id": self._event_id(args.get("event_id")),
            "start": start,
            "end": end_value,
            "send_updates": True,
        }
        self._new_email()  # AgentDojo's notice of the new time
        return [ScriptedCall(name="update_event", arguments=arguments)], []

    def _add_calendar_event_participants(self, args: dict[str, Any]) -> Any:
        arguments = {
            "event_id": self._event_id(args.get("event_id")),
            "add_attendees": list(args.get("participants") or []),
        }
        return [ScriptedCall(name="update_event", arguments=arguments)], []

    def _cancel_calendar_event(self, args: dict[str, Any]) -> Any:
        arguments = {"event_id": self._event_id(args.get("event_id")), "notify": True}
        self._new_email()  # AgentDojo's cancellation notice
        return [ScriptedCall(name="cancel_event", arguments=arguments)], []

    def _search_emails(self, args: dict[str, Any]) -> Any:
        arguments = {k: args[k] for k in ("query", "sender") if args.get(k)}
        return [ScriptedCall(name="search_emails", arguments=arguments)], []

    def _get_unread_emails(self, args: dict[str, Any]) -> Any:
        # AgentDojo's get_unread_emails also marks them read: morrow needs a second call.
        search = ScriptedCall(
            name="search_emails",
            arguments={"unread": True, "folder": INBOX, "limit": 100},
            as_="unread",
        )
        mark = ScriptedCall(
            name="mark_email",
            arguments={"email_id": "{{item}}", "read": True},
            for_each="{{unread[*].id}}",
        )
        return [search], [mark]

    def _folder(self, folder: str) -> Any:
        call = ScriptedCall(name="search_emails", arguments={"folder": folder, "limit": 100})
        return [call], []

    def _get_received_emails(self, args: dict[str, Any]) -> Any:
        return self._folder(INBOX)

    def _get_sent_emails(self, args: dict[str, Any]) -> Any:
        return self._folder("Sent")

    def _get_draft_emails(self, args: dict[str, Any]) -> Any:
        return self._folder("Drafts")

    def _search_contacts_by_name(self, args: dict[str, Any]) -> Any:
        return [
            ScriptedCall(name="search_contacts", arguments={"query": args.get("query", "")})
        ], []

    _search_contacts_by_email = _search_contacts_by_name

    def _send_email(self, args: dict[str, Any]) -> Any:
        arguments: dict[str, Any] = {
            "to": list(args.get("recipients") or []),
            "subject": args.get("subject", ""),
            "body": args.get("body", ""),
        }
        for key in ("cc", "bcc"):
            if args.get(key):
                arguments[key] = list(args[key])
        number = self._new_email()
        self.sent[number] = f"email{number}"
        return [ScriptedCall(name="send_email", arguments=arguments, as_=f"email{number}")], []

    def _delete_email(self, args: dict[str, Any]) -> Any:
        # morrow has no delete; archiving is its closest reversible move out of the inbox
        email_id = self._email_id(args.get("email_id"))
        try:
            self.email_numbers.discard(int(str(args.get("email_id"))))
        except ValueError:
            pass
        return [ScriptedCall(name="archive_email", arguments={"email_id": email_id})], []


_LLAMA_CALL = re.compile(r"<function=\w+>.*?</function>", re.DOTALL)


def message_text(content: Any) -> str:
    """The text of a run message: a plain string, or the joined ``content`` of its blocks."""
    if content is None:
        return ""
    if isinstance(content, list):
        content = "".join(str(block.get("content", "")) for block in content)
    return _LLAMA_CALL.sub("", str(content)).strip()
