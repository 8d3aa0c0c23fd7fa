"""The tools offered to the model, in a stable order (recorded trajectories depend on it).

Each family keeps its own list next to its tools (``CALENDAR_TOOLS``, ``EMAIL_TOOLS`` ...);
this module only puts them together. Names and arguments are a contract (DESIGN.md).
"""

from __future__ import annotations

from morrow.tools.base import Tool
from morrow.tools.calendar.tools import CALENDAR_TOOLS
from morrow.tools.calendar.writes import create_event_choosing
from morrow.tools.email.tools import EMAIL_TOOLS
from morrow.tools.memory import MEMORY_TOOLS


def all_tools(calendars: tuple[list[str], str] | None = None) -> list[Tool]:
    """Every tool: calendar first, then email, then memory.

    Args:
        calendars: the names of the calendars morrow may write to and the default one, when
            there are several: ``create_event`` then takes a ``calendar`` argument.
    """
    tools = [*CALENDAR_TOOLS, *EMAIL_TOOLS, *MEMORY_TOOLS]
    if calendars is not None:
        chosen = create_event_choosing(*calendars)
        tools = [chosen if t.name == chosen.name else t for t in tools]
    return tools


def core_tools() -> list[Tool]:
    """The read tools the first version shipped with (kept for callers that want only those)."""
    return [t for t in all_tools() if t.name in _CORE]


_CORE = ("list_events", "get_event", "search_emails", "read_email")
