"""Submitting a message over SMTP, exactly once.

Used by the Maildir and IMAP backends. ``security`` is ``starttls`` (port 587 by default),
``tls`` (implicit TLS, port 465) or ``none`` (plain text: only to a server on this machine, and
never with a password). Certificates are verified with the system's trust store.

Nothing here retries. Failures are told apart by what they mean for the message:

- the connection, TLS or login failed, or the server refused the sender, every recipient or
  the data: it was **not sent** (:class:`~morrow.tools.errors.BackendError`);
- the connection broke or timed out after the data was handed over: it **may have been sent**
  (:class:`~morrow.tools.email.backend.OutcomeUnknownError`): look in Sent before sending again.
"""

from __future__ import annotations

import smtplib
import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import getaddresses
from typing import Literal

from morrow.tools.email.backend import OutcomeUnknownError
from morrow.tools.email.compose import message_id_of, recipients_of
from morrow.tools.errors import BackendError

Security = Literal["starttls", "tls", "none"]
DEFAULT_PORTS: dict[Security, int] = {"starttls": 587, "tls": 465, "none": 25}
_LOOPBACK = ("127.0.0.1", "::1", "localhost")


@dataclass(frozen=True)
class SmtpSettings:
    """Where and how to submit mail.

    Attributes:
        host: the submission server.
        port: its port (``DEFAULT_PORTS`` when None).
        security: starttls, tls or none.
        username: the login, when the server wants one.
        password: the password or app password (read from the environment by the caller).
        timeout: seconds to wait for each server reply.
    """

    host: str
    port: int | None = None
    security: Security = "starttls"
    username: str | None = None
    password: str | None = None
    timeout: float = 60.0

    def __post_init__(self) -> None:
        if self.security == "none" and self.host not in _LOOPBACK:
            raise ValueError(
                f"security = 'none' is only allowed for a local server, not {self.host}"
            )
        if self.security == "none" and self.password:
            raise ValueError("refusing to send a password without TLS")

    @property
    def address(self) -> str:
        """host:port, for messages."""
        return f"{self.host}:{self.port or DEFAULT_PORTS[self.security]}"


def submit(message: EmailMessage, settings: SmtpSettings) -> dict[str, str]:
    """Send ``message`` to every To, Cc and Bcc recipient; Bcc is not transmitted.

    Returns:
        The recipients the server refused (address -> its reply); the others were accepted.

    Raises:
        BackendError: it was not sent.
        OutcomeUnknownError: it may have been sent.
    """
    recipients = recipients_of(message)
    if not recipients:
        raise BackendError("the message has no recipients; nothing was sent")
    client = _connect(settings)
    try:
        refused = _transmit(client, message, recipients, settings)
    finally:
        _quit(client)
    return refused


def _connect(settings: SmtpSettings) -> smtplib.SMTP:
    port = settings.port or DEFAULT_PORTS[settings.security]
    client: smtplib.SMTP | None = None
    try:
        if settings.security == "tls":
            client = smtplib.SMTP_SSL(
                settings.host, port, timeout=settings.timeout, context=_tls_context()
            )
        else:
            client = smtplib.SMTP(settings.host, port, timeout=settings.timeout)
        client.ehlo()
        if settings.security == "starttls":
            client.starttls(context=_tls_context())
            client.ehlo()
        if settings.username:
            client.login(settings.username, settings.password or "")
        return client
    except (smtplib.SMTPException, OSError) as exc:
        if client is not None:
            _quit(client)
        raise BackendError(
            f"could not connect to the SMTP server {settings.address}: {_reason(exc)}; "
            "nothing was sent"
        ) from None


def _tls_context() -> ssl.SSLContext:
    """The system's trusted certificates (loading them takes ~50 ms: only when TLS is used)."""
    return ssl.create_default_context()


def _transmit(
    client: smtplib.SMTP, message: EmailMessage, recipients: list[str], settings: SmtpSettings
) -> dict[str, str]:
    sender = _envelope_sender(message, settings)
    message_id = message_id_of(message)
    try:
        refused = client.send_message(message, from_addr=sender, to_addrs=recipients)
    except smtplib.SMTPRecipientsRefused as exc:
        reasons = "; ".join(f"{a}: {_reply(r)}" for a, r in exc.recipients.items())
        raise BackendError(
            f"the server refused every recipient ({reasons}); nothing was sent"
        ) from None
    except (smtplib.SMTPSenderRefused, smtplib.SMTPDataError) as exc:
        raise BackendError(
            f"the server refused the message: {_reason(exc)}; nothing was sent"
        ) from None
    except (smtplib.SMTPException, OSError) as exc:
        raise OutcomeUnknownError(
            f"the connection to {settings.address} failed while sending ({_reason(exc)}): the "
            f"message may or may not have been sent. Look for Message-ID <{message_id}> in "
            "Sent before sending it again.",
            message_id=message_id,
        ) from None
    return {address: _reply(reply) for address, reply in refused.items()}


def _envelope_sender(message: EmailMessage, settings: SmtpSettings) -> str:
    pairs = getaddresses([str(message.get("From", ""))])
    if pairs and pairs[0][1]:
        return pairs[0][1]
    return settings.username or ""


def _quit(client: smtplib.SMTP) -> None:
    try:
        client.quit()
    except (smtplib.SMTPException, OSError):
        client.close()


def _reply(reply: tuple[int, bytes]) -> str:
    code, text = reply
    return f"{code} {text.decode('utf-8', 'replace')}"


def _reason(exc: BaseException) -> str:
    if isinstance(exc, smtplib.SMTPResponseException):
        error = exc.smtp_error
        text = error.decode("utf-8", "replace") if isinstance(error, bytes) else str(error)
        return f"{exc.smtp_code} {text}"
    return str(exc) or type(exc).__name__
