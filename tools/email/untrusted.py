"""Mail as the model sees it: world-written text inside labelled ``<untrusted_content>`` blocks.

Everything a message's author chose (subject, display names, addresses, attachment names,
snippet, body) goes inside one block per message, written the way mail reads (header lines,
a blank line, the text). What morrow itself knows (ids, folder, date, read or not) stays
outside as plain JSON fields. One block per message costs about as many tokens as the JSON
keys it replaces, so search results stay compact.

Any look-alike of the tags inside the text is defused first, so a message cannot close its
block early and speak as the system; header values are folded onto one line, so a subject
cannot forge header lines of its own.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import tzinfo
from typing import Any

from morrow.tools.email.backend import Attachment, Contact, Email, EmailSummary

UNTRUSTED_TAG = "untrusted_content"
MAX_LISTED_RECIPIENTS = 5
THREAD_BODY_CHARS = 4_000
_TAG_LOOKALIKE = re.compile(r"<(\s*/?\s*)(untrusted[\s_-]*content)", re.IGNORECASE)
_ATTRIBUTION = re.compile(
    r"^\s*(on\b.*\bwrote|am\b.*\bschrieb|le\b.*\bécrit|el\b.*\bescribió|op\b.*\bschreef)"
    r"\s*:?\s*$",
    re.IGNORECASE,
)
_FORWARDED_ORIGINAL = re.compile(
    r"^\s*(-{2,}\s*(original message|ursprüngliche nachricht|message d'origine)\s*-{2,}"
    r"|_{20,})\s*$",
    re.IGNORECASE,
)


def wrap_untrusted(text: str, *, source: str, inline: bool = False) -> str:
    """Wrap world-written text in a labelled delimiter it cannot break out of."""
    defused = _TAG_LOOKALIKE.sub(lambda match: "&lt;" + match.group(1) + match.group(2), text)
    source_attr = source.replace("&", "&amp;").replace('"', "&quot;").replace("<", "&lt;")
    sep = "" if inline else "\n"
    return f'<{UNTRUSTED_TAG} source="{source_attr}">{sep}{defused}{sep}</{UNTRUSTED_TAG}>'


def summary_item(email: EmailSummary, zone: tzinfo) -> dict[str, Any]:
    """One search result: trusted fields, and the sender's words in one block."""
    lines = _header_lines(email.from_, email.to, [], email.subject, [])
    text = "\n".join(lines) + (f"\n\n{email.snippet}" if email.snippet else "")
    item = _trusted_fields(email, zone)
    if email.has_attachments:
        item["has_attachments"] = True
    item["content"] = wrap_untrusted(text, source=f"email:{email.id}")
    return item


def email_item(email: Email, zone: tzinfo, *, body: str | None = None) -> dict[str, Any]:
    """One whole message: trusted fields, then headers, attachments and body in one block."""
    lines = _header_lines(email.from_, email.to, email.cc, email.subject, email.attachments)
    text = "\n".join(lines) + "\n\n" + (email.body if body is None else body)
    item = _trusted_fields(email, zone)
    item["content"] = wrap_untrusted(text, source=f"email:{email.id}")
    if email.body_truncated:
        item["body_truncated"] = email.body_truncated
    return item


def thread_items(emails: Sequence[Email], zone: tzinfo) -> tuple[list[dict[str, Any]], bool]:
    """The messages of a thread, each without the quoted copy of earlier ones.

    Returns:
        The items, and whether any quoted text or long body was left out.
    """
    items, elided = [], False
    for email in emails:
        body, cut = strip_quoted(email.body)
        if len(body) > THREAD_BODY_CHARS:
            body, cut = body[:THREAD_BODY_CHARS] + "\n[...]", True
        elided = elided or cut
        items.append(email_item(email, zone, body=body))
    return items, elided


def contact_item(contact: Contact) -> dict[str, Any]:
    """One person; a name taken from someone's mail headers is marked as untrusted."""
    item: dict[str, Any] = {"address": contact.address}
    if contact.name:
        item["name"] = (
            wrap_untrusted(contact.name, source="email headers", inline=True)
            if contact.name_from_mail
            else contact.name
        )
    item["you_wrote"] = contact.you_wrote
    item["wrote_to_you"] = contact.wrote_to_you
    if contact.in_address_book:
        item["in_address_book"] = True
    return item


def strip_quoted(body: str) -> tuple[str, bool]:
    """The body without the quoted earlier message at its end (and its attribution line)."""
    lines = body.splitlines()
    for number, line in enumerate(lines):
        if number and _FORWARDED_ORIGINAL.match(line):
            return "\n".join(lines[:number]).rstrip(), True
    end = len(lines)
    while end and (lines[end - 1].startswith(">") or not lines[end - 1].strip()):
        end -= 1
    quoted = any(line.startswith(">") for line in lines[end:])
    if quoted and end and _ATTRIBUTION.match(lines[end - 1]):
        end -= 1
    kept = "\n".join(lines[:end]).rstrip()
    if not quoted or not kept:
        return body, False
    return kept, True


def _trusted_fields(email: EmailSummary, zone: tzinfo) -> dict[str, Any]:
    return {
        "id": email.id,
        "thread_id": email.thread_id,
        "folder": email.folder,
        "date": email.date.astimezone(zone).isoformat(),
        "unread": email.unread,
    }


def _header_lines(
    sender: str,
    to: Sequence[str],
    cc: Sequence[str],
    subject: str,
    attachments: Sequence[Attachment],
) -> list[str]:
    lines = [f"From: {_line(sender)}"]
    if to:
        lines.append(f"To: {_people(to)}")
    if cc:
        lines.append(f"Cc: {_people(cc)}")
    lines.append(f"Subject: {_line(subject)}")
    if attachments:
        listed = ", ".join(
            f"{_line(a.name)} ({a.content_type}, {_size(a.size)})" for a in attachments
        )
        lines.append(f"Attachments: {listed}")
    return lines


def _people(values: Sequence[str]) -> str:
    shown = ", ".join(_line(v) for v in values[:MAX_LISTED_RECIPIENTS])
    more = len(values) - MAX_LISTED_RECIPIENTS
    return f"{shown} (+{more} more)" if more > 0 else shown


def _line(value: str) -> str:
    return " ".join(value.split())


def _size(size: int) -> str:
    if size < 1024:
        return f"{size} B"
    if size < 1024 * 1024:
        return f"{size / 1024:.0f} KB"
    return f"{size / 1024 / 1024:.1f} MB"
