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
