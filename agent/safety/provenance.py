"""Provenance of addresses and links: where each one an effect would use came from.

The model reads mail and invitations written by strangers, so any address or link it puts into
an action may have been planted there. This module checks them in code, outside the model
(CaMeL's idea: the data flow decides, not the model's good will). An address is **trusted**
when it appears

- in the user's own messages of this session (what they typed, never what a tool returned);
- in the user's address book: the configured address itself, the vCard file, or the people
  the user has written to before (recipients in Sent);
- in the headers of the thread the action replies to (``reply_to_email_id``).

A link is trusted only when the user wrote it. Anything else is **untrusted**: it appears only
in tool output (an email body, an event description, the attendee list of an invitation; a
stranger who merely wrote to the user is not a contact), or nowhere at all (made up). Each
untrusted value becomes a :class:`Finding` that says where it was seen, for the approval
prompt; the gate then needs the user's explicit approval, whatever the mode.

Where things were seen is read from the conversation itself: every tool result in the history,
decoded from JSON, with ``<untrusted_content source="...">`` blocks naming the email or event
the text belongs to.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from morrow.agent.messages import Message
from morrow.tools.context import ToolContext
from morrow.tools.workspace import Workspace

ADDRESS = re.compile(r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)+")
LINK = re.compile(r"(?:\bhttps?://|\bwww\.)[^\s<>\"'`\[\]{}|\\^]+", re.IGNORECASE)
_BLOCK = re.compile(r'<untrusted_content source="([^"]*)">(.*?)</untrusted_content>', re.DOTALL)
_TAGS = re.compile(r"</?untrusted_content[^>]*>")
_WORD = re.compile(r"[^\W_]+(?:[.'@$-][^\W_]+)*")
COPIED_WORDS = 8
# What a preview adds that the model did not write as arguments: a saved draft's message. (An
# event's current attendees are on it already; they are shown, not judged.)
_PREVIEW_FIELDS = ("to", "cc", "bcc", "subject", "body")
ADDRESS_ARGUMENTS = ("to", "cc", "bcc", "attendees", "add_attendees")
TEXT_ARGUMENTS = ("subject", "body", "title", "description", "location", "comment")
# A preview field of external MCP tools: every string their arguments send to the server, whose
# argument names morrow cannot know (morrow.agent.mcp.bridge).
OUTGOING = "sent_to_server"


@dataclass(frozen=True)
class Finding:
    """An address or link an action would use that the user never gave.

    Attributes:
        value: the address or link.
        kind: "address" or "link".
        argument: where in the action it is ("to", "body", ...).
        source: where it came from, in words, for the approval prompt.
    """

    value: str
    kind: Literal["address", "link", "text"]
    argument: str
    source: str

    def describe(self) -> str:
        """One line: what, where in the action, and where it came from."""
        if self.kind == "text":
            return f"untrusted text {self.value!r} (in {self.argument}) copied from {self.source}"
        return f"untrusted {self.kind} {self.value} (in {self.argument}): {self.source}"


@dataclass(frozen=True)
class Sighting:
    """One piece of text a tool returned, and how to name where it was."""

    text: str
    where: str


AddressBook = Callable[[str], bool]


class Provenance:
    """What the user said and what tools showed in a session, to judge an action's values.

    Args:
        user_texts: everything the user wrote in the session.
        sightings: the text tool results showed, each with where it was.
        known: addresses trusted outright (the user's own, a replied thread's headers).
        in_address_book: whether an address is in the user's address book (looked up only
            for addresses not trusted otherwise; it may read the mailbox).
    """

    def __init__(
        self,
        user_texts: Sequence[str],
        sightings: Sequence[Sighting],
        known: Sequence[str] = (),
        in_address_book: AddressBook | None = None,
    ) -> None:
        said = "\n".join(user_texts)
        self._said = said.casefold()
        self._said_addresses = {a.casefold() for a in ADDRESS.findall(said)}
        self._said_links = {_link_key(link) for link in LINK.findall(said)}
        self.sightings = list(sightings)
        self.known = {address.casefold() for address in known}
        self.in_address_book = in_address_book

    @classmethod
    def of_history(
        cls,
        history: Sequence[Message],
        *,
        user_texts: Sequence[str] = (),
        known: Sequence[str] = (),
        in_address_book: AddressBook | None = None,
    ) -> Provenance:
        """Build from a conversation: its user messages and its tool results.

        ``user_texts`` adds what the user wrote earlier that is no longer in ``history``
        (turns folded into a summary).
        """
        said = [*user_texts, *(m.text for m in history if m.role == "user")]
        return cls(said, list(sightings_of(history)), known, in_address_book)

    def check(self, arguments: dict[str, Any], shown: dict[str, Any]) -> list[Finding]:
        """The untrusted addresses and links of an action (its arguments and its preview).

        ``shown`` is the tool's preview; only the parts the model did not write as arguments
        are taken from it (a draft's recipients and text for ``send_draft``).
        """
        findings: dict[tuple[str, str], Finding] = {}
        for argument, value in _values(arguments, shown):
            for kind, found in _extract(argument, value):
                key = (kind, found.casefold())
                if key not in findings and not self._trusted(kind, found):
                    findings[key] = Finding(found, kind, argument, self.source_of(found))
        return list(findings.values())

    def copied_text(self, arguments: dict[str, Any]) -> list[Finding]:
        """Runs of :data:`COPIED_WORDS` words or more that a message repeats from tool output.

        A send that carries text written by someone else (an injected "send this to ..."
        message, an email's body forwarded) needs the user's explicit approval, even to a
        trusted address: the user decides what leaves in their name.
        """
        shingles: dict[tuple[str, ...], str] = {}
        for sighting in self.sightings:
            words = _WORD.findall(sighting.text.casefold())
            for start in range(len(words) - COPIED_WORDS + 1):
                shingles.setdefault(tuple(words[start : start + COPIED_WORDS]), sighting.where)
        findings = []
        for argument in ("subject", "body", "description", "comment"):
            words = _WORD.findall(str(arguments.get(argument) or "").casefold())
            for start in range(len(words) - COPIED_WORDS + 1):
                run = tuple(words[start : start + COPIED_WORDS])
                if run in shingles and " ".join(run) not in self._said:
                    findings.append(
                        Finding(" ".join(run) + " ...", "text", argument, shingles[run])
                    )
                    break
        return findings

    def source_of(self, value: str) -> str:
        """Where a value was seen, in words (or that it was seen nowhere)."""
        needle = value.casefold()
        places = [s.where for s in self.sightings if needle in s.text.casefold()]
        if not places:
            return (
                "it appears nowhere in this conversation: not in your messages, your contacts "
                "or any tool result (the model may have made it up)"
            )
        unique = list(dict.fromkeys(places))
        more = f" (and {len(unique) - 2} more places)" if len(unique) > 2 else ""
        return "it appears only in " + " and ".join(unique[:2]) + more

    def _trusted(self, kind: str, value: str) -> bool:
        if kind == "link":
            return _link_key(value) in self._said_links or _link_key(value) in self._said
        folded = value.casefold()
        if folded in self.known or folded in self._said_addresses:
            return True
        return bool(self.in_address_book and self.in_address_book(folded))


def _values(arguments: dict[str, Any], shown: dict[str, Any]) -> Iterator[tuple[str, Any]]:
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


def _extract(argument: str, value: Any) -> Iterator[tuple[Literal["address", "link"], str]]:
    items = value if isinstance(value, list | tuple) else [value]
    for item in items:
        text = str(item)
        if argument in ADDRESS_ARGUMENTS:
            yield from (("address", a) for a in ADDRESS.findall(text))
            continue
        for link in LINK.findall(text):
            yield "link", link.rstrip(".,;:!?)")
        for address in ADDRESS.findall(text):
            yield "address", address


def _unquoted(body: str) -> str:
    return "\n".join(line for line in body.splitlines() if not line.startswith(">"))


def _link_key(link: str) -> str:
    """A link compared loosely: no scheme, no "www.", no trailing slash or punctuation."""
    key = re.sub(r"^(https?://)?(www\.)?", "", link.strip().casefold())
    return key.rstrip("/.,;:!?)")


# -- where tool output came from --------------------------------------------------------------


def sightings_of(history: Sequence[Message]) -> Iterator[Sighting]:
    """Every string of every tool result in ``history``, with where it came from."""
    calls = {c.id: c for m in history if m.role == "assistant" for c in m.tool_calls}
    for message in history:
        if message.role != "tool":
            continue
        for result in message.tool_results:
            if result.is_error:
                continue
            call = calls.get(result.call_id)
            tool = call.name if call else result.name
            yield from _sightings(tool, result.content)


def _sightings(tool: str, content: str) -> Iterator[Sighting]:
    try:
        decoded: Any = json.loads(content)
    except ValueError:
        decoded = content
    for path, owner, text in _strings(decoded, (), None):
        outside = _BLOCK.sub(" ", text)
        for source, inner in _BLOCK.findall(text):
            yield Sighting(inner, _block_place(source, inner, path))
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


# -- the user's world: own address, address book, the thread replied to ------------------------


def check_action(
    context: ToolContext,
    history: Sequence[Message],
    arguments: dict[str, Any],
    preview: dict[str, Any],
    effect: str = "send",
) -> list[Finding]:
    """The untrusted addresses, links and copied text of one action (reads the mailbox).

    Copied text counts for sends only: a draft or a private note may quote anything.

    The trusted sources are looked up lazily: the address book only for addresses not
    trusted otherwise, earlier user messages only when the session has folded turns.
    """
    names = (*ADDRESS_ARGUMENTS, *TEXT_ARGUMENTS, OUTGOING)
    if not any(arguments.get(k) or preview.get(k) for k in names):
        return []
    workspace = context.workspace
    provenance = Provenance.of_history(
        history,
        user_texts=_stored_user_texts(context),
        known=[*_own_addresses(workspace), *_thread_addresses(workspace, arguments)],
        in_address_book=_address_book(workspace),
    )
    findings = provenance.check(arguments, preview)
    if effect == "send":
        findings += provenance.copied_text(arguments)
    return findings


def _own_addresses(workspace: Workspace) -> list[str]:
    found = [workspace.user_email] if workspace.user_email else []
    try:
        found += ADDRESS.findall(workspace.mail.sender())
    except Exception:  # no sender configured: the user's address is simply unknown
        pass
    return found


def _thread_addresses(workspace: Workspace, arguments: dict[str, Any]) -> list[str]:
    """Every address in the headers of the thread a reply answers."""
    email_id = arguments.get("reply_to_email_id")
    if not email_id:
        return []
    try:
        original = workspace.mail.read(email_id)
        thread = workspace.mail.read_thread(original.thread_id)
    except Exception:  # an unknown id: the tool itself will say so
        return []
    headers = [f"{m.from_} {' '.join(m.to)} {' '.join(m.cc)}" for m in [original, *thread]]
    return ADDRESS.findall(" ".join(headers))


def _address_book(workspace: Workspace) -> AddressBook:
    def lookup(address: str) -> bool:
        if workspace.contacts_file is not None:
            from morrow.tools.email.contacts import address_book

            try:
                if any(
                    c.address.casefold() == address for c in address_book(workspace.contacts_file)
                ):
                    return True
            except Exception:  # an unreadable vCard file: search_contacts reports it
                pass
        try:
            people = workspace.mail.correspondents(address, limit=20)
        except Exception:  # a mailbox that cannot be searched trusts nobody
            return False
        return any(c.address.casefold() == address and c.you_wrote > 0 for c in people)

    return lookup


def _stored_user_texts(context: ToolContext) -> list[str]:
    """What the user wrote earlier in the session, from the store (turns no longer in history)."""
    from morrow.memory.errors import MemoryStoreError

    try:
        return [said.text for said in context.user_words()]
    except MemoryStoreError:
        return []
