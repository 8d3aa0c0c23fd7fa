"""OAuth for Google Calendar and Gmail: least-privilege scopes, the token file, the service.

The token file is written by ``morrow auth google`` (:func:`run_installed_app_flow`) and read by
the backends (:func:`load_credentials`). It holds a refresh token, so it is created with mode
0600, written atomically (a temporary file in the same folder, fsync, rename) and never logged.
An expired access token is refreshed on load and the file rewritten the same way.

Scopes are the narrowest that cover what morrow does: read-only unless writes are enabled.

=========================  ===================================================================
calendar, read-only        ``calendar.readonly`` (events, and free/busy of other people)
calendar, writes           ``calendar.events`` (events) + ``calendar.freebusy`` (free/busy)
gmail, read-only           ``gmail.readonly``
gmail, writes              ``gmail.modify`` (read, label, archive, draft, send; never delete)
=========================  ===================================================================

``gmail.compose`` is not requested with writes: ``gmail.modify`` already allows drafts and
sending, and every extra scope is one more line on the consent screen.

Google libraries are imported inside the functions that need them (DESIGN.md: ``morrow --help``
and a briefing without Google must not pay for them).
"""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from morrow.memory.files import atomic_write
from morrow.tools.errors import BackendError, NotAuthorizedError

if TYPE_CHECKING:
    from google.oauth2.credentials import Credentials

_AUTH = "https://www.googleapis.com/auth/"
CALENDAR_READONLY = _AUTH + "calendar.readonly"
CALENDAR_EVENTS = _AUTH + "calendar.events"
CALENDAR_FREEBUSY = _AUTH + "calendar.freebusy"
CALENDAR_FULL = _AUTH + "calendar"
GMAIL_READONLY = _AUTH + "gmail.readonly"
GMAIL_COMPOSE = _AUTH + "gmail.compose"
GMAIL_MODIFY = _AUTH + "gmail.modify"
GMAIL_FULL = "https://mail.google.com/"

# A scope asked for is also satisfied by any of these sets of granted scopes (broader grants,
# e.g. a token made with writes enabled, still serve a read-only configuration).
_SATISFIED_BY: dict[str, list[frozenset[str]]] = {
    CALENDAR_READONLY: [
        frozenset({CALENDAR_FULL}),
        frozenset({CALENDAR_EVENTS, CALENDAR_FREEBUSY}),
    ],
    CALENDAR_EVENTS: [frozenset({CALENDAR_FULL})],
    CALENDAR_FREEBUSY: [frozenset({CALENDAR_FULL}), frozenset({CALENDAR_READONLY})],
    GMAIL_READONLY: [frozenset({GMAIL_MODIFY}), frozenset({GMAIL_FULL})],
    GMAIL_COMPOSE: [frozenset({GMAIL_MODIFY}), frozenset({GMAIL_FULL})],
    GMAIL_MODIFY: [frozenset({GMAIL_FULL})],
}

_RUN_AUTH = "run `morrow auth google`"


def scopes_for(*, calendar: bool, gmail: bool, writes: bool) -> list[str]:
    """The least-privilege scopes for the services in use.

    Args:
        calendar: whether Google Calendar is used.
        gmail: whether Gmail is used.
        writes: whether morrow may change things (create events, draft and send mail);
            read-only scopes otherwise.

    Returns:
        The scope URLs, calendar first, without duplicates.
    """
    scopes: list[str] = []
    if calendar:
        scopes += [CALENDAR_EVENTS, CALENDAR_FREEBUSY] if writes else [CALENDAR_READONLY]
    if gmail:
        scopes.append(GMAIL_MODIFY if writes else GMAIL_READONLY)
    return scopes


def covers(granted: set[str] | frozenset[str], wanted: list[str]) -> bool:
    """Whether the granted scopes allow everything the wanted scopes would."""
    return all(
        scope in granted or any(alt <= granted for alt in _SATISFIED_BY.get(scope, []))
        for scope in wanted
    )


def load_credentials(token_path: Path, scopes: list[str]) -> Credentials:
    """Read the token file, refreshing (and rewriting) an expired access token.

    Args:
        token_path: the token file ``morrow auth google`` wrote.
        scopes: the scopes the caller needs (from :func:`scopes_for`).

    Returns:
        Valid credentials.

    Raises:
        BackendError: the file is missing, unreadable or lacks a scope, or the refresh failed;
            the message tells the user to run ``morrow auth google``.
    """
    from google.oauth2.credentials import Credentials

    info = _read_token(token_path)
    granted = set(info.get("scopes") or [])
    if not covers(granted, scopes):
        missing = ", ".join(s.removeprefix(_AUTH) for s in scopes if not covers(granted, [s]))
        raise NotAuthorizedError(
            f"the Google token {token_path} does not allow {missing}: {_RUN_AUTH} again"
        )
    try:
        credentials: Credentials = Credentials.from_authorized_user_info(  # type: ignore[no-untyped-call]
            info, scopes=sorted(granted)
        )
    except ValueError as exc:
        raise NotAuthorizedError(
            f"the Google token {token_path} is incomplete ({exc}): {_RUN_AUTH}"
        ) from None
    if not credentials.valid:
        _refresh(credentials, token_path)
    return credentials


def _read_token(token_path: Path) -> dict[str, Any]:
    try:
        text = token_path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise NotAuthorizedError(f"no Google token at {token_path}: {_RUN_AUTH}") from None
    except OSError as exc:
        raise BackendError(f"cannot read the Google token {token_path}: {exc}") from None
    _tighten_mode(token_path)
    try:
        info = json.loads(text)
    except json.JSONDecodeError:
        raise NotAuthorizedError(
            f"the Google token {token_path} is not JSON: {_RUN_AUTH}"
        ) from None
    if not isinstance(info, dict):
        raise NotAuthorizedError(f"the Google token {token_path} is not a JSON object: {_RUN_AUTH}")
    return info


def _tighten_mode(token_path: Path) -> None:
    """A token file others can read is fixed rather than refused: it is the user's own."""
    with contextlib.suppress(OSError):
        if token_path.stat().st_mode & 0o077:
            token_path.chmod(0o600)


def _refresh(credentials: Credentials, token_path: Path) -> None:
    from google.auth.exceptions import RefreshError, TransportError
    from google.auth.transport.requests import Request

    if not credentials.refresh_token:
        raise NotAuthorizedError(f"the Google token {token_path} has expired: {_RUN_AUTH}")
    try:
        credentials.refresh(Request())  # type: ignore[no-untyped-call]
    except RefreshError as exc:  # revoked or expired refresh token; the message holds no secret
        raise NotAuthorizedError(
            f"Google refused to refresh the token ({exc}): {_RUN_AUTH}"
        ) from None
    except TransportError as exc:
        raise BackendError(f"cannot reach Google to refresh the token: {exc}") from None
    write_token(token_path, credentials.to_json())  # type: ignore[no-untyped-call]


def write_token(token_path: Path, text: str) -> None:
    """Write the token atomically with mode 0600 (never readable by others, not even briefly).

    Args:
        token_path: where the token lives.
        text: the token JSON.
    """
    atomic_write(token_path, text, mode=0o600)


def run_installed_app_flow(client_secrets: Path, token_path: Path, scopes: list[str]) -> None:
    """Ask the user to grant access in the browser and store the token.

    The installed-app flow with PKCE: a one-shot local server on 127.0.0.1 (a free port)
    receives the authorization code. The URL is printed as well, for machines without a
    browser.

    Args:
        client_secrets: the OAuth client file ("Desktop app") downloaded from Google Cloud.
        token_path: where to write the token (mode 0600, atomically).
        scopes: the scopes to ask for (from :func:`scopes_for`).

    Raises:
        BackendError: the client file is missing or invalid, or the user did not grant
            every scope.
    """
    from google_auth_oauthlib.flow import InstalledAppFlow

    # Google may grant fewer scopes than asked (granular consent); oauthlib would raise a bare
    # Warning for that. Accept the reply here and check the grant below with a clear message.
    os.environ.setdefault("OAUTHLIB_RELAX_TOKEN_SCOPE", "1")
    try:
        flow = InstalledAppFlow.from_client_secrets_file(
            str(client_secrets), scopes=scopes, autogenerate_code_verifier=True
        )
    except FileNotFoundError:
        raise BackendError(f"no OAuth client file at {client_secrets}") from None
    except ValueError as exc:
        raise BackendError(f"{client_secrets} is not an OAuth client file: {exc}") from None
    credentials = flow.run_local_server(
        host="127.0.0.1",
        port=0,
        open_browser=_has_browser(),
        authorization_prompt_message="Open this URL to let morrow use your Google account:\n{url}",
        success_message="morrow is authorized. You can close this tab.",
    )
    granted = set(getattr(credentials, "granted_scopes", None) or scopes)
    if not covers(granted, scopes):
        missing = ", ".join(s.removeprefix(_AUTH) for s in scopes if not covers(granted, [s]))
        raise NotAuthorizedError(f"access was not granted for {missing}: {_RUN_AUTH} again")
    info = json.loads(credentials.to_json())
    info["scopes"] = sorted(granted)
    write_token(token_path, json.dumps(info))


def _has_browser() -> bool:
    import webbrowser

    try:
        webbrowser.get()
    except webbrowser.Error:
        return False
    return True


def build_service(api: str, version: str, credentials: Any) -> Any:
    """A googleapiclient service on the discovery document shipped with the library.

    Args:
        api: the API name, e.g. "calendar" or "gmail".
        version: its version, e.g. "v3" or "v1".
        credentials: google-auth credentials (from :func:`load_credentials`).

    Returns:
        The service resource.
    """
    from googleapiclient.discovery import build

    return build(
        api, version, credentials=credentials, static_discovery=True, cache_discovery=False
    )
