"""Gmail through the Gmail v1 API (google-api-python-client, static discovery document).

The backend takes a ready ``service`` (``build("gmail", "v1", ..., static_discovery=True)``):
the app builds it from the OAuth token (:mod:`morrow.tools.google_auth`), tests build it over
``HttpMockSequence``. Ids are Gmail's: message ids, thread ids (``threadId``) and draft ids.

Folders are Gmail's system labels: ``INBOX``, ``Sent``, ``Drafts``, ``Trash``, ``Spam``;
a message in none of them is ``Archive``; any other folder name searches that label.
Archiving removes the ``INBOX`` label, marking read removes ``UNREAD``.

Reads are retried by the client library on 429 and 5xx. ``messages.send``, ``drafts.send``
and ``drafts.create`` are never retried: they have no idempotency key, so a retry could send
twice. A send that fails without a clear answer raises
:class:`~morrow.tools.email.backend.OutcomeUnknownError`.
"""

from __future__ import annotations

import base64
import binascii
import html
from datetime import UTC, datetime
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from typing import Any

from morrow.tools.delivery import Delivery
from morrow.tools.email import compose, mime
from morrow.tools.email.addresses import parse_key
from morrow.tools.email.backend import (
    Attachment,
    Contact,
    DraftResult,
    Email,
    EmailSummary,
    OutcomeUnknownError,
    SendResult,
)
from morrow.tools.email.contacts import Exchange, tally
from morrow.tools.email.reading import from_headers, parse_message, to_email
from morrow.tools.errors import BackendError, NotFoundError

ME = "me"
MAX_PAGE = 100
CONTACT_SAMPLE = 25
READ_RETRIES = 2
SUMMARY_HEADERS = ["From", "To", "Subject", "Date", "Message-ID"]
_SYSTEM_FOLDERS = {"INBOX": "INBOX", "SENT": "Sent", "DRAFT": "Drafts", "TRASH": "Trash"}
_FOLDER_QUERIES = {
    "inbox": "in:inbox",
    "sent": "in:sent",
    "drafts": "in:drafts",
    "trash": "in:trash",
    "spam": "in:spam",
    "junk": "in:spam",
    "archive": "-in:inbox -in:sent -in:drafts",
    "starred": "is:starred",
}


class GmailMailbox:
    """A :class:`~morrow.tools.email.backend.MailBackend` over the Gmail API.

    Args:
        service: a Gmail v1 service resource, or a function that builds one (called once,
            on first use).
        address: the user's From address; asked of Gmail (users.getProfile) when None.
    """

    def __init__(self, service: Any, *, address: str | None = None) -> None:
        self._service = service
        self._address = address
        self._resource: Any = None

    @property
    def _users(self) -> Any:
        """``service.users()``; a service given as a factory is built on first use."""
        if self._resource is None:
            service = self._service
            if callable(service) and not hasattr(service, "users"):
                service = service()  # the token is loaded only when mail is actually used
            self._resource = service.users()
        return self._resource

    # -- reading ---------------------------------------------------------------------------

    def search(
        self,
        query: str | None = None,
        sender: str | None = None,
        unread: bool | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        folder: str | None = None,
        limit: int = 20,
    ) -> list[EmailSummary]:
        """messages.list with a Gmail query, then each message's metadata; newest first."""
        q = gmail_query(query, sender, unread, since, until, folder)
        spam_or_trash = (folder or "").casefold() in ("trash", "spam", "junk")
        ids = self._list(q, max(1, min(limit, MAX_PAGE)), include_spam_trash=spam_or_trash)
        found = [self._summary(self._get(message_id, "metadata")) for message_id in ids]
        return sorted(found, key=lambda email: email.date, reverse=True)

    def read(self, email_id: str) -> Email:
        """messages.get format=full (format=raw when the body is not inline)."""
        return self._email(self._get(email_id, "full"))

    def read_thread(self, thread_id: str) -> list[Email]:
        """threads.get format=full, oldest first."""
        request = self._users.threads().get(userId=ME, id=thread_id, format="full")
        thread = self._call(request, f"thread {thread_id!r}")
        emails = [self._email(message) for message in thread.get("messages", [])]
        return sorted(emails, key=lambda email: email.date)

    def correspondents(self, query: str, limit: int) -> list[Contact]:
        """People matching ``query`` in recent sent mail (To, Cc, Bcc) and received mail."""
        term = _quote(query)
        sent_q = f"in:sent {{to:{term} cc:{term} bcc:{term}}}"
        received_q = f"from:{term} -in:sent -in:drafts"
        exchanges: list[Exchange] = []
        for q, sent in ((sent_q, True), (received_q, False)):
            for message_id in self._list(q, CONTACT_SAMPLE):
                summary = self._summary(
                    self._get(message_id, "metadata", headers=["From", "To", "Cc", "Date"])
                )
                exchanges.append(Exchange(sent, summary.from_, summary.to, summary.date))
        own = {key for key in [parse_key(self._address or "")] if key}
        return tally(exchanges, query, own)[: max(limit, 0) or None]

    def find_sent(self, message_id: str) -> EmailSummary | None:
        """The sent message with this Message-ID (Gmail's rfc822msgid: search)."""
        ids = self._list(f"in:sent rfc822msgid:{message_id.strip().strip('<>')}", 1)
        return self._summary(self._get(ids[0], "metadata")) if ids else None

    def delivery(self) -> Delivery:
        """Gmail sends what morrow sends."""
        return Delivery(True, "Gmail sends it")

    def sender(self) -> str:
        """The configured address, else the account's (users.getProfile)."""
        if self._address is None:
            profile = self._call(self._users.getProfile(userId=ME), "the Gmail profile")
            self._address = str(profile.get("emailAddress", ""))
        if not self._address:
            raise BackendError("Gmail did not say which address this account has")
        return self._address

    # -- writing ---------------------------------------------------------------------------

    def save_draft(self, message: EmailMessage, thread_id: str | None) -> DraftResult:
        """drafts.create with the raw message (and the thread it answers)."""
        body = {"message": _raw_body(message, thread_id)}
        request = self._users.drafts().create(userId=ME, body=body)
        draft = self._call(request, "saving the draft", retries=0)
        return DraftResult(
            draft_id=str(draft["id"]),
            message_id=compose.message_id_of(message),
            thread_id=draft.get("message", {}).get("threadId") or thread_id,
        )

    def send(self, message: EmailMessage, thread_id: str | None) -> SendResult:
        """messages.send with the raw message, exactly once."""
        message_id = compose.message_id_of(message)
        request = self._users.messages().send(userId=ME, body=_raw_body(message, thread_id))
        sent = self._send(request, message_id)
        return SendResult(
            message_id=message_id,
            email_id=sent.get("id"),
            thread_id=sent.get("threadId") or thread_id,
            recipients=compose.recipients_of(message),
        )

    def is_sent(self, email: EmailSummary) -> bool:
        """Whether the message has the SENT label (and is not in Trash, Spam or Drafts)."""
        return email.folder == _SYSTEM_FOLDERS["SENT"]

    def draft(self, draft_id: str) -> EmailMessage:
        """drafts.get format=raw: the message Gmail will send."""
        request = self._users.drafts().get(userId=ME, id=draft_id, format="raw")
        draft = self._call(request, f"draft {draft_id!r}")
        data = _unb64(str(draft.get("message", {}).get("raw", "")))
        message = BytesParser(policy=policy.default).parsebytes(data)
        assert isinstance(message, EmailMessage)  # policy.default makes EmailMessage
        return message

    def send_draft(self, draft_id: str, now: datetime) -> SendResult:
        """drafts.get (for its Message-ID and recipients), then drafts.send, exactly once.

        Gmail dates the message itself, so ``now`` is not used.
        """
        request = self._users.drafts().get(userId=ME, id=draft_id, format="metadata")
        draft = self._call(request, f"draft {draft_id!r}")
        headers = _header_message(draft.get("message", {}).get("payload", {}).get("headers", []))
        message_id = compose.message_id_of(headers)
        sent = self._send(self._users.drafts().send(userId=ME, body={"id": draft_id}), message_id)
        return SendResult(
            message_id=message_id,
            email_id=sent.get("id"),
            thread_id=sent.get("threadId"),
            recipients=compose.recipients_of(headers),
        )

    def archive(self, email_id: str) -> str:
        """messages.modify: remove the INBOX label."""
        self._modify(email_id, {"removeLabelIds": ["INBOX"]})
        return email_id

    def unarchive(self, email_id: str, folder: str = "INBOX") -> str:
        """messages.modify: add the INBOX label back (archive only took it away).

        ``folder`` is ignored: Gmail's archive removes the INBOX label and nothing else.
        """
        self._modify(email_id, {"addLabelIds": ["INBOX"]})
        return email_id

    def delete_draft(self, draft_id: str) -> None:
        """drafts.delete: remove a draft for good (it was never sent)."""
        self._call(self._users.drafts().delete(userId=ME, id=draft_id), f"draft {draft_id!r}")

    def mark_read(self, email_id: str, read: bool) -> None:
        """messages.modify: remove (read) or add (unread) the UNREAD label."""
        self._modify(email_id, {("removeLabelIds" if read else "addLabelIds"): ["UNREAD"]})

    # -- API calls -------------------------------------------------------------------------

    def _list(self, q: str, limit: int, *, include_spam_trash: bool = False) -> list[str]:
        ids: list[str] = []
        token: str | None = None
        while len(ids) < limit:
            params: dict[str, Any] = {"userId": ME, "q": q, "maxResults": limit - len(ids)}
            if token:
                params["pageToken"] = token
            if include_spam_trash:
                params["includeSpamTrash"] = True
            page = self._call(self._users.messages().list(**params), "searching mail")
            ids += [str(m["id"]) for m in page.get("messages", [])]
            token = page.get("nextPageToken")
            if not token:
                break
        return ids[:limit]

    def _get(self, email_id: str, fmt: str, headers: list[str] | None = None) -> Any:
        params: dict[str, Any] = {"userId": ME, "id": email_id, "format": fmt}
        if fmt == "metadata":
            params["metadataHeaders"] = headers or SUMMARY_HEADERS
        return self._call(self._users.messages().get(**params), f"email {email_id!r}")

    def _modify(self, email_id: str, body: dict[str, list[str]]) -> None:
        request = self._users.messages().modify(userId=ME, id=email_id, body=body)
        self._call(request, f"email {email_id!r}")  # label changes are idempotent: retried

    def _call(self, request: Any, what: str, *, retries: int = READ_RETRIES) -> Any:
        import httplib2
        from googleapiclient.errors import HttpError

        try:
            return request.execute(num_retries=retries)
        except HttpError as exc:
            status = int(exc.resp.status)
            if status == 404:
                raise NotFoundError(f"Gmail has no {what}") from None
            raise BackendError(f"Gmail refused {what}: HTTP {status} {_reason(exc)}") from None
        except (OSError, httplib2.HttpLib2Error) as exc:  # timeouts, broken connections
            raise BackendError(f"cannot reach Gmail ({what}): {exc}") from None

    def _send(self, request: Any, message_id: str) -> Any:
        import httplib2
        from googleapiclient.errors import HttpError

        unknown = (
            f"the message may or may not have been sent: look for Message-ID <{message_id}> "
            "in Sent before sending it again."
        )
        try:
            return request.execute(num_retries=0)
        except HttpError as exc:
            status = int(exc.resp.status)
            if status >= 500:
                raise OutcomeUnknownError(
                    f"Gmail answered HTTP {status}: {unknown}", message_id=message_id
                ) from None
            if status == 404:
                raise NotFoundError(f"Gmail has no such draft: {_reason(exc)}") from None
            raise BackendError(
                f"Gmail refused to send (HTTP {status} {_reason(exc)}); nothing was sent"
            ) from None
        except (ConnectionRefusedError, httplib2.ServerNotFoundError) as exc:
            raise BackendError(f"cannot reach Gmail ({exc}); nothing was sent") from None
        except (OSError, httplib2.HttpLib2Error) as exc:
            raise OutcomeUnknownError(
                f"the connection to Gmail failed ({exc}): {unknown}", message_id=message_id
            ) from None

    # -- conversions -----------------------------------------------------------------------

    def _summary(self, message: dict[str, Any]) -> EmailSummary:
        payload = message.get("payload", {})
        head = from_headers(_header_message(payload.get("headers", [])))
        return EmailSummary.model_validate(
            {
                "id": message["id"],
                "thread_id": message.get("threadId") or message["id"],
                "folder": folder_of(message.get("labelIds", [])),
                "from_": head.sender,
                "to": head.to,
                "subject": head.subject,
                "date": _received(message, head.date),
                "unread": "UNREAD" in message.get("labelIds", []),
                "snippet": html.unescape(message.get("snippet", "")),
                "has_attachments": payload.get("mimeType") == "multipart/mixed",
            }
        )

    def _email(self, message: dict[str, Any]) -> Email:
        payload = message.get("payload", {})
        parsed = from_headers(_header_message(payload.get("headers", [])))
        body = _inline_body(payload)
        if body is None:  # the text is not inline (too large, or a structure Gmail kept raw)
            raw = self._get(str(message["id"]), "raw").get("raw", "")
            parsed = parse_message(_unb64(raw))
        else:
            parsed.body = body
            parsed.attachments = _attachments(payload)
        return to_email(
            parsed,
            email_id=str(message["id"]),
            folder=folder_of(message.get("labelIds", [])),
            unread="UNREAD" in message.get("labelIds", []),
            received=_received(message, None),
            thread_id=message.get("threadId"),
        )


def gmail_query(
    query: str | None,
    sender: str | None,
    unread: bool | None,
    since: datetime | None,
    until: datetime | None,
    folder: str | None,
) -> str:
    """The Gmail search string (``q``) for the search filters."""
    parts = [query.strip()] if query and query.strip() else []
    if sender:
        parts.append(f"from:{_quote(sender)}")
    if unread is not None:
        parts.append("is:unread" if unread else "is:read")
    if since is not None:
        parts.append(f"after:{int(since.timestamp())}")
    if until is not None:
        parts.append(f"before:{int(until.timestamp())}")
    if folder:
        parts.append(_FOLDER_QUERIES.get(folder.casefold(), f"label:{_quote(folder)}"))
    return " ".join(parts)


def folder_of(labels: list[str]) -> str:
    """The folder a message is shown in, from its labels."""
    for label in ("TRASH", "SPAM", "DRAFT", "SENT", "INBOX"):
        if label in labels:
            return _SYSTEM_FOLDERS.get(label, label.title())
    return "Archive"


def _raw_body(message: EmailMessage, thread_id: str | None) -> dict[str, str]:
    body = {"raw": base64.urlsafe_b64encode(compose.to_bytes(message)).decode("ascii")}
    if thread_id:
        body["threadId"] = thread_id
    return body


def _header_message(headers: list[dict[str, str]]) -> EmailMessage:
    """Gmail's header list as a message, decoded by the same code as raw mail."""
    lines = [f"{h.get('name', '')}: {' '.join(str(h.get('value', '')).split())}" for h in headers]
    return mime.parse_headers(("\r\n".join(lines) + "\r\n\r\n").encode("utf-8", "replace"))


def _inline_body(payload: dict[str, Any]) -> str | None:
    """The text of the first text/plain part (else text/html), when Gmail sent it inline."""
    for wanted in ("text/plain", "text/html"):
        for part in _parts(payload):
            if part.get("mimeType") != wanted or part.get("filename"):
                continue
            data = part.get("body", {}).get("data")
            if data is None:
                return None if part.get("body", {}).get("attachmentId") else ""
            charset = _header_message(part.get("headers", [])).get_content_charset()
            text = mime.decode_bytes(_unb64(data), charset)
            text = mime.html_to_text(text) if wanted == "text/html" else text
            return text.replace("\r\n", "\n").strip()
    return (
        "" if not any(p.get("mimeType", "").startswith("text/") for p in _parts(payload)) else None
    )


def _attachments(payload: dict[str, Any]) -> list[Attachment]:
    return [
        Attachment(
            name=" ".join(str(part["filename"]).split()),
            content_type=str(part.get("mimeType", "application/octet-stream")),
            size=int(part.get("body", {}).get("size", 0)),
        )
        for part in _parts(payload)
        if part.get("filename")
    ]


def _parts(payload: dict[str, Any]) -> list[dict[str, Any]]:
    found = [payload]
    for child in payload.get("parts", []) or []:
        found.extend(_parts(child))
    return found


def _received(message: dict[str, Any], fallback: datetime | None) -> datetime:
    try:
        return datetime.fromtimestamp(int(message["internalDate"]) / 1000, UTC)
    except (KeyError, TypeError, ValueError):
        return fallback or datetime.fromtimestamp(0, UTC)


def _unb64(data: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(data + "=" * (-len(data) % 4))
    except (binascii.Error, ValueError):
        return b""


def _quote(text: str) -> str:
    text = text.replace('"', " ").strip()
    return f'"{text}"' if any(c.isspace() for c in text) else text


def _reason(exc: Any) -> str:
    try:
        return str(exc.reason or "")
    except Exception:
        return ""
