import pytest

from morrow.agent.cli import main
from morrow.agent.config import Paths, load_config, parse_config, parse_hours
from morrow.agent.errors import ConfigError

GOOD = """
[user]
timezone = "Europe/Berlin"
working_hours = "08:30-17:00"

[[providers]]
name = "primary"
kind = "anthropic"
model = "claude-sonnet-5"
api_key_env = "ANTHROPIC_API_KEY"

[[providers]]
name = "local"
kind = "openai"
model = "llama3"
base_url = "http://127.0.0.1:11434/v1"

[calendar]
backend = "ics"
path = "calendar.ics"

[email]
backend = "maildir"
path = "Mail"

[approvals]
mode = "ask"
"""


def write(home, text):
    path = home / "config.toml"
    path.write_text(text)
    return Paths.resolve(home=str(home))


def test_good_config(tmp_path):
    config = load_config(write(tmp_path, GOOD))
    assert [p.name for p in config.providers] == ["primary", "local"]
    assert config.user.work_day[0].hour == 8
    assert config.approvals.mode == "ask"


def test_example_config_is_valid(tmp_path):
    from pathlib import Path

    text = (Path(__file__).parents[2] / "config.example.toml").read_text()
    config = load_config(write(tmp_path, text))
    assert config.providers


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[user]\ntimezone = "Mars/Olympus"', "user.timezone: Value error, unknown IANA time zone"),
        ("[user]\ncolour = 1", "user.colour: unknown key"),
        ("[calender]\npath = 'x'", "calender: unknown key"),
        ('[[providers]]\nname = "a"\nkind = "cohere"\nmodel = "m"', "providers[0].kind"),
        ('[[providers]]\nname = "a"\nkind = "openai"', "providers[0].model: missing required key"),
        ('[agent]\nmax_steps = "many"', "agent.max_steps"),
        ('[user]\nworking_hours = "17:00-09:00"', "must start before it ends"),
        ("[user\n", "not valid TOML"),
        (
            '[[providers]]\nname="a"\nkind="openai"\nmodel="m"\n[[providers]]\nname="a"\n'
            'kind="openai"\nmodel="m"',
            "repeated: a",
        ),
    ],
)
def test_bad_config_names_key_and_file(tmp_path, text, message):
    paths = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_config(paths)
    assert message in str(info.value)
    assert str(paths.config) in str(info.value)


def test_missing_default_config_means_defaults(tmp_path):
    config = load_config(Paths.resolve(home=str(tmp_path)))
    assert config.providers == []
    assert config.calendar.path == "calendar.ics"


def test_missing_explicit_config_is_an_error(tmp_path):
    with pytest.raises(ConfigError, match="no such config file"):
        load_config(Paths.resolve(home=str(tmp_path), config=str(tmp_path / "nope.toml")))


def test_paths_relative_to_home(tmp_path):
    paths = Paths.resolve(home=str(tmp_path))
    assert paths.resolve_path("Mail") == tmp_path / "Mail"
    assert paths.resolve_path("/abs/x").as_posix() == "/abs/x"
    assert paths.config == tmp_path / "config.toml"
    assert paths.logs == tmp_path / "logs"


def test_env_config_overrides_home_default(tmp_path, monkeypatch):
    other = tmp_path / "elsewhere.toml"
    monkeypatch.setenv("MORROW_CONFIG", str(other))
    assert Paths.resolve(home=str(tmp_path)).config == other


def test_parse_hours_rejects_nonsense():
    with pytest.raises(ValueError):
        parse_hours("nine to five")
    with pytest.raises(ValueError):
        parse_hours("25:00-26:00")


def test_cli_bad_config_exits_78_with_one_line(tmp_path, capsys):
    write(tmp_path, "[user]\ncolour = 1\n")
    code = main(["--home", str(tmp_path), "ask", "hello"])
    err = capsys.readouterr().err
    assert code == 78
    assert err.count("\n") == 1
    assert "user.colour: unknown key" in err and "config.toml" in err
    assert "Traceback" not in err


def test_cli_missing_key_env_exits_78(tmp_path, capsys):
    write(tmp_path, GOOD)
    code = main(["--home", str(tmp_path), "ask", "hello"])
    err = capsys.readouterr().err
    assert code == 78
    assert "providers[0].api_key_env: environment variable ANTHROPIC_API_KEY is not set" in err


def test_cli_no_providers_exits_78(tmp_path, capsys):
    code = main(["--home", str(tmp_path), "ask", "hello"])
    assert code == 78
    assert "no [[providers]] configured" in capsys.readouterr().err


def test_parse_config_wrong_type():
    with pytest.raises(ConfigError, match=r"x.toml: providers\[0\].timeout_seconds"):
        parse_config(
            {"providers": [{"name": "a", "kind": "openai", "model": "m", "timeout_seconds": -1}]},
            source="x.toml",
        )


# -- backend sections: one model per backend, exactly its keys --------------------------------

BACKEND_CONFIGS = {
    "ics": ('[calendar]\npath = "cal.ics"\n', "IcsCalendarConfig", {"path": "cal.ics"}),
    "google": (
        '[calendar]\nbackend = "google"\ncalendar_id = "work@example.com"\n',
        "GoogleCalendarConfig",
        {"calendar_id": "work@example.com"},
    ),
    "caldav": (
        '[calendar]\nbackend = "caldav"\nurl = "https://dav.example/"\nusername = "ada"\n'
        'password_env = "DAV_PASSWORD"\ncalendar_name = "Work"\n',
        "CalDavCalendarConfig",
        {"url": "https://dav.example/", "password_env": "DAV_PASSWORD", "calendar_name": "Work"},
    ),
    "maildir": (
        '[email]\npath = "Post"\n[email.smtp]\nhost = "smtp.example.com"\n',
        "MaildirEmailConfig",
        {"path": "Post"},
    ),
    "gmail": ('[email]\nbackend = "gmail"\ncontacts = "c.vcf"\n', "GmailEmailConfig", {}),
    "imap": (
        '[email]\nbackend = "imap"\n[email.imap]\nhost = "imap.example.com"\nusername = "ada"\n'
        'password_env = "IMAP_PASSWORD"\n',
        "ImapEmailConfig",
        {},
    ),
}


@pytest.mark.parametrize("backend", list(BACKEND_CONFIGS))
def test_each_backend_is_its_own_model(tmp_path, backend):
    text, model, values = BACKEND_CONFIGS[backend]
    config = load_config(write(tmp_path, text))
    section = config.calendar if text.startswith("[calendar]") else config.email
    assert type(section).__name__ == model and section.backend == backend
    assert {key: getattr(section, key) for key in values} == values


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            '[calendar]\npath = "x.ics"\nurl = "https://dav.example/"',
            'calendar.url: not a key of backend "ics" (its keys: path)',
        ),
        (
            '[calendar]\nbackend = "google"\npath = "x.ics"',
            'calendar.path: not a key of backend "google" (its keys: calendar_id)',
        ),
        (
            '[calendar]\nbackend = "caldav"\nusername = "ada"\npassword_env = "P"',
            'calendar.url: missing required key (backend "caldav")',
        ),
        (
            '[email]\nbackend = "gmail"\n[email.smtp]\nhost = "smtp.example.com"',
            'email.smtp: not a key of backend "gmail" (its keys: contacts)',
        ),
        (
            '[email]\n[email.imap]\nhost = "h"\nusername = "u"\npassword_env = "P"',
            'email.imap: not a key of backend "maildir" (its keys: path, contacts, smtp)',
        ),
        (
            '[email]\nbackend = "imap"\npath = "Mail"\n[email.imap]\nhost = "h"\nusername = "u"\n'
            'password_env = "P"',
            'email.path: not a key of backend "imap" (its keys: contacts, imap, smtp)',
        ),
        (
            '[email]\nbackend = "imap"',
            'email.imap: missing required section (backend "imap" needs [email.imap]: host, '
            "username, password_env)",
        ),
        (
            '[email]\nbackend = "imap"\n[email.imap]\nhost = "h"\npassword_env = "P"',
            "email.imap.username: missing required key",
        ),
        (
            '[calendar]\nbackend = "exchange"',
            'calendar.backend: "exchange" is not a backend (ics | google | caldav)',
        ),
        ("[email]\nbackend = 3", "email.backend: 3 is not a backend (maildir | gmail | imap)"),
        ("calendar = 3", "calendar: should be a table"),
    ],
)
def test_a_backend_section_error_names_the_key(tmp_path, text, message):
    paths = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_config(paths)
    error = str(info.value)
    assert error.startswith(f"{paths.config}: {message}")
    assert "\n" not in error and "Input tag" not in error and "caldav.url" not in error


def test_an_env_key_holding_the_secret_itself_is_refused_without_echoing_it(tmp_path):
    text = '[[providers]]\nname = "a"\nkind = "openai"\nmodel = "m"\napi_key_env = "sk-live 123"'
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, text))
    assert "providers[0].api_key_env: Value error, not an environment variable name" in str(
        info.value
    )
    assert "sk-live" not in str(info.value)


# -- config.example.toml documents every key ---------------------------------------------------


def _documented_keys(text):
    """Section -> the keys the example sets or shows commented out."""
    import re

    found, section = {}, ""
    for line in text.splitlines():
        bare = line.lstrip("#").strip()
        header = re.match(r"^\[\[?(\w+(?:\.\w+)*)", bare)
        if header:
            section = header.group(1)
            found.setdefault(section, set())
            continue
        key = re.match(r"^(\w+)\s*=", bare)
        if key and section:
            found[section].add(key.group(1))
    return found


def test_the_example_documents_every_key():
    from pathlib import Path

    from morrow.agent import config as c

    sections = {
        "user": [c.UserConfig],
        "providers": [c.ProviderConfig],
        "calendar": list(c.BACKENDS["calendar"].values()),
        "calendars": [c.IcsCalendarEntry],
        "google": [c.GoogleConfig],
        "email": list(c.BACKENDS["email"].values()),
        "email.smtp": [c.SmtpConfig],
        "email.imap": [c.ImapConfig],
        "approvals": [c.ApprovalsConfig],
        "agent": [c.AgentConfig],
        "memory": [c.MemoryConfig],
        "memory.context_windows": [],
        "resilience": [c.ResilienceConfig],
        "budget": [c.BudgetConfig],
        "prices": [c.PriceConfig],
        "mcp": [c.McpConfig],
        "mcp.servers": [c.McpServerConfig],
    }
    assert {name.split(".")[0] for name in sections} == set(c.Config.model_fields)
    documented = _documented_keys((Path(__file__).parents[2] / "config.example.toml").read_text())
    for section, models in sections.items():
        assert section in documented, section
        for model in models:
            for name, field in model.model_fields.items():
                if f"{section}.{name}" in sections:
                    continue  # a section of its own
                assert (field.alias or name) in documented[section], f"{section}.{name}"
