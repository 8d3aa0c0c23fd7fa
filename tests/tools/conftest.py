"""Shared helpers for the tool tests: a workspace over temporary files and a tool runner."""

import asyncio
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from morrow.tools.base import Tool
from morrow.tools.calendar.ics import IcsCalendar
from morrow.tools.context import ToolContext
from morrow.tools.email.maildir import MaildirMailbox
from morrow.tools.workspace import Workspace

BERLIN = ZoneInfo("Europe/Berlin")
NOW = datetime(2025, 3, 28, 7, 0, tzinfo=UTC)


def make_workspace(root: Path, zone: ZoneInfo = BERLIN) -> Workspace:
    return Workspace(
        calendar=IcsCalendar(root / "calendar.ics", zone),
        mail=MaildirMailbox(root / "Mail"),
        timezone=zone,
        clock=lambda: NOW,
    )


def run_tool(tool: Tool, workspace: Workspace, **arguments: Any) -> Any:
    """Validate and run a tool like the loop does; return the decoded JSON result."""
    args = tool.validate(arguments)
    return json.loads(asyncio.run(tool.run(ToolContext(workspace), args)))


@pytest.fixture
def call() -> Any:
    return run_tool


@pytest.fixture
def workspace(tmp_path: Path) -> Workspace:
    return make_workspace(tmp_path)


@pytest.fixture
def workspace_factory() -> Any:
    return make_workspace
