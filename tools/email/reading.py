"""From raw message bytes to what the tools show, for every backend that gets raw bytes.

:func:`parse_message` never raises: a message the parser chokes on still yields its text.
The Maildir index, the IMAP backend and Gmail's ``raw`` fallback all go through here, so a
message reads the same whatever mailbox it sits in.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from email.message import Message

from morrow.tools.email import mime
from morrow.tools.email.backend import Attachment, Email

MAX_BODY_CHARS = 20_000
SNIPPET_CHARS = 200


@dataclass
class Parsed:
    """Everything the tools use from one message, decoded."""

    sender: str = ""
    to: list[str] = field(default_factory=list)
    cc: list[str] = field(default_factory=list)
    subject: str = ""
    date: datetime | None = None
    message_id: str | None = None
    in_reply_to: str | None = None
    references: list[str] = field(default_factory=list)
    thread_root: str | None = None
    body: str = ""
    attachments: list[Attachment] = field(default_factory=list)


def parse_message(data: bytes) -> Parsed:
    """Decode headers, body and attachment list; never raises.

    CPython's header parser raises on a few malformed headers (found by fuzzing); then the
    message is parsed again with plain-string headers, and as a last resort the bytes are
    shown as text.
    """
    for compat in (False, True):
        try:
            message = mime.parse(data, compat=compat)
            parsed = from_headers(message)
            parsed.body = mime.body_text(message)
            parsed.attachments = mime.attachments(message)
            return parsed
        except Exception:
            continue
    return Parsed(body=mime.decode_bytes(data, None))


def from_headers(message: Message) -> Parsed:
    """The header fields of a parsed message (body and attachments left empty)."""
    return Parsed(
        sender=", ".join(mime.addresses(message, "From")),
        to=mime.addresses(message, "To"),
        cc=mime.addresses(message, "Cc"),
        subject=mime.header(message, "Subject"),
        date=mime.date(message),
        message_id=_first(mime.message_ids(mime.header(message, "Message-ID"))),
        in_reply_to=_first(mime.message_ids(mime.header(message, "In-Reply-To"))),
        references=mime.message_ids(mime.header(message, "References")),
        thread_root=mime.thread_root(message),
    )


def to_email(
    parsed: Parsed,
    *,
    email_id: str,
    folder: str,
    unread: bool,
    received: datetime,
    thread_id: str | None = None,
) -> Email:
    """The :class:`Email` a tool returns, the body cut at :data:`MAX_BODY_CHARS`.

    Args:
        parsed: the decoded message.
        email_id: the backend's id for it.
        folder: where it is.
        unread: whether it is unread.
        received: when it arrived; used when the Date header is missing or unreadable.
        thread_id: the backend's thread id; by default the thread root's Message-ID.
    """
    body, note = cut_body(parsed.body)
    return Email.model_validate(
        {
            "id": email_id,
            "thread_id": thread_id or parsed.thread_root or email_id,
            "folder": folder,
            "from_": parsed.sender,
            "to": parsed.to,
            "subject": parsed.subject,
            "date": parsed.date or received,
            "unread": unread,
            "snippet": snippet(parsed.body),
            "has_attachments": bool(parsed.attachments),
            "cc": parsed.cc,
            "body": body,
            "body_truncated": note,
            "attachments": parsed.attachments,
            "message_id": parsed.message_id,
            "in_reply_to": parsed.in_reply_to,
            "references": parsed.references,
        }
    )


def cut_body(body: str, limit: int = MAX_BODY_CHARS) -> tuple[str, str | None]:
    """The body cut at ``limit`` characters, and a note saying how much was left out."""
    if len(body) <= limit:
        return body, None
    left_out = len(body) - limit
    return body[:limit], f"body cut at {limit} characters; {left_out} more were left out"


def snippet(body: str) -> str:
    """The start of the body, whitespace collapsed, at most :data:`SNIPPET_CHARS` long."""
    text = " ".join(body[: SNIPPET_CHARS * 4].split())
    return text if len(text) <= SNIPPET_CHARS else text[: SNIPPET_CHARS - 1].rstrip() + "…"


def _first(values: list[str]) -> str | None:
    return values[0] if values else None
