"""``morrow init``: write a commented config.toml, asking only what it must.

The config is ``config.example.toml`` (shipped in the package, so this works from an installed
wheel too) with the answers filled in by tomlkit (``agent/commands/template.py``), every other
key left documented as it is: the user's time zone (default: the system's), name and email; one
provider (its kind, model, the server's ``base_url`` if it is not the provider's own, and the
environment variable that holds its key, never the key itself); the calendar (ics, google or
caldav, with their keys) and the mail (maildir, gmail or imap, with an SMTP server for sending).
Further providers of the example are left commented out: every provider listed must have its
key set, and a fresh setup has one.

Interactive on a terminal, where a wrong answer is asked again; ``--yes`` (or no terminal) takes
the flags and the defaults, for scripts, and a wrong flag is a usage error. An existing config
is never overwritten without ``--force``. The result is checked with the same parser every run
uses before it is written (atomically). Only argparse is imported when the parser is built.
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, Any

from morrow.agent.commands.init_answers import CALENDARS, KINDS, MAILS, Answers, answers_from
from morrow.agent.errors import ConfigError, UsageError

if TYPE_CHECKING:
    from pathlib import Path

    from morrow.agent.commands.template import Edit
    from morrow.agent.config import Config, Paths


def register(commands: Any) -> None:
    """Add ``init`` and its flags to the CLI's subparsers."""
    init = commands.add_parser("init", help="write a commented config.toml (asks what it must)")
    init.add_argument("--timezone", help="your IANA zone (default: the system's)")
    init.add_argument("--name", help="your name")
    init.add_argument("--email", help="your email address")
    init.add_argument("--provider-kind", choices=KINDS)
    init.add_argument("--model", help="the model (default: the kind's usual one)")
    init.add_argument("--key-env", help="the environment variable that holds the API key")
    init.add_argument("--base-url", help="a local or other server speaking the kind's API")
    calendar = init.add_argument_group("calendar (default: the iCalendar file calendar.ics)")
    calendar.add_argument("--calendar-backend", choices=CALENDARS)
    calendar.add_argument("--calendar-path", metavar="FILE", help="ics: the .ics file")
    calendar.add_argument(
        "--calendar-id", metavar="ID", help='google: the calendar (default "primary")'
    )
    calendar.add_argument("--caldav-url", metavar="URL", help="caldav: the server")
    calendar.add_argument("--caldav-username", metavar="NAME", help="caldav: the login name")
    calendar.add_argument(
        "--caldav-password-env", metavar="VAR", help="caldav: the password's variable"
    )
    calendar.add_argument("--caldav-calendar", metavar="NAME", help="caldav: the calendar's name")
    mail = init.add_argument_group("mail (default: the Maildir Mail)")
    mail.add_argument("--mail-backend", choices=MAILS)
    mail.add_argument("--maildir", metavar="DIR", help="maildir: the folder")
    mail.add_argument("--imap-host", metavar="HOST", help="imap: the server")
    mail.add_argument("--imap-username", metavar="NAME", help="imap: the login name")
    mail.add_argument("--imap-password-env", metavar="VAR", help="imap: the password's variable")
    mail.add_argument("--smtp-host", metavar="HOST", help="maildir, imap: where mail is sent")
    mail.add_argument("--smtp-username", metavar="NAME", help="the SMTP login name")
    mail.add_argument("--smtp-password-env", metavar="VAR", help="the SMTP password's variable")
    init.add_argument(
        "--google-client-secrets", metavar="FILE", help="google, gmail: the OAuth client file"
    )
    init.add_argument("--yes", action="store_true", help="ask nothing: flags and defaults")
    init.add_argument("--force", action="store_true", help="overwrite an existing config")
    init.set_defaults(handler=run_init)


def template() -> str:
    """The text of config.example.toml, as shipped with the package."""
    from importlib import resources

    return (resources.files("morrow.agent") / "config.example.toml").read_text(encoding="utf-8")


def render(answers: Answers, text: str | None = None) -> str:
    """config.example.toml with the answers filled in (and checked by the config parser).

    Raises:
        ConfigError: the answers do not make a valid config, or the result does not hold
            them (the example changed in a way this function does not know).
    """
    from morrow.agent.commands.template import TemplateError, fill
    from morrow.agent.config import parse_config

    chosen = parse_config(
        {"calendar": dict(answers.calendar), "email": dict(answers.mail)}, source="the answers"
    )
    try:
        result = fill(text if text is not None else template(), _edits(answers, chosen))
    except TemplateError as exc:
        raise ConfigError(
            f"config.example.toml changed in a way `morrow init` cannot fill in: {exc}"
        ) from None
    _check(result, answers, chosen)
    return result


def _edits(answers: Answers, chosen: Config) -> dict[str, Edit]:
    from morrow.agent.commands.template import Edit

    user = {"timezone": answers.timezone, "name": answers.name, "email": answers.email}
    provider = {"kind": answers.kind, "model": answers.model, "base_url": answers.base_url}
    provider["api_key_env"] = answers.key_env
    edits = {
        "user": Edit(set={k: v for k, v in user.items() if v is not None}),
        "providers": Edit(
            set={k: v for k, v in provider.items() if v is not None},
            drop=frozenset() if answers.key_env else frozenset({"api_key_env"}),
        ),
        "calendar": _backend_edit("calendar", chosen.calendar),
        "email": _backend_edit("email", chosen.email),
    }
    if answers.client_secrets:
        edits["google"] = Edit(set={"client_secrets": answers.client_secrets})
    return edits


def _backend_edit(section: str, model: Any) -> Edit:
    """The keys of the chosen backend set, every other backend's keys commented out."""
    from morrow.agent.commands.template import Edit
    from morrow.agent.config import BACKENDS

    chosen = model.model_dump(by_alias=True, exclude_unset=True, exclude_none=True)
    keys = {"backend": model.backend} | {k: v for k, v in chosen.items() if not isinstance(v, dict)}
    tables = {k: Edit(set=v) for k, v in chosen.items() if isinstance(v, dict)}
    others = {name for backend in BACKENDS[section].values() for name in backend.model_fields}
    return Edit(set=keys, drop=frozenset(others - set(type(model).model_fields)), tables=tables)


def _check(text: str, answers: Answers, chosen: Config) -> None:
    import tomllib

    from morrow.agent.config import parse_config

    try:
        config = parse_config(tomllib.loads(text), source="the new config")
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"the new config is not valid TOML: {exc}") from None
    wanted = (answers.kind, answers.model, answers.key_env, answers.base_url)
    found = [(p.kind, p.model, p.api_key_env, p.base_url) for p in config.providers]
    if (
        found != [wanted]
        or config.user.timezone != answers.timezone
        or (config.calendar, config.email) != (chosen.calendar, chosen.email)
        or answers.client_secrets not in (None, config.google.client_secrets)
    ):
        raise ConfigError("config.example.toml changed in a way `morrow init` cannot fill in")


def run_init(args: argparse.Namespace) -> int:
    """The ``init`` command."""
    from morrow.agent.config import Paths

    paths = Paths.resolve(home=args.home, config=args.config)
    target = paths.config
    if target.exists() and not args.force:
        raise UsageError(f"{target} already exists; nothing was changed (--force overwrites it)")
    ask = not args.yes and sys.stdin.isatty()
    answers = answers_from(args, ask)
    text = render(answers)
    _private_home(paths.home)
    _write(target, text)
    _say(f"wrote {target}")
    _next_steps(answers, paths)
    return 0


def _private_home(home: Path) -> None:
    """The home exists and is the user's alone (0700), also one an older morrow made 0755."""
    home.mkdir(parents=True, exist_ok=True, mode=0o700)
    home.chmod(0o700)


def _write(path: Path, text: str) -> None:
    """Write the config atomically, readable by the user only (0600)."""
    from morrow.memory.files import atomic_write

    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    atomic_write(path, text, mode=0o600)
    path.chmod(0o600)  # also over a config an older morrow left 0644


def _next_steps(answers: Answers, paths: Paths) -> None:
    from morrow.agent.backends import OPTIONAL, installed
    from morrow.agent.credentials import is_set

    features = {"caldav": answers.calendar["backend"], "imap": answers.mail["backend"]}
    for feature, backend in features.items():
        module, extra, what = OPTIONAL[feature]
        if backend == feature and not installed(module):
            _say(f"next: pip install 'morrow[{extra}]'   ({what} needs it)")
    secrets = [(answers.key_env, f"your {answers.kind} API key")]
    secrets.append((answers.calendar.get("password_env"), "the CalDAV password"))
    secrets.append((answers.mail.get("imap", {}).get("password_env"), "the IMAP password"))
    secrets.append((answers.mail.get("smtp", {}).get("password_env"), "the SMTP password"))
    for variable, what in secrets:
        if variable and not is_set(variable):
            _say(f"next: export {variable}=...   ({what})")
    google = answers.calendar["backend"] == "google" or answers.mail["backend"] == "gmail"
    if google:
        _say("then: morrow auth google   (lets morrow into your Google account, once)")
    _say(f"then: morrow doctor   (checks the config, the key and the backends; home {paths.home})")
    if not google:
        _say("      morrow auth google   (only to use Google Calendar or Gmail)")


def _say(line: str) -> None:
    sys.stdout.write(line + "\n")
