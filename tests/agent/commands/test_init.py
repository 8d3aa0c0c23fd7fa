"""``morrow init`` writes a commented, valid config; ``morrow doctor`` checks each provider."""

import io
import tomllib

import httpx2
import pytest
import respx

from morrow.agent.cli import main
from morrow.agent.commands.init import render, template
from morrow.agent.commands.init_answers import Answers, system_timezone
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


def test_doctor_reports_an_unreachable_provider(tmp_path, capsys, monkeypatch, refused_url):
    home = tmp_path / "home"
    home.mkdir(exist_ok=True, mode=0o700)
    home.chmod(0o700)
    (home / "calendar.ics").touch()
    (home / "Mail" / "cur").mkdir(parents=True)
    (home / "config.toml").write_text(
        '[[providers]]\nname = "down"\nkind = "openai"\nmodel = "m"\n'
        f'base_url = "{refused_url}/v1"\n'
    )
    assert main(["--home", str(home), "doctor"]) == 1
    out = capsys.readouterr().out
    assert "UNREACHABLE: ConnectError" in out and "1 problem(s) found" in out
    assert main(["--home", str(home), "doctor", "--offline"]) == 0
    assert "UNREACHABLE" not in capsys.readouterr().out


# -- backends: by flags for scripts, by questions on a terminal ------------------------------

BACKEND_FLAGS = {
    "ics": (
        ["--calendar-backend", "ics", "--calendar-path", "cal/work.ics"],
        {"path": "cal/work.ics"},
    ),
    "google": (
        ["--calendar-backend", "google", "--calendar-id", "work@example.com",
         "--google-client-secrets", "secret.json"],
        {"calendar_id": "work@example.com"},
    ),
    "caldav": (
        ["--calendar-backend", "caldav", "--caldav-url", "https://dav.example/",
         "--caldav-username", "ada", "--caldav-password-env", "DAV_PW",
         "--caldav-calendar", "Work"],
        {"url": "https://dav.example/", "username": "ada", "password_env": "DAV_PW",
         "calendar_name": "Work"},
    ),
    "maildir": (
        ["--mail-backend", "maildir", "--maildir", "Post", "--smtp-host", "smtp.example.com",
         "--smtp-username", "ada@example.com"],
        {"path": "Post"},
    ),
    "gmail": (["--mail-backend", "gmail", "--google-client-secrets", "secret.json"], {}),
    "imap": (
        ["--mail-backend", "imap", "--imap-host", "imap.example.com", "--imap-username", "ada",
         "--imap-password-env", "IMAP_PW", "--smtp-host", "smtp.example.com"],
        {},
    ),
}  # fmt: skip


def comments_of(text):
    """The prose of every comment in ``text`` (what follows its last ``#``), not keys in one."""
    notes = {line.rsplit("#", 1)[1].strip() for line in text.splitlines() if "#" in line}
    return {note for note in notes if note and not _is_toml(note)}


def _is_toml(note):
    try:
        return bool(tomllib.loads(note))
    except tomllib.TOMLDecodeError:
        return False


@pytest.mark.parametrize("backend", list(BACKEND_FLAGS))
def test_init_writes_each_backend_and_the_config_loads(tmp_path, monkeypatch, backend):
    from morrow.agent.app import App
    from morrow.agent.config import Paths, load_config

    home = tmp_path / "home"
    flags, values = BACKEND_FLAGS[backend]
    assert main(["--home", str(home), "init", "--yes", "--email", "ada@example.com", *flags]) == 0
    written = (home / "config.toml").read_text()
    assert comments_of(template()) <= comments_of(written)  # every comment kept
    config = load_config(Paths.resolve(home=str(home)))
    section = config.calendar if backend in ("ics", "google", "caldav") else config.email
    assert section.backend == backend
    assert {key: getattr(section, key) for key in values} == values
    if backend in ("google", "gmail"):
        assert config.google.client_secrets == "secret.json"
    if backend == "maildir":
        assert config.email.smtp.username == "ada@example.com"
        assert config.email.smtp.password_env == "MORROW_SMTP_PASSWORD"
    if backend == "imap":
        imap = config.email.imap
        assert (imap.host, imap.username, imap.password_env) == (
            "imap.example.com",
            "ada",
            "IMAP_PW",
        )
        assert config.email.smtp.host == "smtp.example.com" and config.email.smtp.username == "ada"
    for variable in ("DAV_PW", "IMAP_PW", "MORROW_SMTP_PASSWORD"):
        monkeypatch.setenv(variable, "a-password-0123")
    workspace = App.load(home=str(home)).workspace()  # and the backends it names are built
    assert workspace.calendar is not None and workspace.mail is not None


def test_init_asks_again_after_a_typo(tmp_path, monkeypatch, capsys):
    home = tmp_path / "home"
    answers = [
        "Europe/Berln", "Europe/Berlin",  # time zone
        "",  # name
        "ada@example.com",
        "opnai", "openai",  # provider
        "",  # model
        "127.0.0.1:11434", "",  # server: not a URL, then the provider's own
        "sk-proj-abc", "",  # the key itself, then the default variable
        "caldv", "caldav",  # calendar
        "dav.example", "https://dav.example/",
        "", "",  # login (the email address), password variable
        "",  # calendar name: the first
        "imap",
        "", "imap.example.com",  # a host is needed
        "ada", "MY PASSWORD", "IMAP_PW",
        "",  # no SMTP server
    ]  # fmt: skip
    monkeypatch.setattr("sys.stdin", io.StringIO("\n".join(answers) + "\n"))
    monkeypatch.setattr("sys.stdin.isatty", lambda: True, raising=False)
    assert main(["--home", str(home), "init"]) == 0
    out = capsys.readouterr().out
    assert out.count("please answer again") == 8
    assert "unknown IANA time zone 'Europe/Berln'" in out and "one of ics, google, caldav" in out
    assert "sk-proj-abc" not in out and "MY PASSWORD" not in out
    config = tomllib.loads((home / "config.toml").read_text())
    assert config["user"] == {
        "timezone": "Europe/Berlin",
        "email": "ada@example.com",
        "working_hours": "09:00-17:00",
    }
    assert config["providers"][0]["api_key_env"] == "OPENAI_API_KEY"
    assert config["calendar"] == {
        "backend": "caldav",
        "url": "https://dav.example/",
        "username": "ada@example.com",
        "password_env": "MORROW_CALDAV_PASSWORD",
    }
    assert config["email"] == {
        "backend": "imap",
        "imap": {"host": "imap.example.com", "username": "ada", "password_env": "IMAP_PW"},
    }
    assert "export IMAP_PW=..." in out and "export MORROW_CALDAV_PASSWORD=..." in out


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (
            ["--caldav-url", "https://dav.example/"],
            "--caldav-url is for the caldav backend, not ics",
        ),
        (["--calendar-backend", "caldav"], "--caldav-url: an answer is needed"),
        (
            ["--calendar-backend", "caldav", "--caldav-url", "dav"],
            "--caldav-url: 'dav' is not a URL",
        ),
        (["--mail-backend", "imap"], "--imap-host: an answer is needed"),
        (["--mail-backend", "gmail", "--smtp-host", "h"], "--smtp-* flags are for the maildir"),
        (["--smtp-username", "ada"], "--smtp-username and --smtp-password-env need --smtp-host"),
        (["--email", "ada at example"], "--email: 'ada at example' is not an email address"),
    ],
)
def test_a_wrong_flag_is_a_usage_error_and_writes_nothing(tmp_path, capsys, flags, message):
    home = tmp_path / "home"
    assert main(["--home", str(home), "init", "--yes", *flags]) == 2
    assert message in capsys.readouterr().err
    assert not (home / "config.toml").exists()


def test_a_backend_without_its_library_is_said_before_anything_runs(tmp_path, monkeypatch, capsys):
    import sys

    monkeypatch.setitem(sys.modules, "caldav", None)
    home = tmp_path / "home"
    flags = ["--calendar-backend", "caldav", "--caldav-url", "https://dav.example/",
             "--caldav-username", "ada"]  # fmt: skip
    assert main(["--home", str(home), "init", "--yes", *flags]) == 0
    out = capsys.readouterr().out
    assert "next: pip install 'morrow[caldav]'" in out
    assert "export MORROW_CALDAV_PASSWORD=..." in out
