"""The tools offered to the model, in a stable order (recorded trajectories depend on it).

Each family keeps its own list next to its tools (``CALENDAR_TOOLS``, ``EMAIL_TOOLS`` ...);
this module only puts them together. Names and arguments are a contract (DESIGN.md).
"""

from __future__ import annotations

from morrow.tools.base import Tool
from morrow.tools.calendar.tools import CALENDAR_TOOLS
from morrow.tools.email.tools import EMAIL_TOOLS
from morrow.tools.memory import MEMORY_TOOLS


def all_tools() -> list[Tool]:
    """Every tool: calendar first, then email, then memory."""
    return [*CALENDAR_TOOLS, *EMAIL_TOOLS, *MEMORY_TOOLS]


def core_tools() -> list[Tool]:
    """The read tools the first version shipped with (kept for callers that want only those)."""
    return [t for t in all_tools() if t.name in _CORE]


_CORE = ("list_events", "get_event", "search_emails", "read_email")
