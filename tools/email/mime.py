"""Reading raw RFC 5322 / MIME messages as well as they can be read, without ever raising.

Shared by every backend that gets raw bytes (Maildir files, Gmail's ``raw`` format, IMAP
``RFC822``). Decoding uses ``email.policy.default`` (RFC 2047 words, RFC 2231 parameters,
RFC 6532 UTF-8 headers). Raw 8-bit bytes in headers, which the stdlib turns into U+FFFD, are
decoded here as UTF-8 when they mostly are, else as Windows-1252. Bodies are decoded with the
declared charset, then UTF-8, then Windows-1252 with replacement.
"""

from __future__ import annotations

import codecs
import re
from datetime import UTC, datetime
from email import policy
from email.message import EmailMessage, Message
from email.parser import BytesHeaderParser, BytesParser
from html.parser import HTMLParser
from typing import Any

from morrow.tools.email.backend import Attachment

_UNQUOTED_BOUNDARY = re.compile(rb"(boundary=)([^\"\s;]*=[^\"\s;]*)", re.IGNORECASE)
_MSGID = re.compile(r"<([^<>\s]+)>")
# Microsoft and mobile carriers label supersets with the name of the subset.
_CHARSET_UPGRADES = {"euc_kr": "cp949", "shift_jis": "cp932", "gb2312": "gb18030", "gbk": "gb18030"}


def parse(data: bytes, *, compat: bool = False) -> EmailMessage:
    """Parse a whole message; defects are recorded on the message, never raised.

    Outlook writes boundaries such as ``----=_NextPart_000...`` unquoted, which the parser
    cannot read; such a boundary is quoted and the message parsed again.

    ``compat=True`` parses with the ``compat32`` policy, whose headers are plain strings:
    CPython's structured header parser raises on a few malformed parameters (an RFC 2231
    ``micalg*=...''x`` crashes it with IndexError), and this is the way around that.
    Headers are still decoded here, one by one, with the default policy.
    """
    chosen = policy.compat32 if compat else policy.default
    parser = BytesParser(_class=EmailMessage, policy=chosen)
    message = _as_email(parser.parsebytes(data))
    if message.get_content_maintype() == "multipart" and not message.is_multipart():
        end = re.search(rb"\r?\n\r?\n", data)
        split = end.start() if end else len(data)
        head = _UNQUOTED_BOUNDARY.sub(rb'\1"\2"', data[:split], count=1)
        if head != data[:split]:
            message = _as_email(parser.parsebytes(head + data[split:]))
    return message


def _as_email(message: Message) -> EmailMessage:
    assert isinstance(message, EmailMessage)  # the parsers here are given _class=EmailMessage
    return message


def parse_headers(data: bytes) -> EmailMessage:
    """Parse only the header block (the body is left as an opaque string)."""
    message: EmailMessage = BytesHeaderParser(policy=policy.default).parsebytes(data)
    return message


def header(message: Message, name: str) -> str:
    """The decoded text of the first ``name`` header, or "" (never raises)."""
    parsed = _header_object(message, name)
    if parsed is None:
        return ""
    try:
        return " ".join(str(parsed).split())
    except Exception:  # a header the policy cannot render
        return ""


def addresses(message: Message, name: str) -> list[str]:
    """The addresses of an address header (From, To, Cc), each "Name <addr>" or "addr"."""
    parsed = _header_object(message, name)
    if parsed is None:
        return []
    try:
        found = [_format_address(a.display_name, a.addr_spec) for a in parsed.addresses]
    except Exception:  # not an address header after all, or unparseable
        found = []
    if not found:
        text = header(message, name)
        return [part.strip() for part in text.split(",") if part.strip()]
    return [address for address in found if address]


def date(message: Message) -> datetime | None:
    """The Date header as an aware datetime (UTC when it has no zone), or None."""
    parsed = _header_object(message, "Date")
    value = getattr(parsed, "datetime", None)
    if not isinstance(value, datetime):
        return None
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def message_ids(text: str) -> list[str]:
    """The message ids in a Message-ID / In-Reply-To / References value, without brackets."""
    found = _MSGID.findall(text)
    if not found and text.strip() and " " not in text.strip():
        found = [text.strip().strip("<>")]
    return found


def thread_root(message: Message) -> str | None:
    """The Message-ID of the first message of the conversation, as far as the headers know."""
    for name in ("References", "In-Reply-To", "Message-ID"):
        ids = message_ids(_raw(message, name))
        if ids:
            return ids[0]
    return None


def body_text(message: Message) -> str:
    """The readable text: text/plain preferred, HTML converted when it is the only body."""
    part = _body_part(message)
    if part is None:
        return ""
    text = decode_payload(part)
    if part.get_content_type() == "text/html":
        text = html_to_text(text)
    return text.replace("\r\n", "\n").strip()


def attachments(message: Message) -> list[Attachment]:
    """The attached files: name, type and size, found at any depth (attached mails whole)."""
    found: list[Attachment] = []
    body = _body_part(message)
    for part in _leaves(message):
        if part is body or not _is_attachment(part):
            continue
        content_type = part.get_content_type()
        name = _filename(part) or f"attachment-{len(found) + 1}{_extension(content_type)}"
        found.append(Attachment(name=name, content_type=content_type, size=_size(part)))
    return found


def decode_payload(part: Message) -> str:
    """A text part's payload as str: declared charset, then UTF-8, then Windows-1252."""
    try:
        raw = part.get_payload(decode=True)
    except Exception:
        raw = None
    if not isinstance(raw, bytes):
        payload = part.get_payload()
        return payload if isinstance(payload, str) else ""
    return decode_bytes(raw, part.get_content_charset())


def decode_bytes(raw: bytes, charset: str | None) -> str:
    """Decode bytes whose declared charset may be wrong or missing; never raises."""
    for candidate in (_codec(charset), "utf-8"):
        if candidate:
            try:
                return raw.decode(candidate)
            except (UnicodeDecodeError, LookupError):
                continue
    return raw.decode("cp1252", errors="replace")


def html_to_text(html: str) -> str:
    """Readable text from HTML: paragraphs and list items on their own lines, links kept."""
    converter = _HtmlText()
    try:
        converter.feed(html)
        converter.close()
    except Exception:  # html.parser is lenient, but keep the promise of never raising
        pass
    text = "".join(converter.out)
    lines = [" ".join(line.split()) for line in text.splitlines()]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


# -- headers ------------------------------------------------------------------------------


def _raw(message: Message, name: str) -> str:
    for key, value in message.raw_items():
        if key.lower() == name.lower():
            return _fix_8bit(str(value))
    return ""


def _header_object(message: Message, name: str) -> Any:
    for key, value in message.raw_items():
        if key.lower() == name.lower():
            try:
                return policy.default.header_fetch_parse(key, _fix_8bit(str(value)))
            except Exception:
                return None
    return None


def _fix_8bit(value: str) -> str:
    """Decode raw 8-bit header bytes (carried as surrogates) as UTF-8 or else Windows-1252."""
    if not any("\udc80" <= char <= "\udcff" for char in value):
        return value
    raw = value.encode("ascii", "surrogateescape")
    as_utf8 = raw.decode("utf-8", errors="replace")
    decoded = sum(1 for char in as_utf8 if ord(char) > 127 and char != "\ufffd")
    if decoded > as_utf8.count("\ufffd"):
        return as_utf8
    return raw.decode("cp1252", errors="replace")


def _format_address(name: str, address: str) -> str:
    name, address = name.strip(), address.strip()
    if name and address:
        return f"{name} <{address}>"
    return address or name


# -- MIME structure -----------------------------------------------------------------------


def _leaves(message: Message) -> list[Message]:
    """Non-multipart parts in order; an attached message/rfc822 counts as one leaf."""
    if message.is_multipart() and message.get_content_maintype() == "multipart":
        leaves: list[Message] = []
        payload = message.get_payload()
        for child in payload if isinstance(payload, list) else []:
            if isinstance(child, Message):
                leaves.extend(_leaves(child))
        return leaves
    return [message]


def _body_part(message: Message) -> Message | None:
    for preference in (("plain",), ("html",)):
        try:
            part = message.get_body(preferencelist=preference)  # type: ignore[attr-defined]
        except Exception:
            part = None
        if isinstance(part, Message):
            return part
    for leaf in _leaves(message):
        if _is_attachment(leaf) and leaf.get_content_maintype() != "multipart":
            continue
        # a text part, or a "multipart" whose boundary is missing: its payload is the text
        if leaf.get_content_maintype() in ("text", "multipart"):
            return leaf
    return None


def _is_attachment(part: Message) -> bool:
    disposition = (part.get_content_disposition() or "").lower()
    if disposition == "attachment" or _filename(part):
        return True
    return part.get_content_maintype() not in ("text", "multipart")


def _filename(part: Message) -> str | None:
    try:
        name = part.get_filename() or part.get_param("name")
    except Exception:
        return None
    if isinstance(name, tuple):  # an undecoded RFC 2231 triple
        name = name[2]
    if not isinstance(name, str) or not name.strip():
        return None
    return " ".join(_fix_8bit(name).split())


def _size(part: Message) -> int:
    try:
        if part.get_content_type() == "message/rfc822":
            inner = part.get_payload()
            if isinstance(inner, list) and inner and isinstance(inner[0], Message):
                return len(inner[0].as_bytes())
        payload = part.get_payload(decode=True)
        return len(payload) if isinstance(payload, bytes) else 0
    except Exception:
        return 0


def _extension(content_type: str) -> str:
    return {"message/rfc822": ".eml", "application/pdf": ".pdf", "text/calendar": ".ics"}.get(
        content_type, ""
    )


def _codec(charset: str | None) -> str | None:
    if not charset:
        return None
    try:
        name = codecs.lookup(charset.strip().strip('"')).name
    except LookupError:
        return None
    return _CHARSET_UPGRADES.get(name, name)


class _HtmlText(HTMLParser):
    """A small HTML-to-text converter (a later issue may bring a better one)."""

    _BLOCKS = frozenset(
        "p div br tr table ul ol h1 h2 h3 h4 h5 h6 blockquote hr pre section article "
        "header footer li dt dd".split()
    )
    _HIDDEN = frozenset(("script", "style", "head", "title", "template"))

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self._hidden = 0
        self._href: str | None = None
        self._link_text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self._HIDDEN:
            self._hidden += 1
        elif tag in self._BLOCKS:
            self.out.append("\n- " if tag == "li" else "\n")
        elif tag == "a":
            self._href = dict(attrs).get("href")
            self._link_text = []
        elif tag in ("td", "th"):
            self.out.append(" ")

    def handle_endtag(self, tag: str) -> None:
        if tag in self._HIDDEN:
            self._hidden = max(0, self._hidden - 1)
        elif tag in self._BLOCKS:
            self.out.append("\n")
        elif tag == "a" and self._href:
            shown = "".join(self._link_text).strip()
            if self._href.startswith(("http://", "https://")) and self._href != shown:
                self.out.append(f" ({self._href})")
            self._href = None

    def handle_data(self, data: str) -> None:
        if self._hidden:
            return
        self.out.append(data)
        if self._href:
            self._link_text.append(data)
