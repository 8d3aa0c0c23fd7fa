"""The per-turn tool filter: a turn is offered the kinds of effect its request asks for.

AgentDojo measured a tool filter as the best classic defence against prompt injection: a model
that is not offered ``send_email`` cannot be talked into calling it. morrow decides from the
user's words alone, deterministically, before the first model step, and conservatively.

The tools with effects fall into four groups, each with the words that ask for it:

- ``mail``: ``draft_email``, ``send_email``, ``send_draft`` (send, reply, forward, write, tell
  or email someone, let someone know, draft, ...);
- ``mailbox``: ``archive_email`` (archive, delete, remove, clean up, file, ...);
- ``calendar``: ``create_event``, ``update_event``, ``cancel_event``, ``respond_to_event``
  (schedule, book, create, add, move, cancel, invite, accept, decline, block, ...);
- ``memory``: ``remember``, ``forget``.

A turn is offered every read tool, ``mark_email`` (reading marks mail read, as in any mail
client), and the groups its words name. A request that names no group:

- is **read-only** when it has a reading cue (a question, "summarize", "list", "show", "check"
  ...) and no action word at all: no group is offered;
- otherwise (an action word that fits no group, or no cue at all, such as "yes, do it" or "deal
  with it") every tool is offered and the approval gate decides: when in doubt, keep the tools.

The effects of an external MCP server's tools (``slack.post_message``) belong to no group:
a request that names groups, or only reads, is offered them when its words name the server
("post it on slack"); one that fits no group is offered everything, as above.

So a mistake can only keep tools that were not needed, never remove all the tools a request
needs. The loop enforces the filter: a call to a tool that was not offered is refused like an
unknown tool, whatever text the model read.
"""

from __future__ import annotations

import re

from morrow.tools.base import ToolRegistry

# Reading mail marks it read, as in any mail client (AgentDojo's get_unread_emails does too):
# the one write every request keeps. It changes no one else's world and is undone at once.
READING_WRITES = ("mark_email",)

GROUPS: dict[str, tuple[str, ...]] = {
    "mail": ("draft_email", "send_email", "send_draft"),
    "mailbox": ("archive_email",),
    "calendar": ("create_event", "update_event", "cancel_event", "respond_to_event"),
    "memory": ("remember", "forget"),
}


def _words(*patterns: str) -> re.Pattern[str]:
    return re.compile(r"\b(" + "|".join(patterns) + r")\b", re.IGNORECASE)


_CUES: dict[str, re.Pattern[str]] = {
    "mail": _words(
        r"send|reply|replies|respond|answer|forward|fwd|draft|write|compose|notify|thank",
        r"tell\s+(?!me\b)\w+",
        r"let\s+(?!me\b)\w+\s+know",
        r"(?:e-?mail|message|text|ping|contact)\s+(?!me\b|from\b|about\b|in\b|inbox\b|say|said"
        r"|list\b|thread\b|was\b|is\b|with\b|that\b|which\b|i\b|address|and\b|or\b|of\b"
        r"|on\b|at\b|for\b|to\b|today\b|yesterday\b)\w+",
        r"follow\s+up|ask\s+(?!me\b)\w+|share",
    ),
    "mailbox": _words(r"archive|delete|trash|clean(?:\s+up)?|clear|file|unsubscribe"),
    "calendar": _words(
        r"schedule|book|create|add|move|reschedule|postpone|push|cancel|invite|accept|decline",
        r"rsvp|block|put|set\s+up|arrange|plan|organi[sz]e|update|change|rename|shift",
    ),
    "memory": _words(r"remember|forget|keep\s+in\s+mind|note\s+that"),
}
_OTHER_ACTION = _words(
    r"make|save|mark|flag|label|edit|remove|undo|confirm|handle|deal|sort|fix|take\s+care",
    r"do\s+(?:what|as|it|this|that|so|the\s+rest)",
)
_READ = re.compile(
    r"(\?|\b("
    r"what|what's|whats|when|where|who|whom|which|how|is|are|am|do|does|did|have|has|any|"
    r"summari[sz]e|summary|list|show|read|check|find|search|look|tell\s+me|give\s+me|get\s+me|"
    r"overview|agenda|brief|count|describe|explain"
    r")\b)",
    re.IGNORECASE,
)


def requested_groups(text: str) -> set[str] | None:
    """The effect groups a request asks for; None when it cannot be told (offer everything)."""
    groups = {name for name, cue in _CUES.items() if cue.search(text)}
    if groups:
        return groups
    if _READ.search(text) and not _OTHER_ACTION.search(text):
        return set()  # read-only
    return None


def is_read_only(text: str) -> bool:
    """Whether the request only asks to read or summarize (see the module docstring)."""
    return requested_groups(text) == set()


def _names_its_server(text: str, name: str) -> bool:
    """Whether ``text`` names the external MCP server of tool ``name`` (``slack.post``)."""
    server, dot, _ = name.partition(".")
    return bool(dot) and re.search(rf"\b{re.escape(server)}\b", text, re.IGNORECASE) is not None


def offered_tools(text: str, tools: ToolRegistry) -> ToolRegistry:
    """The tools to offer for a turn that starts with ``text``."""
    groups = requested_groups(text)
    if groups is None:
        return tools
    allowed = {name for group in groups for name in GROUPS[group]}
    allowed |= {t.name for t in tools if _names_its_server(text, t.name)}
    return ToolRegistry(
        t for t in tools if t.effect == "read" or t.name in READING_WRITES or t.name in allowed
    )
