"""Building the messages morrow drafts and sends, the same bytes for every backend.

Every message gets its own Message-ID (``<random.morrow@sender-domain>``), chosen here before
anything is sent, so that a send whose outcome is unknown can be looked up in Sent instead of
being tried again. Non-ASCII display names and subjects are RFC 2047 encoded by the stdlib's
header registry; bodies are UTF-8, 7-bit clean (quoted-printable, or base64 for mostly
non-Latin text), so no server in between needs 8BITMIME.

A reply (``original`` given) answers that message: ``In-Reply-To`` is its Message-ID,
``References`` its references plus its Message-ID (RFC 5322 section 3.6.4), the subject gets
one "Re: " (never "Re: Re: "), and the original is quoted below the new text.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Sequence
from datetime import datetime
from email import policy
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, getaddresses

from morrow.tools.email import addresses
from morrow.tools.email.backend import Email
from morrow.tools.errors import ToolRetry

MAX_QUOTED_CHARS = 10_000
# "Re:", and the same word in the languages mail clients most often write it in.
_REPLY_PREFIX = re.compile(r"^\s*((re|aw|sv|antw|vs|rif|odp)\s*(\[\d+\])?\s*:\s*)+", re.I)
_ADDR_SPEC = re.compile(r"^[^\s@<>()\[\],;:\"]+@[^\s@<>()\[\],;:\"]+\.[^\s@<>()\[\],;:\"]+$")


def build_message(
    *,
    sender: str,
    to: Sequence[str],
    subject: str,
    body: str,
    now: datetime,
    cc: Sequence[str] = (),
    bcc: Sequence[str] = (),
    original: Email | None = None,
) -> EmailMessage:
    """A complete message, ready to be drafted or sent.

    Args:
        sender: the From address ("Name <address>" or a bare address).
        to: the recipients.
        subject: the subject ("Re: " is added or normalized for a reply).
        body: the text the user wants to say.
        now: the Date header (aware).
        cc: copy recipients.
        bcc: blind-copy recipients (kept in drafts and in Sent; never transmitted).
        original: the message this one answers.

    Raises:
        ToolRetry: an address is not a valid email address, or there is no recipient.
    """
    if not to and not cc and not bcc:
        raise ToolRetry("give at least one recipient in to, cc or bcc")
    message = EmailMessage(policy=policy.default)
    from_address = parse_address(sender, "from")
    message["From"] = from_address
    for name, values in (("To", to), ("Cc", cc), ("Bcc", bcc)):
        if values:
            message[name] = [parse_address(value, name.lower()) for value in values]
    message["Subject"] = _one_line(subject)
    message["Date"] = format_datetime(now)
    message["Message-ID"] = new_message_id(from_address.domain)
    if original is not None:
        _thread_into(message, original)
        message.replace_header("Subject", reply_subject(subject or original.subject))
        body = quote_reply(body, original, now)
    message.set_content(body, charset="utf-8", cte=_transfer_encoding(body))
    return message


def new_message_id(domain: str) -> str:
    """A fresh ``<...@domain>`` Message-ID that no other message has."""
    domain = domain if _ADDR_SPEC.match(f"x@{domain}") else "morrow.invalid"
    return f"<{secrets.token_hex(12)}.morrow@{domain}>"


def parse_address(value: str, field: str) -> Address:
    """One address given as "Name <address>" or "address", as it goes on the envelope.

    Read by :func:`morrow.tools.email.addresses.parse`, the parser provenance judges with
    (IDNA domains, NFKC); ToolRetry with its one-line reason when it is not valid.
    """
    try:
        return addresses.parse(value).header()
    except addresses.AddressError as exc:
        raise ToolRetry(f"{field}: {exc}") from None


def reply_subject(subject: str) -> str:
    """``subject`` with exactly one leading "Re: " (other reply prefixes folded into it)."""
    rest = _REPLY_PREFIX.sub("", _one_line(subject))
    return f"Re: {rest}" if rest else "Re:"


def quote_reply(body: str, original: Email, now: datetime) -> str:
    """The new text, then an attribution line (in ``now``'s zone) and the original quoted."""
    quoted = original.body[:MAX_QUOTED_CHARS]
    lines = [f"> {line}" if line.strip() else ">" for line in quoted.splitlines()]
    if len(original.body) > MAX_QUOTED_CHARS or original.body_truncated:
        lines.append("> [...]")
    when = original.date.astimezone(now.tzinfo).strftime("%a, %d %b %Y at %H:%M")
    who = original.from_ or "someone"
    attribution = f"On {when}, {who} wrote:"
    return f"{body.rstrip()}\n\n{attribution}\n" + "\n".join(lines) + "\n"


def prepare_draft(message: EmailMessage, sender: str, now: datetime) -> None:
    """Make a saved draft ready to send: dated ``now``, with a sender and a Message-ID.

    A draft morrow wrote keeps the Message-ID it was given (its result already named it);
    one written elsewhere without a Message-ID gets a fresh one.
    """
    if "From" not in message:
        message["From"] = sender
    if "Message-ID" not in message:
        pairs = getaddresses([str(message["From"])])
        domain = pairs[0][1].rpartition("@")[2] if pairs else ""
        message["Message-ID"] = new_message_id(domain)
    del message["Date"]
    message["Date"] = format_datetime(now)


def message_id_of(message: EmailMessage) -> str:
    """The Message-ID of a built message, without angle brackets."""
    return str(message.get("Message-ID", "")).strip().strip("<>")


def recipients_of(message: EmailMessage) -> list[str]:
    """Every envelope recipient (To, Cc, Bcc), bare addresses, in order, once each."""
    found: dict[str, str] = {}
    for name in ("To", "Cc", "Bcc"):
        for _, address in getaddresses([str(value) for value in message.get_all(name, [])]):
            key = addresses.parse_key(address) or address.casefold()
            if address:
                found.setdefault(key, address)
    return list(found.values())


def to_bytes(message: EmailMessage, *, crlf: bool = True) -> bytes:
    """The message as sent on the wire (CRLF) or stored in a Maildir file (LF)."""
    return message.as_bytes(policy=policy.SMTP if crlf else policy.default)


def _thread_into(message: EmailMessage, original: Email) -> None:
    if not original.message_id:
        return
    references = list(original.references)
    if not references and original.in_reply_to:
        references = [original.in_reply_to]
    references.append(original.message_id)
    message["In-Reply-To"] = f"<{original.message_id}>"
    message["References"] = " ".join(f"<{ref}>" for ref in dict.fromkeys(references))


def _transfer_encoding(body: str) -> str:
    """7-bit clean on the wire, so no server needs 8BITMIME: 7bit, quoted-printable or base64."""
    if body.isascii() and all(len(line) <= 998 for line in body.splitlines()):
        return "7bit"
    non_ascii = sum(1 for char in body if not char.isascii())
    return "base64" if non_ascii * 3 > len(body) else "quoted-printable"


def _one_line(text: str) -> str:
    return " ".join(text.split())
