"""IMAP plumbing for :mod:`morrow.tools.email.imap`: settings, sessions, search keys, fetched data.

A session is one connection: TLS (implicit or STARTTLS, verified with the system's trust
store) unless the server is on this machine, a login, and a logout at the end whatever
happens. Errors of the connection or the protocol become :class:`~morrow.tools.errors.BackendError`.
"""

from __future__ import annotations

import contextlib
import ssl
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from morrow.tools.email.backend import EmailSummary
from morrow.tools.email.reading import parse_message, snippet
from morrow.tools.errors import BackendError, NotFoundError


@dataclass(frozen=True)
class ImapSettings:
    """Where the mailbox is and how to log in.

    Attributes:
        host: the IMAP server.
        username: the login.
        password: the password or app password (read from the environment by the caller).
        port: its port (993 for tls, 143 otherwise, when None).
        security: tls (implicit), starttls, or none (only for a server on this machine).
        sent_folder: where sent mail is saved (default: the server's special-use Sent folder).
        drafts_folder: where drafts are saved (default: the special-use Drafts folder).
        archive_folder: where archived mail goes (default: the special-use Archive folder).
        save_sent: whether to save a copy of sent mail (Gmail and some servers do it).
        timeout: seconds to wait for the server.
    """

    host: str
    username: str
    password: str
    port: int | None = None
    security: Literal["tls", "starttls", "none"] = "tls"
    sent_folder: str | None = None
    drafts_folder: str | None = None
    archive_folder: str | None = None
    save_sent: bool = True
    timeout: float = 60.0

    def __post_init__(self) -> None:
        if self.security == "none" and self.host not in ("127.0.0.1", "::1", "localhost"):
            raise ValueError(
                f"security = 'none' is only allowed for a local server, not {self.host}"
            )


@contextmanager
def session(settings: ImapSettings) -> Iterator[Any]:
    """A logged-in IMAPClient, logged out at the end; errors become BackendError."""
    from imapclient import IMAPClient
    from imapclient.exceptions import IMAPClientError

    context = ssl.create_default_context()
    port = settings.port or (993 if settings.security == "tls" else 143)
    where = f"{settings.host}:{port}"
    try:
        client = IMAPClient(
            settings.host,
            port=port,
            ssl=settings.security == "tls",
            ssl_context=context,
            timeout=settings.timeout,
        )
    except (OSError, IMAPClientError) as exc:
        raise BackendError(f"cannot connect to the IMAP server {where}: {exc}") from None
    client.normalise_times = False  # keep INTERNALDATE's zone
    try:
        if settings.security == "starttls":
            client.starttls(context)
        client.login(settings.username, settings.password)
        yield client
    except (OSError, IMAPClientError) as exc:
        raise BackendError(f"IMAP server {where}: {_text(exc)}") from None
    finally:
        _logout(client)


def search_criteria(
    query: str | None,
    sender: str | None,
    unread: bool | None,
    since: datetime | None,
    until: datetime | None,
) -> list[Any]:
    """IMAP SEARCH keys for the filters (dates widened by a day, then checked exactly)."""
    criteria: list[Any] = []
    for word in (query or "").split():
        criteria += ["TEXT", word]
    if sender:
        criteria += ["FROM", sender]
    if unread is not None:
        criteria.append("UNSEEN" if unread else "SEEN")
    if since is not None:
        criteria += ["SENTSINCE", (since.astimezone(UTC) - timedelta(days=1)).date()]
    if until is not None:
        criteria += ["SENTBEFORE", (until.astimezone(UTC) + timedelta(days=2)).date()]
    return criteria or ["ALL"]


def summary_from_fetch(
    folder: str, uidvalidity: int, uid: int, data: dict[bytes, Any]
) -> EmailSummary:
    """A search result from FLAGS, INTERNALDATE and the first bytes of the message."""
    head = next((value for key, value in data.items() if key.startswith(b"BODY[]")), b"")
    parsed = parse_message(bytes(head))
    email_id = f"{folder}/{uidvalidity}.{uid}"
    return EmailSummary.model_validate(
        {
            "id": email_id,
            "thread_id": parsed.thread_root or email_id,
            "folder": folder,
            "from_": parsed.sender,
            "to": parsed.to,
            "subject": parsed.subject,
            "date": parsed.date or internal_date(data),
            "unread": b"\\Seen" not in data.get(b"FLAGS", ()),
            "snippet": snippet(parsed.body),
            "has_attachments": bool(parsed.attachments),
        }
    )


def parse_id(email_id: str) -> tuple[str, int, int]:
    """Folder, UIDVALIDITY and UID of an id; NotFoundError when it is not one."""
    folder, _, rest = email_id.rpartition("/")
    uidvalidity, _, uid = rest.partition(".")
    if not folder or not uidvalidity.isdigit() or not uid.isdigit():
        raise NotFoundError(f"no email with id {email_id!r}")
    return folder, int(uidvalidity), int(uid)


def internal_date(data: dict[bytes, Any]) -> datetime:
    """The INTERNALDATE of fetched data (aware), or now."""
    value = data.get(b"INTERNALDATE")
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    return datetime.now(UTC)


def flat(criteria: list[Any]) -> Iterator[Any]:
    """Every search key and value, nested lists flattened."""
    for item in criteria:
        if isinstance(item, list):
            yield from flat(item)
        else:
            yield item


def _logout(client: Any) -> None:
    try:
        client.logout()
    except Exception:  # the connection is already broken; close the socket at least
        with contextlib.suppress(Exception):
            client.shutdown()


def _text(exc: BaseException) -> str:
    text = str(exc)
    return text.decode() if isinstance(text, bytes) else text or type(exc).__name__
