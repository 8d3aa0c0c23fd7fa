"""The trust sources: who the user is, whom they know, and the evidence for each.

Provenance (:mod:`morrow.agent.safety.provenance`) judges an action's addresses against these
sources, each with the evidence an attacker cannot forge (``docs/safety.md`` has the table):

- **typed by the user** in this session: the user's own words (never data morrow gathered,
  summaries or tool output), from the history and, for folded turns, the store;
- **the user's own address**: ``[user] email`` and the configured sender;
- **the address book**: the vCard file (``[email] contacts``) and the people the user wrote to,
  read from the Sent folder (Gmail's SENT label, the IMAP folder flagged Sent), never from the From
  header of received mail;
- **the thread a reply answers** (``reply_to_email_id``): the recipients of the messages of
  that thread the user sent (they lie in Sent), and the people on the messages received from
  someone already trusted; a message that merely references the thread (``In-Reply-To``,
  ``References``) lends its sender nothing.

A calendar change that emails people with words the model wrote (an update with
``send_updates``, an answer with a comment) is judged on everyone it notifies
(:data:`CONTENT_ARGUMENTS`); a cancellation or a plain answer carries none.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from morrow.agent.messages import Message
from morrow.agent.safety.provenance import (
    ADDRESS_ARGUMENTS,
    NOTIFIED,
    OUTGOING,
    TEXT_ARGUMENTS,
    Finding,
    Provenance,
)
from morrow.tools.context import ToolContext
from morrow.tools.email.addresses import Address, parse, parse_key, plain
from morrow.tools.workspace import Workspace

# Arguments that put the model's words (or a new time) into what a calendar change emails.
CONTENT_ARGUMENTS = (*TEXT_ARGUMENTS, "start", "end")
_NEAR_LIMIT = 50


def check_action(
    context: ToolContext,
    history: Sequence[Message],
    arguments: dict[str, Any],
    preview: dict[str, Any],
    effect: str = "send",
    tool: str = "",
) -> list[Finding]:
    """The untrusted addresses, links and copied text of one action (reads the mailbox).

    Copied text counts for sends only: a draft or a private note may quote anything.
    The trusted sources are looked up lazily: the address book only for addresses not
    trusted otherwise, earlier user messages only when the session has folded turns.
    """
    notified = effect == "send" and any(arguments.get(k) for k in CONTENT_ARGUMENTS)
    names = (*ADDRESS_ARGUMENTS, *TEXT_ARGUMENTS, OUTGOING)
    if not notified and not any(arguments.get(k) or preview.get(k) for k in names):
        return []
    workspace = context.workspace
    book = WorkspaceAddressBook(workspace)
    own = own_addresses(workspace)
    said = stored_user_texts(context)
    provenance = Provenance.of_history(history, user_texts=said, known=own, book=book)
    thread = thread_people(workspace, arguments, provenance.trusts)
    if thread:
        provenance = Provenance.of_history(
            history, user_texts=said, known=[*own, *thread], book=book
        )
    findings = provenance.check(arguments, preview, notified=notified)
    if effect == "send":
        skip = f"email:{arguments['draft_id']}" if arguments.get("draft_id") else ""
        findings += provenance.copied_text(arguments, preview, skip=skip)
    return findings


def own_addresses(workspace: Workspace) -> list[str]:
    """The user's own addresses: ``[user] email`` and the mailbox's sender."""
    found = [workspace.user_email] if workspace.user_email else []
    try:
        found.append(workspace.mail.sender())
    except Exception:  # no sender configured: the user's address is simply unknown
        pass
    return found


def thread_people(
    workspace: Workspace, arguments: dict[str, Any], trusted: Callable[[Address], bool]
) -> list[str]:
    """The people the thread a reply answers vouches for (see the module docstring).

    A message counts when the user sent it (it lies in Sent) or when its sender is trusted
    already (by another source or by an earlier message of the thread); its From, To and Cc
    are then trusted. Repeated until nothing changes, so a chain of trusted replies counts.
    """
    email_id = arguments.get("reply_to_email_id")
    if not email_id:
        return []
    mail = workspace.mail
    try:
        original = mail.read(email_id)
        thread = {m.id: m for m in [original, *mail.read_thread(original.thread_id)]}
    except Exception:  # an unknown id: the tool itself will say so
        return []
    people: set[str] = set()
    vouching: set[str] = set()
    changed = True
    while changed:
        changed = False
        for message in thread.values():
            if message.id in vouching or not _vouches(mail, message, people, trusted):
                continue
            vouching.add(message.id)
            keys = {parse_key(v) for v in [message.from_, *message.to, *message.cc]}
            people |= {k for k in keys if k}
            changed = True
    return sorted(people)


def _vouches(mail: Any, message: Any, people: set[str], trusted: Callable[[Address], bool]) -> bool:
    try:
        if mail.is_sent(message):
            return True
    except Exception:  # a mailbox that cannot say: not evidence
        return False
    sender = parse_key(message.from_)
    return bool(sender) and (sender in people or trusted(parse(message.from_)))


class WorkspaceAddressBook:
    """The user's address book: the vCard file and the people the user wrote to (Sent).

    Args:
        workspace: the mailbox and the vCard file to read.
    """

    def __init__(self, workspace: Workspace) -> None:
        self.workspace = workspace

    def contains(self, key: str) -> bool:
        """Whether the vCard file lists the address, or the user has written to it."""
        if any(card.key == key for card in self._cards()):
            return True
        return any(a.key == key for a in self._written_to(key))

    def near(self, address: Address) -> list[Address]:
        """Entries that may look like ``address``: found by its local part and its domain."""
        needles = {address.local, plain(address.local), plain(address.unicode_domain)}
        found = {card.key: card for card in self._cards()}
        for needle in needles:
            for person in self._written_to(needle):
                found.setdefault(person.key, person)
        return list(found.values())[:_NEAR_LIMIT]

    def _cards(self) -> list[Address]:
        path = self.workspace.contacts_file
        if path is None:
            return []
        from morrow.tools.email.contacts import address_book

        try:
            return [parse(card.address) for card in address_book(path)]
        except Exception:  # an unreadable vCard file: search_contacts reports it
            return []

    def _written_to(self, needle: str) -> list[Address]:
        try:
            people = self.workspace.mail.correspondents(needle, limit=20)
        except Exception:  # a mailbox that cannot be searched vouches for nobody
            return []
        return [parse(c.address) for c in people if c.you_wrote > 0 and "@" in c.address]


def stored_user_texts(context: ToolContext) -> list[str]:
    """What the user wrote earlier in the session, from the store (turns no longer in history)."""
    from morrow.memory.errors import MemoryStoreError

    try:
        return [said.text for said in context.user_words()]
    except MemoryStoreError:
        return []


__all__ = ["NOTIFIED", "WorkspaceAddressBook", "check_action", "thread_people"]
