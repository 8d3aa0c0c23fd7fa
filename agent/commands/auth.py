"""``morrow auth google``: authorize morrow to use the user's Google account.

``morrow auth google`` runs Google's installed-app flow (PKCE, a one-shot server on 127.0.0.1)
for the Google services the config uses, with the least-privilege scopes of
:func:`morrow.tools.google_auth.scopes_for` (read-only unless ``[google] writes = true``), and
writes the token file with mode 0600. Tokens are never printed or logged.
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from morrow.agent.backends import client_secrets, google_scopes
from morrow.agent.errors import AssistantError, UsageError
from morrow.tools.errors import ToolError

if TYPE_CHECKING:
    pass


def run_auth(args: argparse.Namespace) -> int:
    """``morrow auth google``: authorize morrow and store the token."""
    from morrow.agent.app import App

    if args.auth_command != "google":
        raise UsageError(f"unknown auth target {args.auth_command!r}")
    app = App.load(home=args.home, config=args.config)
    from morrow.tools.google_auth import run_installed_app_flow

    scopes = google_scopes(app.config, str(app.paths.config))
    secrets = client_secrets(app.config, app.paths)
    token = app.paths.resolve_path(app.config.google.token)
    lines = "".join(f"  {scope}\n" for scope in scopes)
    sys.stdout.write(f"morrow asks Google for:\n{lines}")
    sys.stdout.flush()
    try:
        run_installed_app_flow(secrets, token, scopes)
    except ToolError as exc:  # a refused or incomplete grant, an unreadable client file
        raise AssistantError(f"auth google: {exc}") from None
    sys.stdout.write(f"Authorized. Token saved to {token} (readable only by you).\n")
    return 0
