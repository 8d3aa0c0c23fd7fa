"""The email tools the model sees (names and arguments are a contract: DESIGN.md).

Reading: ``search_emails``, ``read_email``, ``read_thread``, ``search_contacts``. Writing:
``draft_email``, ``archive_email``, ``mark_email`` (write: reversible) and ``send_email``,
``send_draft`` (send: irreversible); the loop puts every one of those through the approval
gate. What a message's author wrote reaches the model inside ``<untrusted_content>`` blocks
(:mod:`morrow.tools.email.untrusted`).

Every message morrow drafts or sends gets its own Message-ID, returned in the result, so a
send whose outcome is unknown can be looked up in Sent before anything is tried again.
"""

from __future__ import annotations

from email.message import EmailMessage
from typing import Annotated, Any

from pydantic import AwareDatetime, Field

from morrow.tools.base import Idempotency, tool
from morrow.tools.context import ToolContext
from morrow.tools.delivery import delivery_of
from morrow.tools.email import compose, mime
from morrow.tools.email.backend import Email, SendResult
from morrow.tools.email.contacts import MAX_CONTACTS, address_book, rank, search_address_book
from morrow.tools.email.index_query import MAX_SENDER, check_query
from morrow.tools.email.untrusted import (
    UNTRUSTED_TAG,
    contact_item,
    email_item,
    summary_item,
    thread_items,
    wrap_untrusted,
)
from morrow.tools.errors import NotFoundError, ToolRetry

__all__ = ["EMAIL_TOOLS", "UNTRUSTED_TAG", "wrap_untrusted"]

MAX_LIMIT = 100


@tool(effect="read")
def search_emails(
    ctx: ToolContext,
    query: str | None = None,
    sender: str | None = None,
    unread: bool | None = None,
    since: AwareDatetime | None = None,
    until: AwareDatetime | None = None,
    folder: str | None = None,
    limit: Annotated[int, Field(ge=1, le=MAX_LIMIT)] = 20,
) -> list[dict[str, Any]]:
    """Search the user's email, newest first; no filter lists the latest. Shows summaries.

    Without a folder, all folders but trash and spam are searched.

    Args:
        ctx: the user's mailbox, zone and clock (not part of the schema).
        query: words that must all occur (subject, people, body).
        sender: text in the From name or address.
        unread: true: unread only; false: read only.
        since: sent at or after this time.
        until: sent before this time.
        folder: e.g. "INBOX", "Sent", "Drafts", "Archive".
        limit: 1 to 100.
    """
    if since is not None and until is not None and until <= since:
        raise ToolRetry("until must be after since")
    check_query(query, sender)  # every backend: a huge query is refused before it is sent
    found = ctx.workspace.mail.search(
        query=query or None,
        sender=sender or None,
        unread=unread,
        since=since,
        until=until,
        folder=folder or None,
        limit=limit,
    )
    return [summary_item(email, ctx.workspace.timezone) for email in found]


@tool(effect="read")
def read_email(ctx: ToolContext, email_id: str) -> dict[str, Any]:
    """Read one email in full: headers, text and attachment names.

    Args:
        ctx: the user's mailbox, zone and clock (not part of the schema).
        email_id: an email's id.
    """
    return email_item(ctx.workspace.mail.read(email_id), ctx.workspace.timezone)


@tool(effect="read")
def read_thread(ctx: ToolContext, thread_id: str) -> dict[str, Any]:
    """Read a whole conversation, oldest message first.

    Args:
        ctx: the user's mailbox, zone and clock (not part of the schema).
        thread_id: an email's thread_id.
    """
    messages, elided = thread_items(
        ctx.workspace.mail.read_thread(thread_id), ctx.workspace.timezone
    )
    result: dict[str, Any] = {"thread_id": thread_id, "messages": messages}
    if elided:
        result["note"] = "Quoted copies of earlier messages were left out; read_email shows all."
    return result


@tool(effect="read")
def search_contacts(ctx: ToolContext, query: str) -> list[dict[str, Any]]:
    """Find people by name or address in the user's mail and address book.

    Args:
        ctx: the user's mailbox, zone and clock (not part of the schema).
        query: part of a name or address.
    """
    if not query.strip():
        raise ToolRetry("query must not be empty")
    if len(query) > MAX_SENDER:
        raise ToolRetry(f"query is {len(query):,} characters long; give part of a name or address")
    from_mail = ctx.workspace.mail.correspondents(query.strip(), limit=200)
    book = address_book(ctx.workspace.contacts_file) if ctx.workspace.contacts_file else []
    found = rank(from_mail, search_address_book(book, query), MAX_CONTACTS)
    return [contact_item(contact) for contact in found]


def _message_preview(ctx: ToolContext, args: Any) -> dict[str, Any]:
    """The message exactly as it would go out (recipients, final subject, quoted original)."""
    message, original = _compose(
        ctx, args.to, args.subject, args.body, args.cc, args.bcc, args.reply_to_email_id
    )
    return _shown(message, original)


def _send_preview(ctx: ToolContext, args: Any) -> dict[str, Any]:
    """The message as it would go out, and whether (and how) it goes out at all."""
    return _delivered(ctx, _message_preview(ctx, args))


def _delivered(ctx: ToolContext, shown: dict[str, Any]) -> dict[str, Any]:
    """The mailbox's own fact: how the message leaves, or that it does not (nobody told)."""
    delivery = delivery_of(ctx.workspace.mail)
    shown["delivery"] = delivery.how
    if not delivery.sends:
        shown["notified"] = []
    return shown


def _draft_preview(ctx: ToolContext, args: Any) -> dict[str, Any]:
    """The saved draft exactly as it would go out: every recipient (Bcc too), subject, text.

    Read from the draft's own message, as the backend sends it, so the gate judges a
    ``send_draft`` on the same fields as a ``send_email``.
    """
    message = ctx.workspace.mail.draft(args.draft_id)
    sender = mime.addresses(message, "From")
    shown: dict[str, Any] = {"from": sender[0] if sender else ctx.workspace.mail.sender()}
    for name in ("To", "Cc", "Bcc"):
        found = mime.addresses(message, name)
        if found:
            shown[name.lower()] = found
    shown.update(subject=mime.header(message, "Subject"), body=mime.body_text(message))
    attachments = mime.attachments(message)
    if attachments:
        shown["attachments"] = [a.name for a in attachments]
    return _delivered(ctx, shown)


def _new_message_id(ctx: ToolContext, args: Any) -> str:
    domain = compose.parse_address(ctx.workspace.mail.sender(), "from").domain
    return compose.new_message_id(domain).strip("<>")


def _draft_message_id(ctx: ToolContext, args: Any) -> str | None:
    return ctx.workspace.mail.read(args.draft_id).message_id


def _in_sent(ctx: ToolContext, message_id: str) -> bool | None:
    """True when the message is in Sent; None otherwise (not there proves nothing)."""
    return True if ctx.workspace.mail.find_sent(message_id) is not None else None


_SENT_MESSAGE = Idempotency(key=_new_message_id, find=_in_sent)


@tool(
    effect="write",
    preview=_message_preview,
    idempotency=Idempotency(key=_new_message_id),
)
def draft_email(
    ctx: ToolContext,
    to: tuple[str, ...],
    subject: str,
    body: str,
    cc: tuple[str, ...] = (),
    bcc: tuple[str, ...] = (),
    reply_to_email_id: str | None = None,
) -> dict[str, Any]:
    """Save an email in Drafts without sending it (send it later with send_draft).

    Args:
        ctx: the user's mailbox, zone and clock (not part of the schema).
        to: recipients' addresses.
        subject: the subject ("Re: " is added to replies).
        body: plain text (a reply quotes the original below it).
        cc: copy recipients' addresses.
        bcc: blind-copy recipients' addresses.
        reply_to_email_id: the id of the email this replies to.
    """
    message, original = _compose(ctx, to, subject, body, cc, bcc, reply_to_email_id)
    saved = ctx.workspace.mail.save_draft(message, original.thread_id if original else None)
    result = saved.model_dump(exclude_none=True)
    return {**result, **_outline(message, original)}


@tool(effect="send", preview=_send_preview, idempotency=_SENT_MESSAGE)
def send_email(
    ctx: ToolContext,
    to: tuple[str, ...],
    subject: str,
    body: str,
    cc: tuple[str, ...] = (),
    bcc: tuple[str, ...] = (),
    reply_to_email_id: str | None = None,
) -> dict[str, Any]:
    """Send an email now. It cannot be unsent.

    Args:
        ctx: the user's mailbox, zone and clock (not part of the schema).
        to: recipients' addresses.
        subject: the subject ("Re: " is added to replies).
        body: plain text (a reply quotes the original below it).
        cc: copy recipients' addresses.
        bcc: blind-copy recipients' addresses.
        reply_to_email_id: the id of the email this replies to.
    """
    message, original = _compose(ctx, to, subject, body, cc, bcc, reply_to_email_id)
    sent = ctx.workspace.mail.send(message, original.thread_id if original else None)
    return {**_sent(sent), **_outline(message, original)}


@tool(
    effect="send",
    preview=_draft_preview,
    idempotency=Idempotency(key=_draft_message_id, find=_in_sent),
)
def send_draft(ctx: ToolContext, draft_id: str) -> dict[str, Any]:
    """Send a saved draft now, as it is. It cannot be unsent.

    Args:
        ctx: the user's mailbox, zone and clock (not part of the schema).
        draft_id: from draft_email.
    """
    return _sent(ctx.workspace.mail.send_draft(draft_id, ctx.workspace.now()))


def _email_preview(ctx: ToolContext, args: Any) -> dict[str, Any]:
    """Which email a write acts on: its sender, subject and folder."""
    try:
        email = ctx.workspace.mail.read(args.email_id)
    except NotFoundError as exc:
        return {"preview_error": str(exc)}
    return {"from": email.from_, "subject": email.subject, "folder": email.folder}


@tool(effect="write", preview=_email_preview)
def archive_email(ctx: ToolContext, email_id: str) -> dict[str, Any]:
    """Archive an email (move it out of the inbox).

    Args:
        ctx: the user's mailbox, zone and clock (not part of the schema).
        email_id: the email's id.
    """
    new_id = ctx.workspace.mail.archive(email_id)
    return {"archived": True, "email_id": new_id}


@tool(effect="write", preview=_email_preview)
def mark_email(ctx: ToolContext, email_id: str, read: bool) -> dict[str, Any]:
    """Mark an email as read or unread.

    Args:
        ctx: the user's mailbox, zone and clock (not part of the schema).
        email_id: the email's id.
        read: true: read; false: unread.
    """
    ctx.workspace.mail.mark_read(email_id, read)
    return {"email_id": email_id, "read": read}


def _compose(
    ctx: ToolContext,
    to: tuple[str, ...],
    subject: str,
    body: str,
    cc: tuple[str, ...],
    bcc: tuple[str, ...],
    reply_to_email_id: str | None,
) -> tuple[EmailMessage, Email | None]:
    original = ctx.workspace.mail.read(reply_to_email_id) if reply_to_email_id else None
    message = compose.build_message(
        sender=ctx.workspace.mail.sender(),
        to=to,
        cc=cc,
        bcc=bcc,
        subject=subject,
        body=body,
        now=ctx.workspace.now(),
        original=original,
    )
    key = ctx.effect_key
    if key:  # the effect journal chose the Message-ID before the call, to find it after a crash
        message.replace_header("Message-ID", f"<{key}>")
    return message, original


def _shown(message: EmailMessage, original: Email | None) -> dict[str, Any]:
    shown: dict[str, Any] = {"from": str(message["From"])}
    for name in ("To", "Cc", "Bcc"):
        if message[name]:
            shown[name.lower()] = [str(a) for a in message[name].addresses]
    shown["subject"] = str(message["Subject"])
    if original is not None:
        shown["in_reply_to"] = f"{original.id} from {original.from_}"
    body = message.get_content()
    shown["body"] = body if isinstance(body, str) else str(body)
    return shown


def _sent(sent: SendResult) -> dict[str, Any]:
    result = sent.model_dump(exclude_none=True)
    if not sent.refused:
        del result["refused"]
    return result


def _outline(message: EmailMessage, original: Email | None) -> dict[str, Any]:
    """What was written, for the model to report: final subject, and whether it quotes."""
    outline: dict[str, Any] = {"subject": str(message["Subject"])}
    if original is not None:
        outline["in_reply_to"] = original.id
        outline["quoted"] = "the original email is quoted below the body"
    return outline


EMAIL_TOOLS = [
    search_emails,
    read_email,
    read_thread,
    search_contacts,
    draft_email,
    send_email,
    send_draft,
    archive_email,
    mark_email,
]
"""The email tools, in the order of DESIGN.md's table (recorded trajectories depend on it)."""
