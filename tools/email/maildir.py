"""A mailbox kept in a local Maildir (Maildir++ folders: ``.Sent``, ``.Archive`` ...).

The top-level Maildir is the folder ``INBOX``; subfolders keep their Maildir++ names without
the leading dot (``Archive.2024``). An email's id is ``"<folder>/<key>"``, the key being the
Maildir unique name (the file name up to the ``:2,`` info): it survives the message moving
from ``new/`` to ``cur/`` and its flags changing. Unread means no ``S`` (seen) flag.

Search is a linear scan: header blocks are parsed (and cached per file until it changes) and
the body is decoded only when the query words are not all in the headers, and for the results
themselves (snippet, attachments). A later issue adds an FTS5 index.
"""

from __future__ import annotations

import mailbox
import os
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

from tools.email import mime
from tools.email.backend import Email, EmailSummary
from tools.errors import BackendError, NotFoundError

INBOX = "INBOX"
MAX_LIMIT = 100
MAX_BODY_CHARS = 20_000
SNIPPET_CHARS = 200
HEADER_BYTES = 256 * 1024
# Not searched unless asked for by name.
SKIPPED_FOLDERS = frozenset(("trash", "spam", "junk", "deleted messages", "deleted items"))
_COLON = ":" if os.name != "nt" else "!"  # the separator of the Maildir info, as in mailbox


@dataclass(frozen=True)
class _Entry:
    folder: str
    key: str
    path: Path
    flags: str

    @property
    def id(self) -> str:
        return f"{self.folder}/{self.key}"


@dataclass(frozen=True)
class _Head:
    """What the scan knows from the header block alone."""

    thread_id: str | None
    sender: str
    to: list[str]
    subject: str
    date: datetime


class MaildirMailbox:
    """A :class:`~tools.email.backend.MailBackend` over a Maildir directory.

    A missing Maildir is an empty mailbox. Malformed messages are read as well as possible.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._heads: dict[Path, tuple[tuple[int, int], _Head]] = {}

    def folders(self) -> list[str]:
        """``INBOX`` and the subfolders' names."""
        if not (self.path / "cur").is_dir() and not (self.path / "new").is_dir():
            return []
        try:
            subfolders = mailbox.Maildir(self.path, factory=None, create=False).list_folders()
        except OSError as exc:
            raise BackendError(f"cannot read Maildir {self.path}: {exc}") from exc
        return [INBOX, *sorted(subfolders)]

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
        """Messages matching every given filter, newest first (see the MailBackend protocol)."""
        terms = query.casefold().split() if query else []
        needle = sender.casefold().strip() if sender else ""
        found: list[tuple[datetime, _Entry, _Head]] = []
        for entry in self._entries(self._search_folders(folder)):
            if unread is not None and ("S" not in entry.flags) != unread:
                continue
            head = self._head(entry)
            if since is not None and head.date < since:
                continue
            if until is not None and head.date >= until:
                continue
            if needle and needle not in head.sender.casefold():
                continue
            if terms and not self._matches(entry, head, terms):
                continue
            found.append((head.date, entry, head))
        found.sort(key=lambda item: item[0], reverse=True)
        limit = max(1, min(limit, MAX_LIMIT))
        return [self._summary(entry, head) for _, entry, head in found[:limit]]

    def read(self, email_id: str) -> Email:
        """The whole message with this id."""
        entry = self._find(email_id)
        message = mime.parse(self._bytes(entry))
        head = self._head(entry)
        body = mime.body_text(message)
        note = None
        if len(body) > MAX_BODY_CHARS:
            left_out = len(body) - MAX_BODY_CHARS
            note = f"body cut at {MAX_BODY_CHARS} characters; {left_out} more were left out"
            body = body[:MAX_BODY_CHARS]
        found = mime.attachments(message)
        references = mime.message_ids(mime.header(message, "References"))
        return Email.model_validate(
            {
                **self._summary_fields(entry, head),
                "snippet": _snippet(body),
                "has_attachments": bool(found),
                "cc": mime.addresses(message, "Cc"),
                "body": body,
                "body_truncated": note,
                "attachments": found,
                "message_id": _first(mime.message_ids(mime.header(message, "Message-ID"))),
                "in_reply_to": _first(mime.message_ids(mime.header(message, "In-Reply-To"))),
                "references": references,
            }
        )

    # -- scanning --------------------------------------------------------------------------

    def _search_folders(self, folder: str | None) -> list[str]:
        known = self.folders()
        if folder is None:
            return [name for name in known if name.casefold() not in SKIPPED_FOLDERS]
        for name in known:
            if name.casefold() == folder.casefold().lstrip("."):
                return [name]
        if not known:
            return []
        raise NotFoundError(f"no folder {folder!r}; the folders are: {', '.join(known)}")

    def _folder_path(self, folder: str) -> Path:
        return self.path if folder == INBOX else self.path / f".{folder}"

    def _entries(self, folders: list[str]) -> list[_Entry]:
        entries: list[_Entry] = []
        for folder in folders:
            base = self._folder_path(folder)
            for subdir in ("new", "cur"):
                try:
                    names = sorted(os.listdir(base / subdir))
                except FileNotFoundError:
                    continue
                except OSError as exc:
                    raise BackendError(f"cannot list {base / subdir}: {exc}") from exc
                for name in names:
                    if name.startswith("."):
                        continue
                    key, _, info = name.partition(_COLON)
                    flags = info[2:] if info.startswith("2,") else ""
                    entries.append(_Entry(folder, key, base / subdir / name, flags))
        return entries

    def _find(self, email_id: str) -> _Entry:
        folder, _, key = email_id.partition("/")
        if folder and key and folder in self.folders():
            for entry in self._entries([folder]):
                if entry.key == key:
                    return entry
        raise NotFoundError(f"no email with id {email_id!r}")

    def _bytes(self, entry: _Entry, limit: int | None = None) -> bytes:
        try:
            with entry.path.open("rb") as handle:
                if limit is None:
                    return handle.read()
                return _read_header_block(handle, limit)
        except FileNotFoundError:  # moved or deleted since the scan
            raise NotFoundError(f"email {entry.id!r} is gone") from None
        except OSError as exc:
            raise BackendError(f"cannot read {entry.path}: {exc}") from exc

    def _head(self, entry: _Entry) -> _Head:
        try:
            stat = entry.path.stat()
        except OSError:
            stat = None
        key = (stat.st_mtime_ns, stat.st_size) if stat else (0, 0)
        with self._lock:
            cached = self._heads.get(entry.path)
        if cached is not None and cached[0] == key:
            return cached[1]
        message = mime.parse_headers(self._bytes(entry, HEADER_BYTES))
        delivered = datetime.fromtimestamp(stat.st_mtime, UTC) if stat else datetime.now(UTC)
        head = _Head(
            thread_id=mime.thread_root(message),
            sender=", ".join(mime.addresses(message, "From")),
            to=mime.addresses(message, "To"),
            subject=mime.header(message, "Subject"),
            date=mime.date(message) or delivered,
        )
        with self._lock:
            self._heads[entry.path] = (key, head)
        return head

    def _matches(self, entry: _Entry, head: _Head, terms: list[str]) -> bool:
        headers = " ".join([head.subject, head.sender, *head.to]).casefold()
        missing = [term for term in terms if term not in headers]
        if not missing:
            return True
        body = mime.body_text(mime.parse(self._bytes(entry))).casefold()
        return all(term in body for term in missing)

    # -- results ---------------------------------------------------------------------------

    def _summary_fields(self, entry: _Entry, head: _Head) -> dict[str, object]:
        return {
            "id": entry.id,
            "thread_id": head.thread_id or entry.id,
            "folder": entry.folder,
            "from_": head.sender,
            "to": head.to,
            "subject": head.subject,
            "date": head.date,
            "unread": "S" not in entry.flags,
        }

    def _summary(self, entry: _Entry, head: _Head) -> EmailSummary:
        message = mime.parse(self._bytes(entry))
        return EmailSummary.model_validate(
            {
                **self._summary_fields(entry, head),
                "snippet": _snippet(mime.body_text(message)),
                "has_attachments": bool(mime.attachments(message)),
            }
        )


def _read_header_block(handle: IO[bytes], limit: int) -> bytes:
    """Read lines up to the blank line that ends the headers (or ``limit`` bytes)."""
    lines: list[bytes] = []
    size = 0
    for line in handle:
        lines.append(line)
        size += len(line)
        if line in (b"\n", b"\r\n") or size >= limit:
            break
    return b"".join(lines)


def _snippet(body: str) -> str:
    text = " ".join(body.split())
    return text if len(text) <= SNIPPET_CHARS else text[: SNIPPET_CHARS - 1].rstrip() + "…"


def _first(values: list[str]) -> str | None:
    return values[0] if values else None
