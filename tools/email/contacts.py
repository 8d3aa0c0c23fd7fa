"""Finding people: from the user's own correspondence and an optional vCard file.

Someone the user has written to is a better answer than someone who merely wrote to the user
(a stranger's newsletter is not a contact), and an address-book entry is the best answer of
all. Backends report who appears in matching messages (:func:`tally`); :func:`rank` merges
that with the vCard entries and orders the result.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from morrow.tools.email.addresses import AddressError, parse
from morrow.tools.email.backend import Contact
from morrow.tools.errors import BackendError

MAX_CONTACTS = 10
# Weights within a group of the ranking (see _score).
_WROTE_WEIGHT = 5.0
_RECEIVED_WEIGHT = 1.0
_ADDRESS_BOOK_BONUS = 10.0


@dataclass(frozen=True)
class Exchange:
    """One message, seen from the user's side.

    Attributes:
        sent: whether the user sent it.
        sender: its From ("Name <address>").
        recipients: its To and Cc.
        date: when it was sent.
    """

    sent: bool
    sender: str
    recipients: list[str]
    date: datetime


def tally(exchanges: Iterable[Exchange], query: str, own: set[str]) -> list[Contact]:
    """Count, for every address matching ``query``, the messages to and from it.

    Args:
        exchanges: the messages to look at, newest first.
        query: text the name or address must contain (case-insensitive).
        own: the user's own addresses (as :attr:`~morrow.tools.email.addresses.Address.key`),
            never listed.
    """
    needle = query.casefold().strip()
    found: dict[str, Contact] = {}
    for exchange in exchanges:
        people = exchange.recipients if exchange.sent else [exchange.sender]
        for person in people:
            try:
                parsed = parse(person)
            except AddressError:  # a header no mail could be sent to: not a contact
                continue
            address, name = parsed.key, parsed.name
            if address in own:
                continue
            if needle not in address.casefold() and needle not in name.casefold():
                continue
            contact = found.setdefault(address, Contact(address=address, last=exchange.date))
            if not contact.name and name:
                contact.name, contact.name_from_mail = name, True
            if exchange.sent:
                contact.you_wrote += 1
            else:
                contact.wrote_to_you += 1
            if contact.last is None or exchange.date > contact.last:
                contact.last = exchange.date
    return list(found.values())


def load_vcards(path: Path) -> list[Contact]:
    """Every (name, address) pair of a vCard file (versions 2.1, 3.0 and 4.0).

    Raises:
        BackendError: the file cannot be read or is not a vCard file.
    """
    import vobject

    try:
        text = path.read_text(encoding="utf-8-sig", errors="replace")
    except OSError as exc:
        raise BackendError(f"cannot read the contacts file {path}: {exc}") from None
    contacts: list[Contact] = []
    try:
        for card in vobject.readComponents(text, ignoreUnreadable=True):
            contacts.extend(_card_contacts(card))
    except Exception as exc:  # vobject raises its own ParseError and plain ValueErrors
        raise BackendError(f"the contacts file {path} is not a valid vCard file: {exc}") from None
    return contacts


def _card_contacts(card: object) -> list[Contact]:
    contents = getattr(card, "contents", {})
    name = ""
    for line in contents.get("fn", []):
        name = str(line.value).strip()
    if not name:
        for line in contents.get("n", []):
            name = " ".join(str(line.value).split())
    found = []
    for line in contents.get("email", []):
        try:
            address = parse(str(line.value)).key
        except AddressError:  # an entry no mail could be sent to
            continue
        found.append(Contact(address=address, name=name, in_address_book=True))
    return found


def search_address_book(cards: list[Contact], query: str) -> list[Contact]:
    """The address-book entries whose name or address contains ``query``."""
    needle = query.casefold().strip()
    return [c for c in cards if needle in c.address.casefold() or needle in c.name.casefold()]


def rank(from_mail: list[Contact], from_book: list[Contact], limit: int) -> list[Contact]:
    """Merge both sources (one entry per address) and put the likeliest people first."""
    merged: dict[str, Contact] = {c.address: c.model_copy() for c in from_mail}
    for card in from_book:
        contact = merged.get(card.address)
        if contact is None:
            merged[card.address] = card.model_copy()
            continue
        contact.in_address_book = True
        if card.name:  # the user's own name for them beats what their mail says
            contact.name, contact.name_from_mail = card.name, False
    ordered = sorted(merged.values(), key=_score, reverse=True)
    return ordered[:limit]


def _score(contact: Contact) -> tuple[bool, float, float]:
    # People the user knows (wrote to, or keeps in the address book) come before anyone who
    # merely wrote to the user, however often; within each group, more mail ranks higher.
    known = contact.in_address_book or contact.you_wrote > 0
    score = _WROTE_WEIGHT * contact.you_wrote + _RECEIVED_WEIGHT * contact.wrote_to_you
    if contact.in_address_book:
        score += _ADDRESS_BOOK_BONUS
    recency = contact.last.timestamp() if contact.last else 0.0
    return known, score, recency


_BOOKS: dict[Path, tuple[tuple[int, int], list[Contact]]] = {}


def address_book(path: Path) -> list[Contact]:
    """The vCard file's entries, read again only when the file changed."""
    try:
        stat = path.stat()
    except OSError as exc:
        raise BackendError(f"cannot read the contacts file {path}: {exc}") from None
    stamp = (stat.st_mtime_ns, stat.st_size)
    cached = _BOOKS.get(path)
    if cached is None or cached[0] != stamp:
        cached = (stamp, load_vcards(path))
        _BOOKS[path] = cached
    return cached[1]
