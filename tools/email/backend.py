"""What every mail backend offers: the models the tools return and the protocol.

Ids are opaque strings chosen by the backend (Maildir: ``"<folder>/<key>"``; Gmail: the
message id; IMAP: ``"<folder>/<uidvalidity>.<uid>"``). ``thread_id`` groups a conversation:
the backend's own thread id where it has one (Gmail), else the Message-ID (without angle
brackets) of the first message of the chain as far as References / In-Reply-To tell.

Writes take a complete :class:`email.message.EmailMessage` built by
:mod:`morrow.tools.email.compose` (with its own Message-ID), so every backend sends the same bytes.
"""

from __future__ import annotations

from datetime import datetime
from email.message import EmailMessage
from typing import Protocol

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from morrow.tools.errors import BackendError


class OutcomeUnknownError(BackendError):
    """A send was handed to the server but no answer came back: it may or may not have gone out.

    Nothing is retried: look for the Message-ID in Sent (``MailBackend.find_sent``) first.
    """

    def __init__(self, message: str, *, message_id: str) -> None:
        super().__init__(message)
        self.message_id = message_id


class EmailSummary(BaseModel):
    """One message as a search result lists it.

    Attributes:
        id: opaque id, accepted by read_email.
        thread_id: the conversation this message belongs to.
        folder: "INBOX" or the folder's name ("Sent", "Archive" ...).
        from_: the sender, as "Name <address>" (serialized as "from").
        to: the recipients, each as "Name <address>" or a bare address.
        subject: the decoded subject.
        date: when it was sent (aware); the delivery time when the Date header is unusable.
        unread: whether the user has not seen it yet.
        snippet: the start of the body text, whitespace collapsed.
        has_attachments: whether files are attached.
    """

    model_config = ConfigDict(
        validate_by_name=True, validate_by_alias=True, serialize_by_alias=True
    )

    id: str
    thread_id: str
    folder: str
    from_: str = Field(default="", alias="from")
    to: list[str] = Field(default_factory=list)
    subject: str = ""
    date: AwareDatetime
    unread: bool = False
    snippet: str = ""
    has_attachments: bool = False


class Attachment(BaseModel):
    """A file attached to a message: described, never inlined.

    Attributes:
        name: the file name (decoded), or a made-up one when the sender gave none.
        content_type: the MIME type, e.g. "application/pdf".
        size: the decoded size in bytes.
    """

    name: str
    content_type: str
    size: int


class Email(EmailSummary):
    """One message as read_email shows it.

    Attributes:
        cc: the copy recipients.
        body: the text of the message (text/plain preferred; HTML converted to text).
        body_truncated: a note saying how much of a very long body was left out.
        attachments: the attached files.
        message_id: the Message-ID header, without angle brackets.
        in_reply_to: the Message-ID this one answers.
        references: the Message-IDs of the conversation so far, oldest first.
    """

    cc: list[str] = Field(default_factory=list)
    body: str = ""
    body_truncated: str | None = None
    attachments: list[Attachment] = Field(default_factory=list)
    message_id: str | None = None
    in_reply_to: str | None = None
    references: list[str] = Field(default_factory=list)


class Contact(BaseModel):
    """Someone the user corresponds with, or has in the address book.

    Attributes:
        address: the email address (lower-cased).
        name: the display name, when known.
        name_from_mail: whether the name was taken from message headers (written by others)
            rather than from the user's own address book.
        you_wrote: how many of the user's sent messages went to this address.
        wrote_to_you: how many messages came from this address.
        in_address_book: whether the configured vCard file lists this address.
        last: the date of the latest message exchanged, when any.
    """

    address: str
    name: str = ""
    name_from_mail: bool = False
    you_wrote: int = 0
    wrote_to_you: int = 0
    in_address_book: bool = False
    last: AwareDatetime | None = None


class SendResult(BaseModel):
    """What happened to a message that was sent.

    Attributes:
        message_id: the Message-ID morrow gave it (without brackets): look for it in Sent.
        email_id: the id of the copy in Sent, when the backend knows it.
        thread_id: the conversation it belongs to, when known.
        recipients: every address it was sent to (To, Cc and Bcc).
        refused: recipients the server refused, with its reason (the others got it).
        delivered: whether it went to a mail server (False: only saved, see ``note``).
        note: anything the user should know.
    """

    message_id: str
    email_id: str | None = None
    thread_id: str | None = None
    recipients: list[str] = Field(default_factory=list)
    refused: dict[str, str] = Field(default_factory=dict)
    delivered: bool = True
    note: str | None = None


class DraftResult(BaseModel):
    """A draft that was saved.

    Attributes:
        draft_id: the id send_draft takes.
        message_id: the Message-ID the message will keep when the draft is sent.
        thread_id: the conversation it belongs to, when it is a reply.
    """

    draft_id: str
    message_id: str
    thread_id: str | None = None


class MailBackend(Protocol):
    """A mailbox the email tools read and write."""

    def search(
        self,
        query: str | None,
        sender: str | None,
        unread: bool | None,
        since: datetime | None,
        until: datetime | None,
        folder: str | None,
        limit: int,
    ) -> list[EmailSummary]:
        """Messages matching every given filter, newest first, at most ``limit``.

        ``query`` is free text matched case-insensitively against subject, sender, recipients
        and body (every word must occur); ``since`` is inclusive and ``until`` exclusive;
        ``folder=None`` searches every folder except trash and spam.
        """
        ...

    def read(self, email_id: str) -> Email:
        """The whole message; raise :class:`~morrow.tools.errors.NotFoundError` if unknown."""
        ...

    def read_thread(self, thread_id: str) -> list[Email]:
        """Every message of the conversation, oldest first (NotFoundError when none)."""
        ...

    def correspondents(self, query: str, limit: int) -> list[Contact]:
        """People whose name or address contains ``query``, from the user's own mail."""
        ...

    def sender(self) -> str:
        """The user's own From address ("Name <address>"); BackendError when unknown."""
        ...

    def is_sent(self, email: EmailSummary) -> bool:
        """Whether the user sent this message: it lies in Sent (Gmail: it has the SENT label).

        The evidence the user wrote to someone; never the From header, which anyone can forge.
        """
        ...

    def draft(self, draft_id: str) -> EmailMessage:
        """The saved draft as ``send_draft`` would send it (every header, Bcc included).

        Raises:
            NotFoundError: no such draft.
            ToolError: the message is not in Drafts.
        """
        ...

    def save_draft(self, message: EmailMessage, thread_id: str | None) -> DraftResult:
        """Store a message as a draft (in the Drafts folder)."""
        ...

    def send(self, message: EmailMessage, thread_id: str | None) -> SendResult:
        """Send a message once (never retried) and keep a copy in Sent."""
        ...

    def send_draft(self, draft_id: str, now: datetime) -> SendResult:
        """Send a saved draft (dated ``now`` where the backend sets the date), remove it."""
        ...

    def archive(self, email_id: str) -> str:
        """Move a message out of the inbox into the archive; return its (new) id."""
        ...

    def mark_read(self, email_id: str, read: bool) -> None:
        """Mark a message read or unread."""
        ...

    def find_sent(self, message_id: str) -> EmailSummary | None:
        """The sent message with this Message-ID, if it is in Sent (to check a lost send)."""
        ...


def require_address(address: str | None) -> str:
    """The user's own From address, or a BackendError saying where to configure it."""
    if not address:
        raise BackendError(
            "morrow does not know your email address: set `email` in [user] "
            "(or `from` in [email.smtp]) in the config"
        )
    return address
