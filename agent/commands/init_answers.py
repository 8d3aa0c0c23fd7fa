"""The answers of ``morrow init``: from the flags, else asked on the terminal, else defaults.

Every answer is checked where it is given. A wrong flag is a usage error (exit 2) naming it;
a typo in an interactive answer says what is wrong and asks again. When the input ends
(Ctrl-D, or piped answers that ran out) the remaining questions take their defaults, and one
that has none is a usage error naming its flag. A flag of a backend that was not chosen
(``--caldav-url`` with the ics calendar) is a usage error too, never silently dropped.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from morrow.agent.credentials import is_variable_name
from morrow.agent.errors import UsageError

KINDS = ("anthropic", "openai", "gemini")
CALENDARS = ("ics", "google", "caldav")
MAILS = ("maildir", "gmail", "imap")


@dataclass(frozen=True)
class Answers:
    """What ``morrow init`` fills in.

    Attributes:
        calendar: the ``[calendar]`` keys chosen, ``backend`` among them.
        mail: the ``[email]`` keys chosen, with ``imap`` and ``smtp`` as tables of their own.
        client_secrets: ``[google] client_secrets``, for the google and gmail backends.
    """

    timezone: str
    name: str | None
    email: str | None
    kind: str
    model: str
    key_env: str | None
    base_url: str | None = None
    calendar: Mapping[str, Any] = field(default_factory=lambda: {"backend": "ics"})
    mail: Mapping[str, Any] = field(default_factory=lambda: {"backend": "maildir"})
    client_secrets: str | None = None


DEFAULT_MODELS = {
    "anthropic": "claude-sonnet-5",
    "openai": "gpt-5-mini",
    "gemini": "gemini-2.5-flash",
}
DEFAULT_KEY_ENVS = {
    "anthropic": "ANTHROPIC_API_KEY",
    "openai": "OPENAI_API_KEY",
    "gemini": "GEMINI_API_KEY",
}
# The flags that belong to one backend only.
BACKEND_FLAGS = {
    "ics": ("calendar_path",),
    "google": ("calendar_id",),
    "caldav": ("caldav_url", "caldav_username", "caldav_password_env", "caldav_calendar"),
    "maildir": ("maildir",),
    "imap": ("imap_host", "imap_username", "imap_password_env"),
}
Check = Callable[[str], str]


def answers_from(args: argparse.Namespace, ask: bool) -> Answers:
    """The answers from the flags, asking on the terminal for what is missing when ``ask``."""
    q = _Asker(ask)
    zone = q(args.timezone, "Time zone", system_timezone(), _zone, flag="--timezone")
    name = q(args.name, "Your name (optional)", "", flag="--name") or None
    email = q(args.email, "Your email address (optional)", "", _address, flag="--email") or None
    kinds = f"Provider ({'/'.join(KINDS)})"
    kind = q(args.provider_kind, kinds, KINDS[0], _one_of(KINDS), flag="--provider-kind")
    model = q(args.model, "Model", DEFAULT_MODELS[kind], _required, flag="--model")
    server = "Server URL, for a local or other server (empty: the provider's own)"
    base_url = q(args.base_url, server, "", _url, flag="--base-url") or None
    default_env = "" if base_url else DEFAULT_KEY_ENVS[kind]
    question = "Environment variable holding the key"
    key_env = q(args.key_env, question, default_env, _variable, flag="--key-env") or None
    calendar = _calendar(args, q, email)
    mail = _mail(args, q, email)
    client_secrets = args.google_client_secrets
    if calendar["backend"] == "google" or mail["backend"] == "gmail":
        question = "OAuth client file (a 'Desktop app' client from the Google Cloud console)"
        client_secrets = q(
            client_secrets,
            question,
            "client_secret.json",
            _required,
            flag="--google-client-secrets",
        )
    return Answers(
        zone, name, email, kind, model, key_env, base_url, calendar, mail, client_secrets
    )


def _calendar(args: argparse.Namespace, q: _Asker, email: str | None) -> dict[str, Any]:
    question = f"Calendar ({'/'.join(CALENDARS)})"
    backend = q(
        args.calendar_backend, question, "ics", _one_of(CALENDARS), flag="--calendar-backend"
    )
    _only_for(backend, CALENDARS, args)
    if backend == "ics":
        question = "Calendar file (relative to the home)"
        path = q(args.calendar_path, question, "calendar.ics", _required, flag="--calendar-path")
        return {"backend": "ics", "path": path}
    if backend == "google":
        calendar_id = q(
            args.calendar_id, "Google calendar", "primary", _required, flag="--calendar-id"
        )
        return {"backend": "google", "calendar_id": calendar_id}
    values = {
        "backend": "caldav",
        "url": q(args.caldav_url, "CalDAV server URL", "", _web_url, flag="--caldav-url"),
        "username": q(
            args.caldav_username,
            "CalDAV login name",
            email or "",
            _required,
            flag="--caldav-username",
        ),
        "password_env": q(
            args.caldav_password_env,
            "Environment variable holding the CalDAV password",
            "MORROW_CALDAV_PASSWORD",
            _required_variable,
            flag="--caldav-password-env",
        ),
    }
    question = "Calendar name (empty: the first on the server)"
    if name := q(args.caldav_calendar, question, "", flag="--caldav-calendar"):
        values["calendar_name"] = name
    return values


def _mail(args: argparse.Namespace, q: _Asker, email: str | None) -> dict[str, Any]:
    question = f"Mail ({'/'.join(MAILS)})"
    backend = q(args.mail_backend, question, "maildir", _one_of(MAILS), flag="--mail-backend")
    _only_for(backend, MAILS, args)
    if backend == "gmail":
        if args.smtp_host or args.smtp_username or args.smtp_password_env:
            raise UsageError("--smtp-* flags are for the maildir and imap backends, not gmail")
        return {"backend": "gmail"}
    if backend == "maildir":
        question = "Maildir folder (relative to the home)"
        values: dict[str, Any] = {
            "backend": "maildir",
            "path": q(args.maildir, question, "Mail", _required, flag="--maildir"),
        }
        login = email or ""
    else:
        host = q(args.imap_host, "IMAP server", "", _required, flag="--imap-host")
        login = q(
            args.imap_username, "IMAP login name", email or "", _required, flag="--imap-username"
        )
        password_env = q(
            args.imap_password_env,
            "Environment variable holding the IMAP password",
            "MORROW_IMAP_PASSWORD",
            _required_variable,
            flag="--imap-password-env",
        )
        imap = {"host": host, "username": login, "password_env": password_env}
        values = {"backend": "imap", "imap": imap}
    if smtp := _smtp(args, q, login):
        values["smtp"] = smtp
    return values


def _smtp(args: argparse.Namespace, q: _Asker, login: str) -> dict[str, str]:
    """``[email.smtp]``: the server sent mail goes to (none: mail is not sent)."""
    question = "SMTP server for sending mail (empty: none, nothing is sent)"
    host = q(args.smtp_host, question, "", flag="--smtp-host")
    if not host:
        if args.smtp_username or args.smtp_password_env:
            raise UsageError("--smtp-username and --smtp-password-env need --smtp-host")
        return {}
    smtp = {"host": host}
    question = "SMTP login name (empty: the server wants none)"
    if username := q(args.smtp_username, question, login, flag="--smtp-username"):
        smtp["username"] = username
        smtp["password_env"] = q(
            args.smtp_password_env,
            "Environment variable holding the SMTP password",
            "MORROW_SMTP_PASSWORD",
            _required_variable,
            flag="--smtp-password-env",
        )
    return smtp


def _only_for(chosen: str, backends: tuple[str, ...], args: argparse.Namespace) -> None:
    """A flag of another backend than the one chosen is a mistake worth saying."""
    for backend in backends:
        for name in BACKEND_FLAGS.get(backend, ()):
            if backend != chosen and getattr(args, name) is not None:
                flag = "--" + name.replace("_", "-")
                raise UsageError(f"{flag} is for the {backend} backend, not {chosen}")


class _Asker:
    """Asks one question: the flag's value if given, else the terminal, else the default."""

    def __init__(self, interactive: bool) -> None:
        self.interactive = interactive
        self.ended = False  # the input ran out: defaults from now on

    def __call__(
        self,
        given: str | None,
        question: str,
        default: str,
        check: Check | None = None,
        *,
        flag: str,
    ) -> str:
        if given is not None or not self.interactive or self.ended:
            return _checked(default if given is None else given, check, flag)
        shown = f" [{default}]" if default else ""
        while True:
            try:
                answer = input(f"{question}{shown}: ").strip()
            except EOFError:
                self.ended = True
                _say("")
                return _checked(default, check, flag)
            try:
                return check(answer or default) if check else answer or default
            except ValueError as exc:
                _say(f"  {exc}; please answer again")


def _checked(value: str, check: Check | None, flag: str) -> str:
    try:
        return check(value) if check else value
    except ValueError as exc:
        raise UsageError(f"{flag}: {exc}") from None


def _zone(value: str) -> str:
    if not _known_zone(value):
        raise ValueError(f"unknown IANA time zone {value!r} (e.g. Europe/Berlin)")
    return value


def _one_of(choices: tuple[str, ...]) -> Check:
    def check(value: str) -> str:
        if value.strip().lower() not in choices:
            raise ValueError(f"one of {', '.join(choices)}, not {value!r}")
        return value.strip().lower()

    return check


def _required(value: str) -> str:
    if not value.strip():
        raise ValueError("an answer is needed")
    return value.strip()


def _variable(value: str) -> str:
    if value and not is_variable_name(value):  # not echoed: it may be the key itself
        raise ValueError("not an environment variable name (the key itself? name its variable)")
    return value


def _required_variable(value: str) -> str:
    return _variable(_required(value))


def _address(value: str) -> str:
    if value and ("@" not in value or " " in value.strip()):
        raise ValueError(f"{value!r} is not an email address (name@example.com)")
    return value.strip()


def _url(value: str) -> str:
    if value and not value.startswith(("http://", "https://")):
        raise ValueError(f"{value!r} is not a URL (http://... or https://...)")
    return value.strip()


def _web_url(value: str) -> str:
    return _url(_required(value))


def system_timezone() -> str:
    """The system's IANA zone: ``$TZ``, else what ``/etc/localtime`` points at, else UTC."""
    candidates = [os.environ.get("TZ", "").lstrip(":")]
    try:
        target = os.path.realpath("/etc/localtime")
        if "zoneinfo/" in target:
            candidates.append(target.split("zoneinfo/", 1)[1])
    except OSError:
        pass
    try:
        candidates.append(Path("/etc/timezone").read_text(encoding="utf-8").strip())
    except OSError:
        pass
    for candidate in candidates:
        if candidate and _known_zone(candidate):
            return candidate
    return "UTC"


def _known_zone(name: str) -> bool:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return "/" in name or name == "UTC"


def _say(line: str) -> None:
    sys.stdout.write(line + "\n")
