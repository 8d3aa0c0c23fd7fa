"""Access to the user's accounts: ``morrow auth google`` and the configured calendar backend.

``morrow auth google`` runs Google's installed-app flow (PKCE, a one-shot server on 127.0.0.1)
for the Google services the config uses, with the least-privilege scopes of
:func:`tools.google_auth.scopes_for` (read-only unless ``[google] writes = true``), and writes
the token file with mode 0600. Tokens are never printed or logged.

:func:`calendar_backend` builds the backend ``[calendar] backend`` names; a setting the chosen
backend needs but the config lacks is a :class:`~agent.errors.ConfigError` naming the key.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agent.config import Config, Paths
from agent.errors import AssistantError, ConfigError, UsageError
from tools.errors import ToolError

if TYPE_CHECKING:
    from tools.calendar.backend import CalendarBackend


def run_auth(args: argparse.Namespace) -> int:
    """``morrow auth google``: authorize morrow and store the token."""
    from agent.app import App

    if args.auth_command != "google":
        raise UsageError(f"unknown auth target {args.auth_command!r}")
    app = App.load(home=args.home, config=args.config)
    from tools.google_auth import run_installed_app_flow

    scopes = google_scopes(app.config, str(app.paths.config))
    secrets = client_secrets(app.config, app.paths)
    token = app.paths.resolve_path(app.config.google.token)
    lines = "".join(f"  {scope}\n" for scope in scopes)
    sys.stdout.write(f"morrow asks Google for:\n{lines}")
    sys.stdout.flush()
    try:
        run_installed_app_flow(secrets, token, scopes)
    except ToolError as exc:  # a refused or incomplete grant, an unreadable client file
        raise AssistantError(f"auth google: {exc}") from None
    sys.stdout.write(f"Authorized. Token saved to {token} (readable only by you).\n")
    return 0


def google_scopes(config: Config, source: str) -> list[str]:
    """The scopes the configured Google services need (read-only unless writes are on)."""
    from tools.google_auth import scopes_for

    calendar = config.calendar.backend == "google"
    gmail = str(getattr(config.email, "backend", "")) == "gmail"
    if not (calendar or gmail):
        raise ConfigError(
            f"{source}: calendar.backend: no Google service is configured "
            '(set [calendar] backend = "google" or [email] backend = "gmail")'
        )
    return scopes_for(calendar=calendar, gmail=gmail, writes=config.google.writes)


def client_secrets(config: Config, paths: Paths) -> Path:
    """The OAuth client file ``[google] client_secrets`` names; it must exist."""
    source = str(paths.config)
    if not config.google.client_secrets:
        raise ConfigError(
            f"{source}: google.client_secrets: missing required key (the OAuth client file "
            "of a 'Desktop app' client from the Google Cloud console)"
        )
    path = paths.resolve_path(config.google.client_secrets)
    if not path.is_file():
        raise ConfigError(f"{source}: google.client_secrets: no such file {path}")
    return path


def calendar_backend(
    config: Config, paths: Paths, clock: Callable[[], datetime]
) -> CalendarBackend:
    """The calendar backend ``[calendar] backend`` names, with its settings checked."""
    calendar = config.calendar
    zone = config.user.zone
    me = config.user.email
    if calendar.backend == "google":
        return _google_calendar(config, paths)
    if calendar.backend == "caldav":
        return _caldav_calendar(config, str(paths.config), clock)
    from tools.calendar.ics import IcsCalendar

    return IcsCalendar(paths.resolve_path(calendar.path), zone, me=me, clock=clock)


def _google_calendar(config: Config, paths: Paths) -> CalendarBackend:
    from tools.calendar.google import GoogleCalendar

    scopes = google_scopes(config, str(paths.config))
    token = paths.resolve_path(config.google.token)

    def service() -> Any:
        from tools.google_auth import build_service, load_credentials

        return build_service("calendar", "v3", load_credentials(token, scopes))

    return GoogleCalendar(service, config.user.zone, calendar_id=config.calendar.calendar_id)


def _caldav_calendar(config: Config, source: str, clock: Callable[[], datetime]) -> CalendarBackend:
    from tools.calendar.caldav import CalDavCalendar

    calendar = config.calendar
    for key in ("url", "username", "password_env"):
        if not getattr(calendar, key):
            raise ConfigError(f'{source}: calendar.{key}: missing required key (backend "caldav")')
    variable = str(calendar.password_env)
    password = os.environ.get(variable, "")
    if not password:
        raise ConfigError(
            f"{source}: calendar.password_env: environment variable {variable} is not set"
        )

    def client() -> Any:
        from caldav.davclient import DAVClient

        return DAVClient(url=calendar.url, username=calendar.username, password=password)

    return CalDavCalendar(
        client,
        config.user.zone,
        calendar_name=calendar.calendar_name,
        me=config.user.email,
        clock=clock,
    )
