"""Tool names and call ids on the wire: what the providers' APIs accept.

Anthropic and OpenAI accept tool names of ``[A-Za-z0-9_-]`` only. morrow's own tools fit; the
tools of an external MCP server are named ``<server>.<tool>`` (``time.get_current_time``), and
the dot is sent as ``__``. Server names may not hold ``__`` (the config refuses it) and tool
names holding anything but ``[A-Za-z0-9_-]`` are not taken from a server, so the first ``__``
of a wire name is always the dot, and both directions are exact.

A tool call goes back to the provider with the id the provider gave it (``wire_id``) when no
earlier call of the request went out with that id, and with morrow's own id otherwise (a
server that numbers every step's calls ``0``, ``1`` ...; two calls of one step with one id; a
call the server gave no id): :func:`wire_call_ids`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from morrow.agent.messages import Message

SEPARATOR = "__"


def to_wire_name(name: str) -> str:
    """``time.get_current_time`` -> ``time__get_current_time``; other names unchanged."""
    return name.replace(".", SEPARATOR, 1)


def from_wire_name(name: str) -> str:
    """The inverse of :func:`to_wire_name` (built-in tool names never hold ``__``)."""
    head, separator, tail = name.partition(SEPARATOR)
    return f"{head}.{tail}" if separator and head and tail else name


def wire_call_ids(messages: Iterable[Message], fit: Callable[[str], str]) -> dict[str, str]:
    """The id each tool call of a request is sent with, by the call's id (results use it too).

    ``fit`` makes an id acceptable to the API (its characters, its length). The mapping is a
    function of the history alone, so every request of a conversation sends the same ids (a
    prompt cache stays warm) and the ids of one request are distinct.
    """
    ids: dict[str, str] = {}
    used: set[str] = set()
    for message in messages:
        for call in message.tool_calls:
            wire = fit(call.wire_id) if call.wire_id else ""
            if not wire or wire in used:
                wire = fit(call.id)
            base, n = wire, 2
            while wire in used:  # two ids that ``fit`` made equal
                wire, n = fit(f"{base}_{n}"), n + 1
            ids[call.id] = wire
            used.add(wire)
    return ids
