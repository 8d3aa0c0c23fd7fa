"""Mail on an IMAP server (reading, flags, folders), sent through SMTP.

Uses IMAPClient. A connection is opened for each operation and closed after it: tools run
seldom and in worker threads, and a long-lived connection would time out between turns.

Ids are ``"<folder>/<uidvalidity>.<uid>"``: a UID is only meaningful with the folder's
UIDVALIDITY, so an id that outlived a server-side renumbering is reported as not found
rather than pointing at another message. Search uses IMAP SEARCH (SORT, newest first, where
the server has it); dates are narrowed with SENTSINCE/SENTBEFORE and then checked exactly.
Threads follow Message-ID, References and In-Reply-To across folders.

Sent, Drafts and Archive are the folders named in the config, else the server's SPECIAL-USE
folders (RFC 6154), else "Sent", "Drafts" and "Archive" (created when missing).
"""

from __future__ import annotations

import re
from contextlib import AbstractContextManager
from datetime import datetime
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from typing import Any

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
from morrow.tools.email.imap_wire import (
    ImapSettings,
    flat,
    internal_date,
    parse_id,
    search_criteria,
    session,
    summary_from_fetch,
)
from morrow.tools.email.reading import parse_message, to_email
from morrow.tools.email.smtp import SmtpSettings, submit
from morrow.tools.errors import BackendError, NotFoundError, ToolError

MAX_LIMIT = 100
SUMMARY_BYTES = 32_768
CONTACT_SAMPLE = 100
_FETCH_CHUNK = 50
_SKIPPED_FLAGS = {b"\\Trash", b"\\Junk", b"\\All", b"\\Noselect", b"\\Flagged", b"\\Important"}
_SKIPPED_NAMES = frozenset(("trash", "spam", "junk", "deleted messages", "deleted items"))
_SPECIAL = {"sent": b"\\Sent", "drafts": b"\\Drafts", "archive": b"\\Archive"}
_DEFAULT_NAMES = {"sent": "Sent", "drafts": "Drafts", "archive": "Archive"}
__all__ = ["ImapMailbox", "ImapSettings"]

_UIDPLUS = re.compile(rb"\[(?:APPENDUID|COPYUID) (\d+) (?:[\d:,]+ )?(\d+)\]")


class ImapMailbox:
    """A :class:`~morrow.tools.email.backend.MailBackend` over IMAP, sending through SMTP.

    Args:
        settings: the IMAP server and login.
        address: the user's From address (default: the login, when it is an address).
        smtp: the submission server; without it nothing can be sent.
    """

    def __init__(
        self, settings: ImapSettings, *, address: str | None = None, smtp: SmtpSettings | None
    ) -> None:
        self.settings = settings
        self.address = address or (settings.username if "@" in settings.username else None)
        self.smtp = smtp
        self._sent_name: str | None = None  # the Sent folder, once is_sent asked for it

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
        """IMAP SEARCH (or SORT) in each folder, then exact date checks; newest first."""
        limit = max(1, min(limit, MAX_LIMIT))
        criteria = search_criteria(query, sender, unread, since, until)
        found: list[EmailSummary] = []
        with self._session() as client:
            for name in self._search_folders(client, folder):
                uidvalidity = self._select(client, name)
                uids = self._matching(client, criteria)
                found += self._summaries(client, name, uidvalidity, uids, since, until, limit)
        return sorted(found, key=lambda email: email.date, reverse=True)[:limit]

    def read(self, email_id: str) -> Email:
        """The whole message (BODY.PEEK[]: reading does not mark it read)."""
        folder, uidvalidity, uid = parse_id(email_id)
        with self._session() as client:
            self._select(client, folder, expect=uidvalidity, email_id=email_id)
            return self._read(client, folder, uidvalidity, uid)

    def read_thread(self, thread_id: str) -> list[Email]:
        """Messages linked by Message-ID, References and In-Reply-To, oldest first."""
        if "/" in thread_id and "@" not in thread_id:  # a message without Message-ID
            return [self.read(thread_id)]
        found: dict[str, Email] = {}
        with self._session() as client:
            wanted, searched = {thread_id}, set[str]()
            for _ in range(2):  # the root's references, then replies that cite only a parent
                for ref in wanted - searched:
                    for email in self._linked(client, ref):
                        found.setdefault(email.message_id or email.id, email)
                searched |= wanted
                wanted = {e.message_id for e in found.values() if e.message_id} - searched
        if not found:
            raise NotFoundError(f"no thread with id {thread_id!r}")
        return sorted(found.values(), key=lambda email: email.date)

    def correspondents(self, query: str, limit: int) -> list[Contact]:
        """People matching ``query`` in Sent (To, Cc) and in the other folders (From)."""
        exchanges: list[Exchange] = []
        with self._session() as client:
            sent = self._special(client, "sent")
            for name in dict.fromkeys([*self._search_folders(client, None), sent]):
                is_sent = name == sent
                criteria: list[Any] = (
                    ["OR", ["TO", query], ["CC", query]] if is_sent else ["FROM", query]
                )
                uidvalidity = self._select(client, name)
                uids = self._matching(client, criteria)[:CONTACT_SAMPLE]
                for email in self._summaries(client, name, uidvalidity, uids, None, None, 10**6):
                    exchanges.append(Exchange(is_sent, email.from_, email.to, email.date))
        own = {key for key in [parse_key(self.address or "")] if key}
        return tally(exchanges, query, own)[: max(limit, 0) or None]

    def find_sent(self, message_id: str) -> EmailSummary | None:
        """The copy in Sent with this Message-ID (HEADER search)."""
        with self._session() as client:
            sent = self._special(client, "sent")
            uidvalidity = self._select(client, sent)
            uids = self._matching(client, ["HEADER", "Message-ID", message_id.strip("<>")])
            found = self._summaries(client, sent, uidvalidity, uids, None, None, 1)
        return found[0] if found else None

    def delivery(self) -> Delivery:
        """Mail goes out through ``[email.smtp]``; without it nothing can be sent."""
        if self.smtp is None:
            return Delivery(False, "no [email.smtp] server is configured: it cannot be sent")
        return Delivery(True, f"through SMTP {self.smtp.address}")

    def sender(self) -> str:
        """The configured From address."""
        return require_address(self.address)

    # -- writing ---------------------------------------------------------------------------

    def save_draft(self, message: EmailMessage, thread_id: str | None) -> DraftResult:
        """APPEND to Drafts, flagged as a draft and seen."""
        with self._session() as client:
            drafts = self._special(client, "drafts")
            draft_id = self._append(client, drafts, message, (b"\\Draft", b"\\Seen"))
        return DraftResult(
            draft_id=draft_id, message_id=compose.message_id_of(message), thread_id=thread_id
        )

    def send(self, message: EmailMessage, thread_id: str | None) -> SendResult:
        """Submit over SMTP once, then APPEND a copy to Sent (unless the server does)."""
        if self.smtp is None:
            raise BackendError("no [email.smtp] server is configured: nothing can be sent")
        refused = submit(message, self.smtp)
        result = SendResult(
            message_id=compose.message_id_of(message),
            thread_id=thread_id,
            recipients=compose.recipients_of(message),
            refused=refused,
        )
        if not self.settings.save_sent:
            return result
        try:
            with self._session() as client:
                result.email_id = self._append(
                    client, self._special(client, "sent"), message, (b"\\Seen",)
                )
        except BackendError as exc:  # it went out; only the copy is missing
            result.note = f"Sent, but the copy could not be saved in Sent: {exc}"
        return result

    def is_sent(self, email: EmailSummary) -> bool:
        """Whether the message lies in the Sent folder (its name asked of the server once)."""
        if self._sent_name is None:
            with self._session() as client:
                self._sent_name = self._special(client, "sent")
        return email.folder == self._sent_name

    def draft(self, draft_id: str) -> EmailMessage:
        """The draft's message as it lies in Drafts."""
        folder, uidvalidity, uid = parse_id(draft_id)
        with self._session() as client:
            if folder != self._special(client, "drafts"):
                raise ToolError(
                    f"{draft_id!r} is not in the Drafts folder; only drafts can be sent"
                )
            self._select(client, folder, expect=uidvalidity, email_id=draft_id)
            data = self._fetch_one(client, uid, draft_id)[b"BODY[]"]
        message = BytesParser(policy=policy.default).parsebytes(data)
        assert isinstance(message, EmailMessage)  # policy.default makes EmailMessage
        return message

    def send_draft(self, draft_id: str, now: datetime) -> SendResult:
        """Send a message from Drafts (dated ``now``), then delete the draft."""
        folder, _, uid = parse_id(draft_id)
        message = self.draft(draft_id)
        compose.prepare_draft(message, self.sender(), now)
        result = self.send(message, None)
        with self._session() as client:
            self._select(client, folder, writable=True)
            client.delete_messages([uid])
            client.uid_expunge([uid]) if client.has_capability("UIDPLUS") else client.expunge()
        return result

    def archive(self, email_id: str) -> str:
        """MOVE the message to the archive folder (COPY, delete, expunge without MOVE)."""
        folder, uidvalidity, uid = parse_id(email_id)
        with self._session() as client:
            archive = self._special(client, "archive")
            if folder == archive:
                return email_id
            self._select(client, folder, expect=uidvalidity, email_id=email_id, writable=True)
            message_id = self._fetch_one(client, uid, email_id).get(b"ENVELOPE")
            if client.has_capability("MOVE"):
                client.move([uid], archive)
            else:
                client.copy([uid], archive)
                client.delete_messages([uid])
                client.expunge()
            return self._moved_id(client, archive, message_id)

    def mark_read(self, email_id: str, read: bool) -> None:
        """Add or remove the seen flag."""
        folder, uidvalidity, uid = parse_id(email_id)
        with self._session() as client:
            self._select(client, folder, expect=uidvalidity, email_id=email_id, writable=True)
            self._fetch_one(client, uid, email_id)
            if read:
                client.add_flags([uid], [b"\\Seen"])
            else:
                client.remove_flags([uid], [b"\\Seen"])

    # -- sessions and folders --------------------------------------------------------------

    def _session(self) -> AbstractContextManager[Any]:
        return session(self.settings)

    def _folders(self, client: Any) -> list[tuple[tuple[bytes, ...], str]]:
        return [(tuple(flags), str(name)) for flags, _, name in client.list_folders()]

    def _search_folders(self, client: Any, folder: str | None) -> list[str]:
        listed = self._folders(client)
        if folder is not None:
            for _, name in listed:
                if name.casefold() == folder.casefold():
                    return [name]
            names = ", ".join(name for _, name in listed)
            raise NotFoundError(f"no folder {folder!r}; the folders are: {names}")
        return [
            name
            for flags, name in listed
            if not _SKIPPED_FLAGS & set(flags) and name.casefold() not in _SKIPPED_NAMES
        ]

    def _special(self, client: Any, kind: str) -> str:
        configured = {
            "sent": self.settings.sent_folder,
            "drafts": self.settings.drafts_folder,
            "archive": self.settings.archive_folder,
        }[kind]
        listed = self._folders(client)
        if configured is None:
            for flags, name in listed:
                if _SPECIAL[kind] in flags:
                    return name
        name = configured or _DEFAULT_NAMES[kind]
        if not any(existing == name for _, existing in listed):
            client.create_folder(name)
        return name

    def _select(
        self,
        client: Any,
        folder: str,
        *,
        expect: int | None = None,
        email_id: str = "",
        writable: bool = False,
    ) -> int:
        from imapclient.exceptions import IMAPClientError

        try:
            status = client.select_folder(folder, readonly=not writable)
        except IMAPClientError:
            raise NotFoundError(f"no folder {folder!r}") from None
        uidvalidity = int(status[b"UIDVALIDITY"])
        if expect is not None and expect != uidvalidity:
            raise NotFoundError(f"no email with id {email_id!r} (the folder was renumbered)")
        return uidvalidity

    # -- fetching --------------------------------------------------------------------------

    def _matching(self, client: Any, criteria: list[Any]) -> list[int]:
        charset = (
            None if all(not isinstance(c, str) or c.isascii() for c in flat(criteria)) else "UTF-8"
        )
        if client.has_capability("SORT"):
            return [
                int(uid) for uid in client.sort(["REVERSE", "DATE"], criteria, charset or "UTF-8")
            ]
        return sorted((int(uid) for uid in client.search(criteria, charset)), reverse=True)

    def _summaries(
        self,
        client: Any,
        folder: str,
        uidvalidity: int,
        uids: list[int],
        since: datetime | None,
        until: datetime | None,
        limit: int,
    ) -> list[EmailSummary]:
        found: list[EmailSummary] = []
        for start in range(0, len(uids), _FETCH_CHUNK):
            chunk = uids[start : start + _FETCH_CHUNK]
            fetched = client.fetch(
                chunk, ["FLAGS", "INTERNALDATE", f"BODY.PEEK[]<0.{SUMMARY_BYTES}>"]
            )
            for uid in chunk:
                if uid not in fetched:  # expunged meanwhile
                    continue
                email = summary_from_fetch(folder, uidvalidity, uid, fetched[uid])
                if (since is None or email.date >= since) and (until is None or email.date < until):
                    found.append(email)
            if len(found) >= limit:
                break
        return found[:limit]

    def _read(self, client: Any, folder: str, uidvalidity: int, uid: int) -> Email:
        email_id = f"{folder}/{uidvalidity}.{uid}"
        data = self._fetch_one(client, uid, email_id)
        return to_email(
            parse_message(bytes(data[b"BODY[]"])),
            email_id=email_id,
            folder=folder,
            unread=b"\\Seen" not in data.get(b"FLAGS", ()),
            received=internal_date(data),
        )

    def _fetch_one(self, client: Any, uid: int, email_id: str) -> dict[bytes, Any]:
        fetched = client.fetch([uid], ["FLAGS", "INTERNALDATE", "BODY.PEEK[]", "ENVELOPE"])
        if uid not in fetched:
            raise NotFoundError(f"no email with id {email_id!r}")
        data: dict[bytes, Any] = fetched[uid]
        return data

    def _linked(self, client: Any, ref: str) -> list[Email]:
        criteria = [
            "OR",
            ["HEADER", "Message-ID", ref],
            ["OR", ["HEADER", "References", ref], ["HEADER", "In-Reply-To", ref]],
        ]
        found: list[Email] = []
        for name in {*self._search_folders(client, None), self._special(client, "sent")}:
            uidvalidity = self._select(client, name)
            for uid in self._matching(client, criteria):
                found.append(self._read(client, name, uidvalidity, uid))
        return found

    def _append(
        self, client: Any, folder: str, message: EmailMessage, flags: tuple[bytes, ...]
    ) -> str:
        reply = client.append(folder, compose.to_bytes(message), flags=flags)
        match = _UIDPLUS.search(reply if isinstance(reply, bytes) else str(reply).encode())
        if match:
            return f"{folder}/{int(match.group(1))}.{int(match.group(2))}"
        return self._find_by_message_id(client, folder, compose.message_id_of(message))

    def _moved_id(self, client: Any, folder: str, envelope: Any) -> str:
        # MOVE and COPY report the new UID in a COPYUID response code (UIDPLUS), which
        # IMAPClient keeps on the underlying imaplib connection.
        codes = client._imap.untagged_responses.get("COPYUID") or []
        if codes:
            uidvalidity, _, new = codes[-1].decode().split(" ")
            return f"{folder}/{int(uidvalidity)}.{int(new.split(':')[-1].split(',')[-1])}"
        message_id = envelope.message_id.decode() if envelope and envelope.message_id else ""
        return self._find_by_message_id(client, folder, message_id.strip("<>"))

    def _find_by_message_id(self, client: Any, folder: str, message_id: str) -> str:
        uidvalidity = self._select(client, folder)
        uids = self._matching(client, ["HEADER", "Message-ID", message_id]) if message_id else []
        if not uids:
            raise BackendError(f"the message was stored in {folder} but cannot be found there")
        return f"{folder}/{uidvalidity}.{uids[0]}"
