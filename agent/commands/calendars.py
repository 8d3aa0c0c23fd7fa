"""``morrow calendars``: the calendars morrow reads, and those of the user's Google account.

One line per calendar of the config (``[[calendars]]``, or the single ``[calendar]`` as
"main"): its name, backend, where it is, whether it is read-only or the default for new
events, its colour. When a Google calendar is configured, the account's calendar list
(``calendarList.list``) follows, with the ids ``calendar_id`` takes.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from morrow.agent.app import App


def run_calendars(args: argparse.Namespace) -> int:
    """``morrow calendars``: list them (exit 0).

    The configured calendars are always listed; when the Google account's list cannot be
    read, one line says why and the exit code is 78 (authorize: ``morrow auth google``)
    or 69 (Google could not be reached or failed).
    """
    from morrow.tools.errors import NotAuthorizedError, ToolError, printable

    problem: tuple[str, int] | None = None
    with App.load(home=args.home, config=args.config) as app:
        configured = [_describe(entry) for entry in app.config.calendar_entries()]
        try:
            account = _google_list(app)
        except ToolError as exc:
            account = None
            problem = (printable(exc), 78 if isinstance(exc, NotAuthorizedError) else 69)
    if args.json:
        document: dict[str, Any] = {"calendars": configured}
        if account is not None:
            document["google"] = account
        if problem is not None:
            document["google_error"] = problem[0]
        print(json.dumps(document, indent=2, ensure_ascii=False))
    else:
        _print(configured, account)
    if problem is not None:
        print(f"morrow: your Google account's calendars: {problem[0]}", file=sys.stderr)
        return problem[1]
    return 0


def _print(configured: list[dict[str, Any]], account: list[dict[str, Any]] | None) -> None:
    width = max(len(c["name"]) for c in configured)
    for calendar in configured:
        flags = [f for f in ("default", "read-only") if calendar.get(f.replace("-", "_"))]
        colour = f" {calendar['colour']}" if calendar.get("colour") else ""
        extra = f" ({', '.join(flags)})" if flags else ""
        name, backend = f"{calendar['name']:<{width}}", f"{calendar['backend']:<6}"
        print(f"{name}  {backend}  {calendar['where']}{colour}{extra}")
    if account is not None:
        print("\nYour Google account's calendars (use an id as calendar_id):")
        for item in account:
            mark = " (primary)" if item.get("primary") else ""
            print(
                f"  {item['id']}  {item.get('summary', '')}  [{item.get('access_role', '?')}]{mark}"
            )


def _describe(entry: Any) -> dict[str, Any]:
    where = {
        "ics": lambda: str(getattr(entry, "path", "")),
        "google": lambda: f"Google calendar {entry.calendar_id}",
        "caldav": lambda: f"{entry.url} {entry.calendar_name or '(first calendar)'}",
    }[entry.backend]()
    return {
        "name": entry.name,
        "backend": entry.backend,
        "where": where,
        "read_only": entry.read_only,
        "default": entry.default,
        "colour": entry.colour,
    }


def _google_list(app: App) -> list[dict[str, Any]] | None:
    """The account's calendar list, through the first configured Google calendar (or None)."""
    calendar = app.workspace().calendar
    members = getattr(calendar, "members", None)  # a CalendarSet, or the one calendar
    backends = [m.backend for m in members.values()] if members is not None else [calendar]
    for backend in backends:
        if hasattr(backend, "calendar_list"):
            found: list[dict[str, Any]] = backend.calendar_list()
            return found
    return None
