"""A mailbox kept in a local Maildir (Maildir++ folders: ``.Sent``, ``.Archive`` ...).

The top-level Maildir is the folder ``INBOX``; subfolders keep their Maildir++ names without
the leading dot (``Archive.2024``). An email's id is ``"<folder>/<key>"``, the key being the
Maildir unique name (the file name up to the ``:2,`` info): it survives the message moving
from ``new/`` to ``cur/`` and its flags changing. Unread means no ``S`` (seen) flag.

Search, threads and contacts go through an SQLite FTS5 index (:mod:`morrow.tools.email.index`)
refreshed before every query. Messages are written atomically: to ``tmp/``, fsynced, then
renamed into ``cur/``. Sending saves the message in Sent and, when SMTP is configured, first
submits it there (:mod:`morrow.tools.email.smtp`); without SMTP it is saved, not delivered, and the
result says so.
"""

from __future__ import annotations

import mailbox
import os
import socket
import threading
import time
from datetime import datetime
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path
from typing import TYPE_CHECKING

from morrow.tools.delivery import Delivery
from morrow.tools.email import compose
from morrow.tools.email.addresses import parse_key
from morrow.tools.email.backend import (
    Contact,
    DraftResult,
    Email,
    EmailSummary,
    SendResult,
    require_address,
)
from morrow.tools.email.contacts import Exchange, tally
from morrow.tools.email.index import INFO_SEPARATOR, MailIndex, inside
from morrow.tools.email.index_query import Indexed, Query, check_query
from morrow.tools.email.reading import parse_message, to_email
from morrow.tools.errors import BackendError, NotFoundError, ToolError

if TYPE_CHECKING:  # smtplib and ssl are imported when something is sent
    from morrow.tools.email.smtp import SmtpSettings

INBOX = "INBOX"
OPENING_BYTES = 16_384  # what the briefing reads of a waiting message
MAX_LIMIT = 100
# Not searched unless asked for by name.
SKIPPED_FOLDERS = frozenset(("trash", "spam", "junk", "deleted messages", "deleted items"))
# The names mail clients give the special folders; the first is created when none exists.
SPECIAL_FOLDERS = {
    "sent": ("Sent", "Sent Items", "Sent Messages", "Sent Mail"),
    "drafts": ("Drafts", "Draft"),
    "archive": ("Archive", "Archives"),
}
_UNIQUE = threading.Lock()
_counter = 0


class MaildirMailbox:
    """A :class:`~morrow.tools.email.backend.MailBackend` over a Maildir directory.

    A missing Maildir is an empty mailbox (created on the first write). Malformed messages
    are read as well as possible.

    Args:
        path: the Maildir.
        index_path: the SQLite index file; None keeps the index in memory.
        address: the user's From address ("Name <address>"), needed to draft and send.
        smtp: where to submit sent mail; None saves sent mail in Sent only.
    """

    def __init__(
        self,
        path: Path,
        *,
        index_path: Path | None = None,
        address: str | None = None,
        smtp: SmtpSettings | None = None,
    ) -> None:
        self.path = path
        self.address = address
        self.smtp = smtp
        self._index = MailIndex(index_path, path)

    def close(self) -> None:
        """Close the index."""
        self._index.close()

    def folders(self) -> list[str]:
        """``INBOX`` and the subfolders' names."""
        if not (self.path / "cur").is_dir() and not (self.path / "new").is_dir():
            return []
        try:
            subfolders = mailbox.Maildir(self.path, factory=None, create=False).list_folders()
        except OSError as exc:
            raise BackendError(f"cannot read Maildir {self.path}: {exc}") from exc
        return [INBOX, *sorted(subfolders)]

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
        """Messages matching every given filter, newest first (see the MailBackend protocol)."""
        terms = check_query(query, sender)
        folders = self._search_folders(folder)
        if not folders:
            return []
        self._refresh()
        found = self._index.search(
            Query(
                terms=terms,
                sender=sender.strip() if sender else None,
                unread=unread,
                since=since,
                until=until,
                folders=tuple(folders),
                limit=max(1, min(limit, MAX_LIMIT)),
            )
        )
        return [_summary(row) for row in found]

    def read(self, email_id: str) -> Email:
        """The whole message with this id."""
        row = self._locate(email_id)
        data = self._bytes(row)
        return to_email(
            parse_message(data),
            email_id=email_id,
            folder=row.folder,
            unread=not row.seen,
            received=row.date,
            thread_id=row.thread_id,
        )

    def opening(self, email_id: str, limit: int = OPENING_BYTES) -> str:
        """The start of a message's text, read from at most ``limit`` bytes of its file.

        For the briefing, which only looks for a question near the top: the message is not
        read in full (attachments and long quoted threads are not decoded).
        """
        row = self._locate(email_id)
        path = self._path(row)
        if not inside(self.path, path):
            raise NotFoundError(f"email {email_id} is not in the Maildir")
        try:
            with path.open("rb") as handle:
                data = handle.read(limit)
        except OSError as exc:
            raise BackendError(f"cannot read {path}: {exc}") from exc
        return parse_message(data).body

    def read_thread(self, thread_id: str) -> list[Email]:
        """Every message linked to ``thread_id``, oldest first."""
        self._refresh()
        rows = self._index.thread(thread_id)
        if not rows and "/" in thread_id:  # a message without Message-ID is its own thread
            return [self.read(thread_id)]
        if not rows:
            raise NotFoundError(f"no thread with id {thread_id!r}")
        return [self.read(f"{row.folder}/{row.key}") for row in rows]

    def correspondents(self, query: str, limit: int) -> list[Contact]:
        """People matching ``query`` in the messages' From, To and Cc.

        What the user sent is what lies in Sent: a received message's From header may say
        anything (a stranger can write the user's own address there).
        """
        self._refresh()
        sent = self._special("sent", create=False)
        own = {key for key in [parse_key(self.address or "")] if key}
        exchanges = (
            Exchange(
                sent=row.folder == sent,
                sender=row.sender,
                recipients=[*row.to, *row.cc],
                date=row.date,
            )
            for row in self._index.people(query)
        )
        return tally(exchanges, query, own)[: max(limit, 0) or None]

    def find_sent(self, message_id: str) -> EmailSummary | None:
        """The copy in Sent of the message with this Message-ID, if there is one."""
        self._refresh()
        sent = self._special("sent", create=False)
        for row in self._index.by_message_id(message_id.strip().strip("<>")):
            if row.folder == sent:
                return _summary(row)
        return None

    def delivery(self) -> Delivery:
        """Mail goes out through ``[email.smtp]``; without it, it is only saved in Sent."""
        if self.smtp is None:
            return Delivery(False, "no SMTP server is configured: saved to Sent only")
        return Delivery(True, f"through SMTP {self.smtp.address}")

    def sender(self) -> str:
        """The user's From address."""
        return require_address(self.address)

    def is_sent(self, email: EmailSummary) -> bool:
        """Whether the message lies in the Sent folder."""
        return email.folder == self._special("sent", create=False)

    def draft(self, draft_id: str) -> EmailMessage:
        """The draft's message as it lies in Drafts."""
        row = self._locate(draft_id)
        if row.folder != self._special("drafts", create=False):
            raise ToolError(f"{draft_id!r} is not in the Drafts folder; only drafts can be sent")
        message = BytesParser(policy=policy.default).parsebytes(self._bytes(row))
        assert isinstance(message, EmailMessage)  # policy.default makes EmailMessage
        return message

    # -- writing ---------------------------------------------------------------------------

    def save_draft(self, message: EmailMessage, thread_id: str | None) -> DraftResult:
        """Store the message in Drafts (flags: draft, seen)."""
        folder = self._special("drafts")
        key = self._deliver(folder, compose.to_bytes(message, crlf=False), "DS")
        return DraftResult(
            draft_id=f"{folder}/{key}",
            message_id=compose.message_id_of(message),
            thread_id=thread_id,
        )

    def send(self, message: EmailMessage, thread_id: str | None) -> SendResult:
        """Submit over SMTP when configured (once), then keep a copy in Sent."""
        refused = submit(message, self.smtp) if self.smtp else {}
        result = SendResult(
            message_id=compose.message_id_of(message),
            thread_id=thread_id,
            recipients=compose.recipients_of(message),
            refused=refused,
            delivered=self.smtp is not None,
        )
        if self.smtp is None:
            result.note = (
                "No [email.smtp] server is configured: the message was saved in Sent but "
                "not delivered to anyone."
            )
        try:
            folder = self._special("sent")
            key = self._deliver(folder, compose.to_bytes(message, crlf=False), "S")
        except (BackendError, OSError) as exc:
            if self.smtp is None:
                raise
            result.note = f"Sent, but the copy could not be saved in Sent: {exc}"
            return result
        result.email_id = f"{folder}/{key}"
        return result

    def send_draft(self, draft_id: str, now: datetime) -> SendResult:
        """Send a message from Drafts (dated ``now``), then remove the draft."""
        row = self._locate(draft_id)
        message = self.draft(draft_id)
        compose.prepare_draft(message, self.sender(), now)
        result = self.send(message, row.thread_id)
        self._path(row).unlink(missing_ok=True)
        return result

    def archive(self, email_id: str) -> str:
        """Move the message to the Archive folder; return its new id."""
        row = self._locate(email_id)
        folder = self._special("archive")
        if row.folder == folder:
            return email_id
        target = self._folder_path(folder) / "cur" / row.name
        self._rename(row, target)
        return f"{folder}/{row.key}"

    def unarchive(self, email_id: str, folder: str = INBOX) -> str:
        """Move an archived message back to ``folder`` (the inverse of archive); its new id."""
        row = self._locate(email_id)
        if row.folder == folder:
            return email_id
        if folder not in self.folders():
            raise NotFoundError(f"no folder {folder!r} to move {email_id!r} back to")
        self._rename(row, self._folder_path(folder) / row.subdir / row.name)
        return f"{folder}/{row.key}"

    def delete_draft(self, draft_id: str) -> None:
        """Delete a message from Drafts (the inverse of save_draft); nothing else is deleted."""
        row = self._locate(draft_id)
        if row.folder != self._special("drafts", create=False):
            raise ToolError(f"{draft_id!r} is not in the Drafts folder; only drafts are deleted")
        try:
            self._path(row).unlink()
        except FileNotFoundError:
            raise NotFoundError(f"draft {draft_id} is gone") from None
        except OSError as exc:
            raise BackendError(f"cannot delete {self._path(row)}: {exc}") from exc

    def mark_read(self, email_id: str, read: bool) -> None:
        """Set or clear the seen flag (a message marked read moves from new/ to cur/)."""
        row = self._locate(email_id)
        info = row.name.partition(INFO_SEPARATOR)[2]
        flags = set(info[2:]) if info.startswith("2,") else set()
        flags = flags | {"S"} if read else flags - {"S"}
        subdir = "cur" if read or row.subdir == "cur" else row.subdir
        name = f"{row.key}{INFO_SEPARATOR}2,{''.join(sorted(flags))}"
        if subdir == row.subdir and name == row.name:
            return
        self._rename(row, self._folder_path(row.folder) / subdir / name)

    # -- helpers ---------------------------------------------------------------------------

    def _refresh(self) -> None:
        self._index.refresh({name: self._folder_path(name) for name in self.folders()})

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

    def _special(self, kind: str, *, create: bool = True) -> str:
        names = SPECIAL_FOLDERS[kind]
        existing = {name.casefold(): name for name in self.folders()}
        for candidate in names:
            if candidate.casefold() in existing:
                return existing[candidate.casefold()]
        if create:
            self._make_folder(names[0])
        return names[0]

    def _make_folder(self, name: str) -> None:
        for base in (self.path, self._folder_path(name)):
            for sub in ("tmp", "new", "cur"):
                (base / sub).mkdir(parents=True, exist_ok=True)
        if name != INBOX:  # Maildir++: a subfolder says so with an empty maildirfolder file
            (self._folder_path(name) / "maildirfolder").touch()

    def _folder_path(self, folder: str) -> Path:
        return self.path if folder == INBOX else self.path / f".{folder}"

    def _locate(self, email_id: str) -> Indexed:
        folder, _, key = email_id.rpartition("/")
        if folder and key and folder in self.folders():
            self._refresh()
            row = self._index.locate(folder, key)
            if row is not None:
                return row
        raise NotFoundError(f"no email with id {email_id!r}")

    def _path(self, row: Indexed) -> Path:
        return self._folder_path(row.folder) / row.subdir / row.name

    def _bytes(self, row: Indexed) -> bytes:
        if not inside(self.path, self._path(row)):  # a link out of the Maildir: not a message
            raise NotFoundError(f"email {row.folder}/{row.key} is not in the Maildir")
        try:
            return self._path(row).read_bytes()
        except FileNotFoundError:  # moved since the index saw it: look again once
            self._refresh()
            fresh = self._index.locate(row.folder, row.key)
            if fresh is None or not inside(self.path, self._path(fresh)):
                raise NotFoundError(f"email {row.folder}/{row.key} is gone") from None
            return self._path(fresh).read_bytes()
        except OSError as exc:
            raise BackendError(f"cannot read {self._path(row)}: {exc}") from exc

    def _rename(self, row: Indexed, target: Path) -> None:
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.rename(self._path(row), target)
        except FileNotFoundError:
            raise NotFoundError(f"email {row.folder}/{row.key} is gone") from None
        except OSError as exc:
            raise BackendError(f"cannot move {self._path(row)}: {exc}") from exc

    def _deliver(self, folder: str, data: bytes, flags: str) -> str:
        """Write a message atomically: tmp/, fsync, rename into cur/; return its key.

        Not ``memory.files.atomic_write``: Maildir's protocol puts the temporary file in
        ``tmp/`` (other mail programs clean it) and the final name must never replace a message.
        """
        self._make_folder(folder)
        base = self._folder_path(folder)
        key = _unique_name()
        temp = base / "tmp" / key
        try:
            with temp.open("xb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.rename(temp, base / "cur" / f"{key}{INFO_SEPARATOR}2,{flags}")
        except OSError as exc:
            temp.unlink(missing_ok=True)
            raise BackendError(f"cannot write to {base}: {exc}") from exc
        return key


def _summary(row: Indexed) -> EmailSummary:
    return EmailSummary.model_validate(
        {
            "id": f"{row.folder}/{row.key}",
            "thread_id": row.thread_id or f"{row.folder}/{row.key}",
            "folder": row.folder,
            "from_": row.sender,
            "to": row.to,
            "subject": row.subject,
            "date": row.date,
            "unread": not row.seen,
            "snippet": row.snippet,
            "has_attachments": row.has_attachments,
        }
    )


def submit(message: EmailMessage, settings: SmtpSettings) -> dict[str, str]:
    """Hand the message to the SMTP server (:func:`morrow.tools.email.smtp.submit`).

    Imported when used: smtplib and ssl cost every command that never sends.
    """
    from morrow.tools.email import smtp

    return smtp.submit(message, settings)


def _unique_name() -> str:
    """A Maildir unique name: time, microseconds, pid, a counter and the host."""
    global _counter
    with _UNIQUE:
        _counter += 1
        count = _counter
    now = time.time()
    host = socket.gethostname().replace("/", r"\057").replace(":", r"\072")
    return f"{int(now)}.M{int(now % 1 * 1e6)}P{os.getpid()}Q{count}.{host}"
