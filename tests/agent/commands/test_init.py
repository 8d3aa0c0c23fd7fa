"""``morrow init`` writes a commented, valid config; ``morrow doctor`` checks each provider."""

import io
import tomllib

import httpx2
import pytest
import respx

from morrow.agent.cli import main
from morrow.agent.commands.init import Answers, render, system_timezone, template
from morrow.agent.config import ProviderConfig
from morrow.agent.providers.reachability import check


def test_init_fills_the_example_and_keeps_its_comments(tmp_path, capsys):
    home = tmp_path / "home"
    code = main(
        [
            "--home", str(home), "init", "--yes", "--timezone", "America/New_York",
            "--name", "Ada \"AL\" Lovelace", "--email", "ada@example.com",
            "--provider-kind", "openai", "--model", "gpt-5", "--key-env", "MY_OPENAI_KEY",
        ]
    )  # fmt: skip
    assert code == 0
    written = (home / "config.toml").read_text()
    config = tomllib.loads(written)
    assert config["user"] == {
        "timezone": "America/New_York",
        "name": 'Ada "AL" Lovelace',
        "email": "ada@example.com",
        "working_hours": "09:00-17:00",
    }
    assert config["providers"] == [
        {
            "name": "primary",
            "kind": "openai",
            "model": "gpt-5",
            "api_key_env": "MY_OPENAI_KEY",
            "timeout_seconds": 60,
            "max_output_tokens": 4096,
            "max_attempts": 3,
            "backoff_initial_seconds": 1.0,
            "backoff_max_seconds": 30.0,
            "retry_after_cap_seconds": 60.0,
        }
    ]
    assert '# [[providers]]\n# name = "backup"' in written  # the second one left as a comment
    assert written.count("\n#") >= template().count("\n#")  # every comment kept
    out = capsys.readouterr().out
    assert "export MY_OPENAI_KEY=" in out and "morrow doctor" in out


def test_init_never_overwrites_without_force(tmp_path, capsys):
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    (home / "config.toml").write_text("# mine\n")
    assert main(["--home", str(home), "init", "--yes"]) == 2
    assert "already exists" in capsys.readouterr().err
    assert (home / "config.toml").read_text() == "# mine\n"
    assert main(["--home", str(home), "init", "--yes", "--force"]) == 0
    assert "[[providers]]" in (home / "config.toml").read_text()


def test_init_asks_on_a_terminal_with_defaults(tmp_path, monkeypatch):
    home = tmp_path / "home"
    answers = io.StringIO("Europe/Berlin\nAda\n\ngemini\n\n\n")
    monkeypatch.setattr("sys.stdin", answers)
    monkeypatch.setattr("sys.stdin.isatty", lambda: True, raising=False)
    assert main(["--home", str(home), "init"]) == 0
    config = tomllib.loads((home / "config.toml").read_text())
    assert config["user"]["timezone"] == "Europe/Berlin" and config["user"]["name"] == "Ada"
    assert "email" not in config["user"]
    (provider,) = config["providers"]
    assert (provider["kind"], provider["model"]) == ("gemini", "gemini-2.5-flash")
    assert provider["api_key_env"] == "GEMINI_API_KEY"


def test_a_local_server_needs_no_key_and_a_bad_zone_is_refused(tmp_path, capsys):
    home = tmp_path / "home"
    args = ["--home", str(home), "init", "--yes", "--provider-kind", "openai"]
    assert main([*args, "--timezone", "Mars/Olympus"]) == 2
    assert "unknown IANA time zone" in capsys.readouterr().err
    assert main([*args, "--base-url", "http://127.0.0.1:11434/v1", "--model", "llama3.2"]) == 0
    (provider,) = tomllib.loads((home / "config.toml").read_text())["providers"]
    assert provider["base_url"] == "http://127.0.0.1:11434/v1" and "api_key_env" not in provider
    assert main(["--home", str(home), "doctor", "--offline"]) in (0, 1)
    assert "no key needed" in capsys.readouterr().out


def test_a_key_itself_is_not_taken_for_a_variable_name(tmp_path, capsys):
    args = ["--home", str(tmp_path), "init", "--yes", "--key-env", "sk-ant-123"]
    assert main(args) == 2
    assert "not an environment variable name" in capsys.readouterr().err


def test_the_system_zone_is_a_known_zone(monkeypatch):
    monkeypatch.setenv("TZ", "Asia/Tokyo")
    assert system_timezone() == "Asia/Tokyo"
    monkeypatch.setenv("TZ", "nonsense")
    assert system_timezone()  # whatever the machine says, or UTC


def test_render_refuses_an_example_it_cannot_fill():
    answers = Answers("UTC", None, None, "anthropic", "m", "K")
    with pytest.raises(Exception, match="cannot fill in"):
        render(answers, '[user]\nworking_hours = "09:00-17:00"\n')


PROVIDER = ProviderConfig(name="p", kind="openai", model="gpt-5-mini", api_key_env="K")


@respx.mock
def test_doctor_check_reports_reachable_refused_and_unlisted():
    route = respx.get("https://api.openai.com/v1/models")
    route.return_value = httpx2.Response(200, json={"data": [{"id": "gpt-5-mini"}]})
    assert check(PROVIDER, "sk").detail == "reachable, key accepted"
    assert route.calls.last.request.headers["authorization"] == "Bearer sk"
    route.return_value = httpx2.Response(200, json={"data": [{"id": "other"}]})
    assert "not in its list" in check(PROVIDER, "sk").detail
    route.return_value = httpx2.Response(401, json={"error": "bad key"})
    result = check(PROVIDER, "sk")
    assert not result.ok and result.detail.startswith("KEY REFUSED: HTTP 401")
    anthropic = ProviderConfig(name="a", kind="anthropic", model="claude-x", api_key_env="K")
    ant = respx.get("https://api.anthropic.com/v1/models")
    ant.return_value = httpx2.Response(200, json={"data": [{"id": "claude-x"}]})
    assert check(anthropic, "sk-ant").ok
    assert ant.calls.last.request.headers["x-api-key"] == "sk-ant"


def test_doctor_reports_an_unreachable_provider(tmp_path, capsys, monkeypatch):
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    (home / "config.toml").write_text(
        '[[providers]]\nname = "down"\nkind = "openai"\nmodel = "m"\n'
        'base_url = "http://127.0.0.1:9/v1"\n'
    )
    assert main(["--home", str(home), "doctor"]) == 1
    out = capsys.readouterr().out
    assert "UNREACHABLE: ConnectError" in out and "1 problem(s) found" in out
    assert main(["--home", str(home), "doctor", "--offline"]) == 0
    assert "UNREACHABLE" not in capsys.readouterr().out
