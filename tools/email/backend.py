"""What every mail backend offers: the message models the tools return and the protocol.

Ids are opaque strings chosen by the backend (the Maildir backend uses ``"<folder>/<key>"``).
``thread_id`` groups a conversation: it is the Message-ID (without angle brackets) of the first
message of the chain as far as the References / In-Reply-To headers tell.
"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field


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


class MailBackend(Protocol):
    """A mailbox the tools can search and read (writes follow with the email write tools)."""

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
        """The whole message; raise :class:`~tools.errors.NotFoundError` for an unknown id."""
        ...
