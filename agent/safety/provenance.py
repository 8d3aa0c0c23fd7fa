"""Provenance of addresses and links: where each one an effect would use came from.

The model reads mail and invitations written by strangers, so any address or link it puts into
an action may have been planted there. This module checks them in code, outside the model
(CaMeL's idea: the data flow decides, not the model's good will). Every address is read by the
project's one parser (:mod:`morrow.tools.email.addresses`): a recipient exactly as compose puts
it on the envelope, an address inside a text as :func:`~morrow.tools.email.addresses.find`
normalises it, so what is judged is what is sent (IDNA domains, NFKC, case). An address is
**trusted** when the trust sources vouch for it (the user's words, the user's own address, the
address book, the thread a reply answers: :mod:`morrow.agent.safety.trust`, and
``docs/safety.md`` for the table of them and the evidence each needs).

A link (with a scheme, ``www.``, or a bare host such as ``evil.example/login?u=alex``) is
trusted only when the user wrote it. Anything else is **untrusted**: it appears only in tool
output (an email, an event, the attendee list of an invitation, the briefing's gathered data),
or nowhere at all (made up). Each untrusted value becomes a :class:`Finding` that says where it
was seen, and, for an address that imitates a trusted one (same Unicode TS #39 skeleton), which
one it looks like; the gate then needs the user's explicit approval, whatever the mode.

Where things were seen is read from the conversation itself: every tool result in the history,
decoded from JSON, with ``<untrusted_content source="...">`` blocks naming the email or event
the text belongs to, and the data morrow put into user messages
(:class:`~morrow.agent.messages.DataPart`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from morrow.agent.messages import Message
from morrow.tools.email.addresses import Address, AddressError, clean, find, lookalike, parse
from morrow.tools.email.addresses import scripts_mixed as _scripts_mixed

_LINK_CHARS = r"[^\s<>\"'`\[\]{}|\\^]"
LINK = re.compile(
    rf"\b[a-z][a-z0-9+.-]*://{_LINK_CHARS}+"  # any scheme
    rf"|\bwww\.{_LINK_CHARS}+"
    # a bare host (two labels or more, a top-level label of letters) and its path, if any
    rf"|(?<![\w@./-])(?:[^\W_](?:[\w-]*[^\W_])?\.)+(?:[^\W\d_]{{2,24}}|xn--[a-z0-9-]+)"
    rf"(?:[/?#]{_LINK_CHARS}*)?(?![\w@-])",
    re.IGNORECASE,
)
_BLOCK = re.compile(r'<untrusted_content source="([^"]*)">(.*?)</untrusted_content>', re.DOTALL)
_TAGS = re.compile(r"</?untrusted_content[^>]*>")
_WORD = re.compile(r"[^\W_]+(?:[.'@$-][^\W_]+)*")
COPIED_WORDS = 8
# What a preview adds that the model did not write as arguments: a saved draft's message.
_PREVIEW_FIELDS = ("to", "cc", "bcc", "subject", "body")
ADDRESS_ARGUMENTS = ("to", "cc", "bcc", "attendees", "add_attendees")
TEXT_ARGUMENTS = ("subject", "body", "title", "description", "location", "comment")
# A preview field of external MCP tools: every string their arguments send to the server, whose
# argument names morrow cannot know (morrow.agent.mcp.bridge).
OUTGOING = "sent_to_server"
# Who a calendar change emails (the backends say, in the preview).
NOTIFIED = "notified"
ADDRESSED = "addressed"


@dataclass(frozen=True)
class Finding:
    """An address or link an action would use that the user never gave.

    Attributes:
        value: the address (as it goes out, with how it reads when encoded) or link.
        kind: "address", "link" or "text" (words copied from tool output).
        argument: where in the action it is ("to", "body", "notified" ...).
        source: where it came from, in words, for the approval prompt.
        lookalike: the trusted address this one imitates ("" when none).
        scripts: the scripts one of its labels mixes (e.g. CYRILLIC and LATIN).
    """

    value: str
    kind: Literal["address", "link", "text"]
    argument: str
    source: str
    lookalike: str = ""
    scripts: tuple[str, ...] = ()

    def describe(self) -> str:
        """One line: what, where in the action, what it imitates, and where it came from."""
        if self.kind == "text":
            return f"untrusted text {self.value!r} (in {self.argument}) copied from {self.source}"
        mixed = f"it mixes {' and '.join(s.title() for s in self.scripts)} letters; "
        mixed = mixed if self.scripts else ""
        if self.lookalike:
            return (
                f"LOOK-ALIKE address {self.value} (in {self.argument}): it looks like "
                f"{self.lookalike} but is not; {mixed}{self.source}"
            )
        return f"untrusted {self.kind} {self.value} (in {self.argument}): {mixed}{self.source}"


@dataclass(frozen=True)
class Sighting:
    """One piece of text a tool returned (or morrow gathered), and how to name where it was.

    Attributes:
        text: the text.
        where: where it was, in words.
        ref: what it belongs to (``email:Drafts/1``), to leave a draft's own text out when
            that draft is judged.
    """

    text: str
    where: str
    ref: str = ""


class AddressBook(Protocol):
    """The user's address book as provenance asks it (looked up only for untrusted values)."""

    def contains(self, key: str) -> bool:
        """Whether an address (its :attr:`~morrow.tools.email.addresses.Address.key`) is in it."""
        ...

    def near(self, address: Address) -> list[Address]:
        """Entries that may look like ``address`` (for the look-alike check)."""
        ...


class Provenance:
    """What the user said and what tools showed in a session, to judge an action's values.

    Args:
        user_texts: everything the user wrote in the session (their words only).
        sightings: the text tool results showed (and morrow gathered), each with where it was.
        known: addresses trusted outright (the user's own, the people of a replied thread).
        book: the user's address book (asked only for addresses not trusted otherwise).
    """

    def __init__(
        self,
        user_texts: Sequence[str],
        sightings: Sequence[Sighting],
        known: Sequence[str] = (),
        book: AddressBook | None = None,
    ) -> None:
        said = clean("\n".join(user_texts))
        self._said = said.casefold()
        self._said_addresses = find(said)
        self._said_keys = {a.key for a in self._said_addresses}
        self._said_links = {_link_key(link) for link in find_links(said)}
        self.sightings = list(sightings)
        self.known = [a for value in known for a in find(value)]
        self._known_keys = {a.key for a in self.known}
        self.book = book
        self._seen: list[set[str]] | None = None

    @classmethod
    def of_history(
        cls,
        history: Sequence[Message],
        *,
        user_texts: Sequence[str] = (),
        known: Sequence[str] = (),
        book: AddressBook | None = None,
    ) -> Provenance:
        """Build from a conversation: its user messages' own words and its tool results.

        ``user_texts`` adds what the user wrote earlier that is no longer in ``history``
        (turns folded into a summary).
        """
        said = [*user_texts, *(m.user_words for m in history if m.role == "user")]
        return cls(said, list(sightings_of(history)), known, book)

    def check(
        self, arguments: dict[str, Any], shown: dict[str, Any], *, notified: bool = False
    ) -> list[Finding]:
        """The untrusted addresses and links of an action (its arguments and its preview).

        ``shown`` is the tool's preview; only the parts the model did not write as arguments
        are taken from it (a draft's recipients and text for ``send_draft``), and, with
        ``notified``, the people a calendar change emails.
        """
        findings: dict[tuple[str, str], Finding] = {}
        for argument, value in judged_values(arguments, shown, notified=notified):
            for found in _extract(argument, value):
                if isinstance(found, Address):
                    key = ("address", found.key)
                    if key not in findings and not self.trusts(found):
                        findings[key] = self._address_finding(found, argument)
                else:
                    key = ("link", _link_key(found))
                    if key not in findings and not self._trusted_link(found):
                        findings[key] = Finding(found, "link", argument, self.source_of(found))
        return list(findings.values())

    def copied_text(
        self, arguments: dict[str, Any], shown: dict[str, Any] | None = None, skip: str = ""
    ) -> list[Finding]:
        """Runs of :data:`COPIED_WORDS` words or more that a message repeats from tool output.

        A send that carries text written by someone else (an injected "send this to ..."
        message, an email's body forwarded) needs the user's explicit approval, even to a
        trusted address: the user decides what leaves in their name. A saved draft's text is
        judged from ``shown``; ``skip`` leaves out the draft's own text as tools showed it.
        """
        shingles: dict[tuple[str, ...], str] = {}
        for sighting in self.sightings:
            if skip and sighting.ref == skip:
                continue
            words = _WORD.findall(sighting.text.casefold())
            for start in range(len(words) - COPIED_WORDS + 1):
                shingles.setdefault(tuple(words[start : start + COPIED_WORDS]), sighting.where)
        findings = []
        for argument, value in judged_values(arguments, shown or {}):
            if argument not in ("subject", "body", "description", "comment"):
                continue
            words = _WORD.findall(str(value or "").casefold())
            for start in range(len(words) - COPIED_WORDS + 1):
                run = tuple(words[start : start + COPIED_WORDS])
                if run in shingles and " ".join(run) not in self._said:
                    findings.append(
                        Finding(" ".join(run) + " ...", "text", argument, shingles[run])
                    )
                    break
        return findings

    def trusts(self, address: Address) -> bool:
        """Whether an address is trusted: the user's words, the known ones, the address book."""
        if address.key in self._known_keys or address.key in self._said_keys:
            return True
        return bool(self.book and address.valid and self.book.contains(address.key))

    def source_of(self, value: str | Address) -> str:
        """Where a value was seen, in words (or that it was seen nowhere)."""
        if isinstance(value, Address):
            if self._seen is None:
                self._seen = [{a.key for a in find(s.text)} for s in self.sightings]
            seen = zip(self.sightings, self._seen, strict=True)
            places = [s.where for s, keys in seen if value.key in keys]
        else:
            needle = _link_key(value)
            places = [s.where for s in self.sightings if needle in clean(s.text).casefold()]
        if not places:
            return (
                "it appears nowhere in this conversation: not in your messages, your contacts "
                "or any tool result (the model may have made it up)"
            )
        unique = list(dict.fromkeys(places))
        more = f" (and {len(unique) - 2} more places)" if len(unique) > 2 else ""
        return "it appears only in " + " and ".join(unique[:2]) + more

    def _address_finding(self, address: Address, argument: str) -> Finding:
        trusted = [*self.known, *self._said_addresses]
        if self.book is not None and address.valid:
            trusted += self.book.near(address)
        imitated = lookalike(address, trusted)
        return Finding(
            address.shown,
            "address",
            argument,
            self.source_of(address),
            lookalike=imitated.readable if imitated else "",
            scripts=tuple(_scripts_mixed(address)),
        )

    def _trusted_link(self, link: str) -> bool:
        key = _link_key(link)
        return key in self._said_links or key in self._said


def judged_values(
    arguments: dict[str, Any], shown: dict[str, Any], *, notified: bool = False
) -> Iterator[tuple[str, Any]]:
    """The values of an action that are judged: its arguments, and what its preview adds."""
    if shown.get(OUTGOING):  # an external tool: every value it sends is checked
        yield OUTGOING, shown[OUTGOING]
    for name in (*ADDRESS_ARGUMENTS, *TEXT_ARGUMENTS):
        if arguments.get(name):
            yield name, arguments[name]
        elif name in _PREVIEW_FIELDS and shown.get(name):
            # a draft's text: leave out the quoted original a reply carries (it was checked
            # as mail when it arrived, and it goes back to the thread it came from)
            value = shown[name]
            yield name, _unquoted(value) if name == "body" and isinstance(value, str) else value
    # whom a calendar change addresses, also where the backend itself emails nobody
    addressed = shown.get(ADDRESSED, shown.get(NOTIFIED))
    if notified and addressed:
        yield NOTIFIED, addressed


def find_links(text: str) -> list[str]:
    """Every link in ``text`` (a scheme, ``www.`` or a bare host), trailing punctuation cut."""
    return [link.rstrip(".,;:!?)") for link in LINK.findall(clean(text))]


def _extract(argument: str, value: Any) -> Iterator[Address | str]:
    items = value if isinstance(value, list | tuple) else [value]
    for item in items:
        text = str(item)
        if argument in (*ADDRESS_ARGUMENTS, NOTIFIED):
            try:  # a recipient exactly as compose reads it
                yield parse(text)
            except AddressError:  # it cannot be sent; whatever it holds is still judged
                yield from find(text)
            continue
        yield from find_links(text)
        yield from find(text)


def _unquoted(body: str) -> str:
    return "\n".join(line for line in body.splitlines() if not line.startswith(">"))


def _link_key(link: str) -> str:
    """A link compared loosely: no scheme, no "www.", no trailing slash or punctuation."""
    key = re.sub(r"^([a-z][a-z0-9+.-]*://)?(www\.)?", "", clean(link).strip().casefold())
    return key.rstrip("/.,;:!?)")


# -- where tool output came from --------------------------------------------------------------


def sightings_of(history: Sequence[Message]) -> Iterator[Sighting]:
    """Every string of every tool result in ``history`` and of the data morrow gathered."""
    calls = {c.id: c for m in history if m.role == "assistant" for c in m.tool_calls}
    for message in history:
        if message.role == "user":
            yield from _gathered(message)
        if message.role != "tool":
            continue
        for result in message.tool_results:
            if result.is_error:
                continue
            call = calls.get(result.call_id)
            tool = call.name if call else result.name
            yield from _sightings(tool, result.content)


def _gathered(message: Message) -> Iterator[Sighting]:
    """The data in a user message: its data parts, and untrusted blocks of older sessions."""
    for part in message.data:
        yield from _sightings(part.source, part.text)
    for source, inner in _BLOCK.findall(message.text):
        yield Sighting(inner, _block_place(source, inner, ()), source)


def _sightings(tool: str, content: str) -> Iterator[Sighting]:
    try:
        decoded: Any = json.loads(content)
    except ValueError:
        decoded = content
    for path, owner, text in _strings(decoded, (), None):
        outside = _BLOCK.sub(" ", text)
        for source, inner in _BLOCK.findall(text):
            yield Sighting(inner, _block_place(source, inner, path), source)
        if outside.strip():
            yield Sighting(outside, _json_place(tool, path, owner))


def _strings(
    node: Any, path: tuple[str, ...], owner: dict[str, Any] | None
) -> Iterator[tuple[tuple[str, ...], dict[str, Any] | None, str]]:
    if isinstance(node, str):
        yield path, owner, node
    elif isinstance(node, dict):
        for key, value in node.items():
            yield from _strings(value, (*path, str(key)), node)
    elif isinstance(node, list):
        for value in node:
            yield from _strings(value, path, owner)


def _block_place(source: str, text: str, path: tuple[str, ...]) -> str:
    kind, _, ident = source.partition(":")
    if kind == "email":
        head, _, _ = text.strip().partition("\n\n")
        sender = next(
            (line[5:].strip() for line in head.splitlines() if line.startswith("From:")), ""
        )
        by = f" from {sender}" if sender else ""
        return f"the text of email {ident}{by} (written by its sender)"
    if kind == "event":
        part = path[-1] if path else "text"
        return f"the {part} of event {ident} (written by whoever created the event)"
    if kind == "mcp":
        return f"the output of {ident} (an external MCP server)"
    if kind == "briefing-data":
        return "the briefing's gathered data (mail and events written by others)"
    return f"text from {source}"


def _json_place(tool: str, path: tuple[str, ...], owner: dict[str, Any] | None) -> str:
    field = path[-1] if path else ""
    if owner is not None and "attendees" in owner and "id" in owner:
        title = _TAGS.sub("", str(owner.get("title", "")))
        return f"the {field or 'data'} of event {owner['id']} ({title!r}), as the calendar lists it"
    if tool == "search_contacts" and owner is not None:
        wrote = "you have never written to them" if not owner.get("you_wrote") else ""
        return f"the result of search_contacts ({wrote or 'a correspondent'})"
    return f"the result of {tool}" + (f" ({field})" if field else "")
