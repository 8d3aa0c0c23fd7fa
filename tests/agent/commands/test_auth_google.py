"""Google OAuth (tools/google_auth.py), `morrow auth google` and the calendar backend choice.

A local HTTP server on 127.0.0.1 plays Google's token endpoint; a stand-in browser follows the
authorization URL back to the flow's own redirect server. No network, no real credentials.
"""

import base64
import hashlib
import json
import stat
import threading
import urllib.parse
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import pytest

from morrow.agent.app import App
from morrow.agent.cli import main
from morrow.agent.errors import ConfigError
from morrow.tools import google_auth
from morrow.tools.calendar.caldav import CalDavCalendar
from morrow.tools.calendar.google import GoogleCalendar
from morrow.tools.calendar.ics import IcsCalendar
from morrow.tools.errors import BackendError


class TokenServer:
    """Google's token endpoint: answers refreshes and code exchanges, recording the forms."""

    def __init__(self) -> None:
        self.forms: list[dict[str, str]] = []
        self.status = 200
        self.challenge: str | None = None
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers["Content-Length"])
                form = dict(urllib.parse.parse_qsl(self.rfile.read(length).decode()))
                outer.forms.append(form)
                body: dict[str, Any] = {"access_token": f"access-{len(outer.forms)}"}
                body |= {"expires_in": 3600, "token_type": "Bearer"}
                if form.get("grant_type") == "authorization_code":
                    body |= {"refresh_token": "refresh-1", "scope": " ".join(outer.scopes)}
                if outer.status != 200:
                    body = {"error": "invalid_grant", "error_description": "Token revoked"}
                data = json.dumps(body).encode()
                self.send_response(outer.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self.scopes: list[str] = []
        self.server = HTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/token"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()


@pytest.fixture
def token_server(monkeypatch: pytest.MonkeyPatch) -> Iterator[TokenServer]:
    server = TokenServer()
    # google-auth always refreshes at Google's endpoint, whatever the token file says
    monkeypatch.setattr("google.oauth2.credentials._GOOGLE_OAUTH2_TOKEN_ENDPOINT", server.url)
    yield server
    server.close()


def write_token(path: Path, token_uri: str, scopes: list[str], expired: bool) -> None:
    expiry = datetime.now(UTC) + timedelta(hours=-1 if expired else 1)
    path.write_text(
        json.dumps(
            {
                "token": "old-access",
                "refresh_token": "refresh-1",
                "token_uri": token_uri,
                "client_id": "client-1",
                "client_secret": "secret-1",
                "scopes": scopes,
                "expiry": expiry.replace(tzinfo=None).isoformat() + "Z",
            }
        )
    )
    path.chmod(0o644)


# -- scopes --------------------------------------------------------------------------------


def test_scopes_are_read_only_unless_writes_are_enabled() -> None:
    assert google_auth.scopes_for(calendar=True, gmail=False, writes=False) == [
        google_auth.CALENDAR_READONLY
    ]
    assert google_auth.scopes_for(calendar=True, gmail=True, writes=True) == [
        google_auth.CALENDAR_EVENTS,
        google_auth.CALENDAR_FREEBUSY,
        google_auth.GMAIL_MODIFY,
    ]
    assert google_auth.scopes_for(calendar=False, gmail=True, writes=False) == [
        google_auth.GMAIL_READONLY
    ]
    writes = google_auth.scopes_for(calendar=True, gmail=True, writes=True)
    reads = google_auth.scopes_for(calendar=True, gmail=True, writes=False)
    assert google_auth.covers(set(writes), reads)  # switching writes off needs no new token
    assert not google_auth.covers(set(reads), writes)


# -- the token file ------------------------------------------------------------------------


def test_missing_or_insufficient_token_tells_the_user_what_to_run(tmp_path: Path) -> None:
    with pytest.raises(BackendError, match="run `morrow auth google`"):
        google_auth.load_credentials(tmp_path / "none.json", [google_auth.CALENDAR_READONLY])
    token = tmp_path / "token.json"
    write_token(token, "http://127.0.0.1:9/token", [google_auth.CALENDAR_READONLY], False)
    with pytest.raises(BackendError, match=r"does not allow calendar\.events.*morrow auth google"):
        google_auth.load_credentials(token, [google_auth.CALENDAR_EVENTS])


def test_a_valid_token_is_used_as_is_and_its_mode_tightened(
    tmp_path: Path, token_server: TokenServer
) -> None:
    token = tmp_path / "token.json"
    write_token(token, token_server.url, [google_auth.CALENDAR_READONLY], expired=False)
    credentials = google_auth.load_credentials(token, [google_auth.CALENDAR_READONLY])
    assert credentials.token == "old-access" and token_server.forms == []
    assert stat.S_IMODE(token.stat().st_mode) == 0o600


def test_an_expired_token_is_refreshed_and_rewritten_privately(
    tmp_path: Path, token_server: TokenServer
) -> None:
    token = tmp_path / "token.json"
    write_token(token, token_server.url, [google_auth.CALENDAR_READONLY], expired=True)
    credentials = google_auth.load_credentials(token, [google_auth.CALENDAR_READONLY])
    assert credentials.token == "access-1"
    assert token_server.forms[0]["grant_type"] == "refresh_token"
    assert token_server.forms[0]["refresh_token"] == "refresh-1"
    saved = json.loads(token.read_text())
    assert saved["token"] == "access-1" and saved["refresh_token"] == "refresh-1"
    assert stat.S_IMODE(token.stat().st_mode) == 0o600
    assert not list(tmp_path.glob(".token-*"))  # no temporary file left


def test_a_revoked_refresh_token_asks_for_auth_again(
    tmp_path: Path, token_server: TokenServer
) -> None:
    token = tmp_path / "token.json"
    write_token(token, token_server.url, [google_auth.CALENDAR_READONLY], expired=True)
    token_server.status = 400
    with pytest.raises(BackendError, match=r"refused to refresh.*morrow auth google"):
        google_auth.load_credentials(token, [google_auth.CALENDAR_READONLY])


# -- the installed-app flow ----------------------------------------------------------------


class Browser:
    """Stands in for the user's browser: follows the consent URL back to the redirect server."""

    def __init__(self) -> None:
        self.opened: list[str] = []
        self.threads: list[threading.Thread] = []

    def open(self, url: str, new: int = 0, autoraise: bool = True) -> bool:
        self.opened.append(url)
        query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(url).query))
        back = f"{query['redirect_uri']}?code=code-1&state={query['state']}"
        thread = threading.Thread(target=lambda: urllib.request.urlopen(back).close())
        thread.start()
        self.threads.append(thread)
        return True


def test_installed_app_flow_uses_pkce_on_loopback_and_writes_the_token_0600(
    tmp_path: Path, token_server: TokenServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OAUTHLIB_INSECURE_TRANSPORT", "1")  # the fake endpoint is plain http
    monkeypatch.delenv("OAUTHLIB_RELAX_TOKEN_SCOPE", raising=False)
    browser = Browser()
    monkeypatch.setattr("webbrowser.get", lambda using=None: browser)
    scopes = google_auth.scopes_for(calendar=True, gmail=False, writes=True)
    token_server.scopes = scopes
    secrets = tmp_path / "client.json"
    secrets.write_text(
        json.dumps(
            {
                "installed": {
                    "client_id": "client-1",
                    "client_secret": "secret-1",
                    "auth_uri": "http://127.0.0.1:9/auth",
                    "token_uri": token_server.url,
                    "redirect_uris": ["http://localhost"],
                }
            }
        )
    )
    token = tmp_path / "home" / "google-token.json"
    google_auth.run_installed_app_flow(secrets, token, scopes)
    for thread in browser.threads:
        thread.join()

    (url,) = browser.opened
    query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(url).query))
    assert query["redirect_uri"].startswith("http://127.0.0.1:")
    assert query["code_challenge_method"] == "S256"
    assert query["scope"].split() == scopes
    exchange = token_server.forms[-1]
    digest = hashlib.sha256(exchange["code_verifier"].encode()).digest()
    assert base64.urlsafe_b64encode(digest).rstrip(b"=").decode() == query["code_challenge"]
    saved = json.loads(token.read_text())
    assert saved["refresh_token"] == "refresh-1" and saved["scopes"] == sorted(scopes)
    assert stat.S_IMODE(token.stat().st_mode) == 0o600


def test_missing_client_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(BackendError, match="no OAuth client file"):
        google_auth.run_installed_app_flow(
            tmp_path / "none.json", tmp_path / "t.json", [google_auth.CALENDAR_READONLY]
        )


# -- `morrow auth google` and the configured backend ---------------------------------------


def configure(home: Path, text: str) -> None:
    (home / "config.toml").write_text(text)


def test_auth_google_needs_a_google_service_and_a_client_file(
    _isolated_home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    configure(_isolated_home, "")
    assert main(["auth", "google"]) == 78
    assert "no Google service is configured" in capsys.readouterr().err
    configure(_isolated_home, '[calendar]\nbackend = "google"\n')
    assert main(["auth", "google"]) == 78
    assert "google.client_secrets: missing required key" in capsys.readouterr().err
    configure(
        _isolated_home, '[calendar]\nbackend = "google"\n[google]\nclient_secrets = "c.json"\n'
    )
    assert main(["auth", "google"]) == 78
    assert "google.client_secrets: no such file" in capsys.readouterr().err


def test_the_config_chooses_the_calendar_backend(
    _isolated_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert isinstance(App.load().workspace().calendar, IcsCalendar)

    configure(_isolated_home, '[calendar]\nbackend = "google"\ncalendar_id = "work@example.com"\n')
    google = App.load().workspace().calendar
    assert isinstance(google, GoogleCalendar) and google.calendar_id == "work@example.com"
    with pytest.raises(BackendError, match=r"no Google token .*morrow auth google"):
        google.get_event("x")  # the token is read on first use, not at start-up

    configure(_isolated_home, '[calendar]\nbackend = "caldav"\nusername = "me"\n')
    with pytest.raises(ConfigError, match=r"calendar\.url: missing required key"):
        App.load().workspace()
    caldav = '[calendar]\nbackend = "caldav"\nurl = "https://dav.example/"\nusername = "me"\n'
    configure(_isolated_home, caldav + 'password_env = "DAV_PASSWORD"\n')
    monkeypatch.delenv("DAV_PASSWORD", raising=False)
    with pytest.raises(ConfigError, match="environment variable DAV_PASSWORD is not set"):
        App.load().workspace()
    monkeypatch.setenv("DAV_PASSWORD", "secret")
    assert isinstance(App.load().workspace().calendar, CalDavCalendar)

    configure(_isolated_home, '[calendar]\nbackend = "exchange"\n')
    with pytest.raises(ConfigError, match=r"calendar\.backend"):
        App.load()
