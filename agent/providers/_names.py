"""Tool names on the wire: what the providers' APIs accept.

Anthropic and OpenAI accept tool names of ``[A-Za-z0-9_-]`` only. morrow's own tools fit; the
tools of an external MCP server are named ``<server>.<tool>`` (``time.get_current_time``), and
the dot is sent as ``__``. Server names may not hold ``__`` (the config refuses it) and tool
names holding anything but ``[A-Za-z0-9_-]`` are not taken from a server, so the first ``__``
of a wire name is always the dot, and both directions are exact.
"""

from __future__ import annotations

SEPARATOR = "__"


def to_wire_name(name: str) -> str:
    """``time.get_current_time`` -> ``time__get_current_time``; other names unchanged."""
    return name.replace(".", SEPARATOR, 1)


def from_wire_name(name: str) -> str:
    """The inverse of :func:`to_wire_name` (built-in tool names never hold ``__``)."""
    head, separator, tail = name.partition(SEPARATOR)
    return f"{head}.{tail}" if separator and head and tail else name
