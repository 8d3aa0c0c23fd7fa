"""The backends the config names: built for each choice, secrets read one way, extras named."""

import sys
from pathlib import Path

import pytest
import structlog

from morrow.agent import credentials, logs
from morrow.agent.app import App
from morrow.agent.backends import OPTIONAL, calendar_backend, mail_backend
from morrow.agent.cli import main
from morrow.agent.config import Paths, load_config
from morrow.agent.errors import ConfigError
from morrow.tools.calendar.caldav import CalDavCalendar
from morrow.tools.calendar.google import GoogleCalendar
from morrow.tools.calendar.ics import IcsCalendar
from morrow.tools.email.gmail import GmailMailbox
from morrow.tools.email.imap import ImapMailbox
from morrow.tools.email.maildir import MaildirMailbox

CALDAV = (
    '[calendar]\nbackend = "caldav"\nurl = "https://dav.example/"\nusername = "ada"\n'
    'password_env = "DAV_PASSWORD"\n'
)
IMAP = (
    '[email]\nbackend = "imap"\n[email.imap]\nhost = "imap.example.com"\nusername = "ada"\n'
    'password_env = "IMAP_PASSWORD"\n'
)
SMTP = '[email]\n[email.smtp]\nhost = "smtp.example.com"\npassword_env = "SMTP_PASSWORD"\n'


def load(home: Path, text: str) -> tuple[Paths, object]:
    (home / "config.toml").write_text(text)
    paths = Paths.resolve(home=str(home))
    return paths, load_config(paths)


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("", IcsCalendar),
        ('[calendar]\nbackend = "google"\n', GoogleCalendar),
        (CALDAV, CalDavCalendar),
    ],
)
def test_each_calendar_backend_is_built(_isolated_home, monkeypatch, text, kind):
    monkeypatch.setenv("DAV_PASSWORD", "dav-secret-0123")
    paths, config = load(_isolated_home, text)
    assert type(calendar_backend(config, paths, lambda: None)) is kind  # nothing connects yet


@pytest.mark.parametrize(
    ("text", "kind"),
    [("", MaildirMailbox), ('[email]\nbackend = "gmail"\n', GmailMailbox), (IMAP, ImapMailbox)],
)
def test_each_mail_backend_is_built(_isolated_home, monkeypatch, text, kind):
    monkeypatch.setenv("IMAP_PASSWORD", "imap-secret-0123")
    paths, config = load(_isolated_home, text)
    assert type(mail_backend(config, paths)) is kind


@pytest.mark.parametrize(
    ("text", "key", "variable"),
    [
        (
            '[[providers]]\nname = "p"\nkind = "openai"\nmodel = "m"\napi_key_env = "MY_KEY"\n',
            "providers[0].api_key_env",
            "MY_KEY",
        ),
        (CALDAV, "calendar.password_env", "DAV_PASSWORD"),
        (IMAP, "email.imap.password_env", "IMAP_PASSWORD"),
        (SMTP, "email.smtp.password_env", "SMTP_PASSWORD"),
    ],
)
@pytest.mark.parametrize("value", [None, "  \n"])
def test_every_unset_secret_is_one_error_form(
    _isolated_home, monkeypatch, capsys, text, key, variable, value
):
    if value is None:
        monkeypatch.delenv(variable, raising=False)
    else:
        monkeypatch.setenv(variable, value)  # only white space is not a secret either
    paths, _ = load(_isolated_home, text)
    command = ["ask", "hi"] if key.startswith("providers") else ["doctor", "--offline"]
    assert main(command) == 78
    err = capsys.readouterr().err
    assert err == f"morrow: {paths.config}: {key}: environment variable {variable} is not set\n"


def test_a_secret_read_is_redacted_whatever_its_variable_is_called(_isolated_home, monkeypatch):
    secret = "mail-login-5f3a9c"
    monkeypatch.setenv("MAIL_LOGIN", secret)  # no secret-like suffix: unknown until it is read
    assert logs.scrub(secret) == secret
    logs.configure(level="critical", file_level="info", log_dir=_isolated_home / "logs")
    try:
        paths, config = load(_isolated_home, IMAP.replace("IMAP_PASSWORD", "MAIL_LOGIN"))
        mail_backend(config, paths)
        structlog.get_logger("test").info("login", detail=f"password {secret} refused")
    finally:
        logs.close()
    assert logs.scrub(f"was {secret}") == "was [redacted]"
    text = (_isolated_home / "logs" / "morrow.jsonl").read_text()
    assert secret not in text and "password [redacted] refused" in text
    assert secret in credentials.known_secrets()


# -- optional extras ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "module", "line"),
    [
        (CALDAV, "caldav", "calendar.backend: install morrow[caldav] for the caldav backend"),
        (IMAP, "imapclient", "email.backend: install morrow[imap] for the imap backend"),
        (
            '[email]\ncontacts = "people.vcf"\n',
            "vobject",
            "email.contacts: install morrow[vcard] for a vCard contacts file",
        ),
    ],
)
def test_a_backend_without_its_optional_library_is_one_line_and_exit_78(
    _isolated_home, monkeypatch, capsys, text, module, line
):
    monkeypatch.setenv("DAV_PASSWORD", "dav-secret-0123")
    monkeypatch.setenv("IMAP_PASSWORD", "imap-secret-0123")
    paths, _ = load(_isolated_home, text)
    monkeypatch.setitem(sys.modules, module, None)  # as if it were not installed
    assert main(["doctor", "--offline"]) == 78
    assert capsys.readouterr().err == f"morrow: {paths.config}: {line}\n"
    with pytest.raises(ConfigError, match=r"install morrow\["):
        App.load().workspace()


def test_the_extras_named_exist_and_install_what_is_checked():
    import tomllib

    pyproject = tomllib.loads((Path(__file__).parents[2] / "pyproject.toml").read_text())
    extras = pyproject["project"]["optional-dependencies"]
    module_of = {"caldav": "caldav", "imapclient": "imapclient", "vobject": "vobject"}
    for module, extra, _ in OPTIONAL.values():
        (requirement,) = extras[extra]
        assert module_of[requirement.split(">")[0].split("=")[0]] == module
        assert module not in str(pyproject["project"]["dependencies"])
    # the dev extra brings them all, so `make test` runs their tests
    assert any(f"morrow[{','.join(sorted(e for _, e, _ in OPTIONAL.values()))}]" in r
               for r in extras["dev"])  # fmt: skip
