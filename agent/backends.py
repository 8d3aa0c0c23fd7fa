"""The backends the config names, built in one place: calendar, mail, and Google's scopes.

``[calendar] backend`` picks the .ics file, Google Calendar or CalDAV; ``[email] backend`` the
Maildir, Gmail or IMAP/SMTP. A setting the chosen backend needs but the config lacks, or an
environment variable a ``*_env`` key names that is not set, is a
:class:`~morrow.agent.errors.ConfigError` naming the key. Backend modules (and their libraries)
are imported only for the backend chosen.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from morrow.agent.config import Config, Paths
from morrow.agent.errors import ConfigError

if TYPE_CHECKING:
    from morrow.tools.calendar.backend import CalendarBackend
    from morrow.tools.email.backend import MailBackend
    from morrow.tools.email.smtp import SmtpSettings


def calendar_backend(
    config: Config, paths: Paths, clock: Callable[[], datetime]
) -> CalendarBackend:
    """The calendar backend ``[calendar] backend`` names, with its settings checked."""
    calendar = config.calendar
    if calendar.backend == "google":
        return _google_calendar(config, paths)
    if calendar.backend == "caldav":
        return _caldav_calendar(config, str(paths.config), clock)
    from morrow.tools.calendar.ics import IcsCalendar

    return IcsCalendar(
        paths.resolve_path(calendar.path), config.user.zone, me=config.user.email, clock=clock
    )


def mail_backend(config: Config, paths: Paths) -> MailBackend:
    """The mail backend ``[email] backend`` names (maildir, gmail or imap).

    The Maildir's search index lives under the home (``index/mail.sqlite``); Gmail uses the
    OAuth token shared with Google Calendar, loaded on first use; IMAP and SMTP read their
    passwords from the environment variables the config names.
    """
    email, user, source = config.email, config.user, str(paths.config)
    address = (email.smtp.from_ if email.smtp else None) or (
        f"{user.name} <{user.email}>" if user.name and user.email else user.email
    )
    if email.backend == "gmail":
        from morrow.tools.email.gmail import GmailMailbox

        scopes, token = google_scopes(config, source), paths.resolve_path(config.google.token)

        def service() -> object:
            from morrow.tools.google_auth import build_service, load_credentials

            return build_service("gmail", "v1", load_credentials(token, scopes))

        return GmailMailbox(service, address=address)
    smtp = _smtp(config, source)
    if email.backend == "imap":
        return _imap(config, source, address, smtp)
    from morrow.tools.email.maildir import MaildirMailbox

    return MaildirMailbox(
        paths.resolve_path(email.path),
        index_path=paths.home / "index" / "mail.sqlite",
        address=address,
        smtp=smtp,
    )


def google_scopes(config: Config, source: str) -> list[str]:
    """The scopes the configured Google services need (read-only unless writes are on)."""
    from morrow.tools.google_auth import scopes_for

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


def secret(source: str, key: str, variable: str | None) -> str | None:
    """The value of the environment variable a ``*_env`` key names (None when not named)."""
    if variable is None:
        return None
    value = os.environ.get(variable, "")
    if not value:
        raise ConfigError(f"{source}: {key}: environment variable {variable} is not set")
    return value


def _google_calendar(config: Config, paths: Paths) -> CalendarBackend:
    from morrow.tools.calendar.google import GoogleCalendar

    scopes = google_scopes(config, str(paths.config))
    token = paths.resolve_path(config.google.token)

    def service() -> Any:
        from morrow.tools.google_auth import build_service, load_credentials

        return build_service("calendar", "v3", load_credentials(token, scopes))

    return GoogleCalendar(service, config.user.zone, calendar_id=config.calendar.calendar_id)


def _caldav_calendar(config: Config, source: str, clock: Callable[[], datetime]) -> CalendarBackend:
    from morrow.tools.calendar.caldav import CalDavCalendar

    calendar = config.calendar
    for key in ("url", "username", "password_env"):
        if not getattr(calendar, key):
            raise ConfigError(f'{source}: calendar.{key}: missing required key (backend "caldav")')
    password = secret(source, "calendar.password_env", str(calendar.password_env)) or ""

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


def _smtp(config: Config, source: str) -> SmtpSettings | None:
    from morrow.tools.email.smtp import SmtpSettings

    smtp = config.email.smtp
    if smtp is None:
        return None
    password = secret(source, "email.smtp.password_env", smtp.password_env)
    try:
        return SmtpSettings(
            host=smtp.host,
            port=smtp.port,
            security=smtp.security,
            username=smtp.username,
            password=password,
            timeout=smtp.timeout_seconds,
        )
    except ValueError as exc:
        raise ConfigError(f"{source}: email.smtp.security: {exc}") from None


def _imap(
    config: Config, source: str, address: str | None, smtp: SmtpSettings | None
) -> MailBackend:
    from morrow.tools.email.imap import ImapMailbox, ImapSettings

    imap = config.email.imap
    assert imap is not None  # EmailConfig requires [email.imap] for this backend
    try:
        settings = ImapSettings(
            host=imap.host,
            port=imap.port,
            security=imap.security,
            username=imap.username,
            password=secret(source, "email.imap.password_env", imap.password_env) or "",
            sent_folder=imap.sent_folder,
            drafts_folder=imap.drafts_folder,
            archive_folder=imap.archive_folder,
            save_sent=imap.save_sent,
            timeout=imap.timeout_seconds,
        )
    except ValueError as exc:
        raise ConfigError(f"{source}: email.imap.security: {exc}") from None
    return ImapMailbox(settings, address=address, smtp=smtp)
