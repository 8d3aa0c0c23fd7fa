"""The tools offered to the model, in a stable order (recorded trajectories depend on it)."""

from __future__ import annotations

from tools.base import Tool
from tools.calendar.tools import get_event, list_events
from tools.email.tools import read_email, search_emails


def core_tools() -> list[Tool]:
    """The calendar and email read tools: list_events, get_event, search_emails, read_email."""
    return [list_events, get_event, search_emails, read_email]
