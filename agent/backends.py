"""The backends the config names, built in one place: calendar, mail, and Google's scopes.

``[calendar]`` is the .ics file, Google Calendar or CalDAV; ``[email]`` the Maildir, Gmail or
IMAP/SMTP. The config already holds exactly the keys the chosen backend takes (one model per
backend, ``agent/config.py``), so this module only builds: passwords come from
:func:`morrow.agent.credentials.from_env`, and a backend whose library is an optional extra
that is not installed is one :class:`~morrow.agent.errors.ConfigError` line saying which extra
to install. Backend modules (and their libraries) are imported only for the backend chosen.
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from morrow.agent.config import (
    CalDavCalendarConfig,
    Config,
    GmailEmailConfig,
    GoogleCalendarConfig,
    IcsCalendarEntry,
    ImapEmailConfig,
    MaildirEmailConfig,
    Paths,
    SmtpConfig,
)
from morrow.agent.credentials import from_env
from morrow.agent.errors import ConfigError

if TYPE_CHECKING:
    from morrow.memory.store import Store
    from morrow.tools.calendar.backend import CalendarBackend
    from morrow.tools.email.backend import MailBackend
    from morrow.tools.email.smtp import SmtpSettings

# The libraries most users never need are extras of the distribution (pyproject.toml):
# the module each needs, the extra that installs it, and what it is for.
OPTIONAL = {
    "caldav": ("caldav", "caldav", "the caldav backend"),
    "imap": ("imapclient", "imap", "the imap backend"),
    "vcard": ("vobject", "vcard", "a vCard contacts file"),
}


def require(feature: str, *, key: str, source: str) -> None:
    """Check that the optional library ``feature`` needs is installed.

    Raises:
        ConfigError: it is not: ``<file>: <key>: install morrow[EXTRA] for <what>``.
    """
    module, extra, what = OPTIONAL[feature]
    if not installed(module):
        raise ConfigError(f"{source}: {key}: install morrow[{extra}] for {what}")


def installed(module: str) -> bool:
    """Whether ``module`` can be imported (without importing it: it may be slow to load)."""
    if module in sys.modules:  # None there means "blocked", as an import would find it
        return sys.modules[module] is not None
    return importlib.util.find_spec(module) is not None


def missing_sources(config: Config, paths: Paths) -> list[str]:
    """The local calendar file and Maildir the config names that are not there, and the fix.

    The backends read a missing file as an empty calendar or mailbox, which is right for a
    file morrow will create, but a briefing or ``doctor`` must not take a wrong path (or a
    cron job that lost its environment) for an empty day. One line each, empty when all is
    there; the remote backends (google, caldav, gmail, imap) are checked by reading them.
    """
    missing = []
    email = config.email
    for calendar in config.calendar_entries():
        if not isinstance(calendar, IcsCalendarEntry):
            continue
        path = paths.resolve_path(calendar.path)
        if not path.exists():  # a file, or a folder of them
            where = f'the "{calendar.name}" path' if config.calendars else "[calendar] path"
            missing.append(
                f"calendar: {path} does not exist: set {where} in {paths.config} to "
                f"your .ics file, or start an empty calendar there: touch {path}"
            )
    if isinstance(email, MaildirEmailConfig):
        path = paths.resolve_path(email.path)
        if not (path / "cur").is_dir() and not (path / "new").is_dir():
            missing.append(
                f"email: {path} is not a Maildir: set [email] path in {paths.config} to your "
                f"Maildir, or start an empty one there: mkdir -p {path}/cur {path}/new {path}/tmp"
            )
    return missing


def calendar_backend(
    config: Config,
    paths: Paths,
    clock: Callable[[], datetime],
    store: Callable[[], Store | None] | None = None,
) -> CalendarBackend:
    """The calendar ``[calendar]`` names, or the ``[[calendars]]`` as one.

    Args:
        config: the config.
        paths: where relative paths start.
        clock: "now".
        store: opens the store on first use (None where there is none): the .ics files'
            parsed index lives in it.
    """
    if not config.calendars:
        return _calendar(config.calendar, config, paths, clock, store, key="calendar")
    from morrow.tools.calendar.backend import CalendarSet, Member

    members = [
        Member(
            entry.name,
            _calendar(entry, config, paths, clock, store, key=f"calendars[{index}]"),
            read_only=entry.read_only,
            colour=entry.colour,
        )
        for index, entry in enumerate(config.calendars)
    ]
    chosen = [e.name for e in config.calendars if e.default]
    writable = [e.name for e in config.calendars if not e.read_only]
    default = (chosen or writable or [config.calendars[0].name])[0]
    return CalendarSet(members, default=default)


def _calendar(
    calendar: Any,
    config: Config,
    paths: Paths,
    clock: Callable[[], datetime],
    store: Callable[[], Store | None] | None,
    *,
    key: str,
) -> CalendarBackend:
    if isinstance(calendar, GoogleCalendarConfig):
        return _google_calendar(calendar, config, paths)
    if isinstance(calendar, CalDavCalendarConfig):
        return _caldav_calendar(calendar, config, str(paths.config), clock, key=key)
    from morrow.tools.calendar.ics import IcsCalendar

    return IcsCalendar(
        paths.resolve_path(calendar.path),
        config.user.zone,
        me=config.user.email,
        clock=clock,
        store=store,
    )


def mail_backend(config: Config, paths: Paths) -> MailBackend:
    """The mail backend ``[email] backend`` names (maildir, gmail or imap).

    The Maildir's search index lives under the home (``index/mail.sqlite``); Gmail uses the
    OAuth token shared with Google Calendar, loaded on first use; IMAP and SMTP read their
    passwords from the environment variables the config names.
    """
    email, source = config.email, str(paths.config)
    if isinstance(email, GmailEmailConfig):
        return _gmail(config, paths, _address(config, None))
    smtp = _smtp(email.smtp, source)
    address = _address(config, email.smtp)
    if isinstance(email, ImapEmailConfig):
        return _imap(email, source, address, smtp)
    import sqlite3

    from morrow.tools.email.maildir import MaildirMailbox
    from morrow.tools.errors import BackendError

    maildir = paths.resolve_path(email.path)
    try:
        return MaildirMailbox(
            maildir, index_path=paths.home / "index" / "mail.sqlite", address=address, smtp=smtp
        )
    except (OSError, BackendError, sqlite3.Error) as exc:  # a read-only home: it is a cache
        import structlog

        structlog.get_logger("morrow.app").info("mail_index_in_memory", error=str(exc))
        return MaildirMailbox(maildir, index_path=None, address=address, smtp=smtp)


def contacts_file(config: Config, paths: Paths) -> Path | None:
    """The vCard file ``[email] contacts`` names, if any (its library must be installed)."""
    if config.email.contacts is None:
        return None
    require("vcard", key="email.contacts", source=str(paths.config))
    return paths.resolve_path(config.email.contacts)


def google_scopes(config: Config, source: str) -> list[str]:
    """The scopes the configured Google services need (read-only unless writes are on)."""
    from morrow.tools.google_auth import scopes_for

    calendar = any(isinstance(c, GoogleCalendarConfig) for c in config.calendar_entries())
    gmail = isinstance(config.email, GmailEmailConfig)
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


def _address(config: Config, smtp: SmtpConfig | None) -> str | None:
    """The From address: ``[email.smtp] from``, else ``[user]`` name and email."""
    user = config.user
    if smtp is not None and smtp.from_:
        return smtp.from_
    return f"{user.name} <{user.email}>" if user.name and user.email else user.email


def _google_calendar(
    calendar: GoogleCalendarConfig, config: Config, paths: Paths
) -> CalendarBackend:
    from morrow.tools.calendar.google import GoogleCalendar

    scopes = google_scopes(config, str(paths.config))
    token = paths.resolve_path(config.google.token)

    def service() -> Any:
        from morrow.tools.google_auth import build_service, load_credentials

        return build_service("calendar", "v3", load_credentials(token, scopes))

    return GoogleCalendar(service, config.user.zone, calendar_id=calendar.calendar_id)


def _caldav_calendar(
    calendar: CalDavCalendarConfig,
    config: Config,
    source: str,
    clock: Callable[[], datetime],
    *,
    key: str = "calendar",
) -> CalendarBackend:
    require("caldav", key=f"{key}.backend", source=source)
    from morrow.tools.calendar.caldav import CalDavCalendar

    password = from_env(calendar.password_env, key=f"{key}.password_env", source=source)

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


def _gmail(config: Config, paths: Paths, address: str | None) -> MailBackend:
    from morrow.tools.email.gmail import GmailMailbox

    scopes = google_scopes(config, str(paths.config))
    token = paths.resolve_path(config.google.token)

    def service() -> object:
        from morrow.tools.google_auth import build_service, load_credentials

        return build_service("gmail", "v1", load_credentials(token, scopes))

    return GmailMailbox(service, address=address)


def _smtp(smtp: SmtpConfig | None, source: str) -> SmtpSettings | None:
    if smtp is None:
        return None
    from morrow.tools.email.smtp import SmtpSettings

    password = None
    if smtp.password_env is not None:
        password = from_env(smtp.password_env, key="email.smtp.password_env", source=source)
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
    email: ImapEmailConfig, source: str, address: str | None, smtp: SmtpSettings | None
) -> MailBackend:
    require("imap", key="email.backend", source=source)
    from morrow.tools.email.imap import ImapMailbox, ImapSettings

    imap = email.imap
    try:
        settings = ImapSettings(
            host=imap.host,
            port=imap.port,
            security=imap.security,
            username=imap.username,
            password=from_env(imap.password_env, key="email.imap.password_env", source=source),
            sent_folder=imap.sent_folder,
            drafts_folder=imap.drafts_folder,
            archive_folder=imap.archive_folder,
            save_sent=imap.save_sent,
            timeout=imap.timeout_seconds,
        )
    except ValueError as exc:
        raise ConfigError(f"{source}: email.imap.security: {exc}") from None
    return ImapMailbox(settings, address=address, smtp=smtp)
