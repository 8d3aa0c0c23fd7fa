"""The home and everything in it are the user's alone (issue 15 item 12).

``morrow init`` makes the home 0700 (also one that existed as 0755) and config.toml 0600; a
run creates its mail index, store, usage ledger, logs, briefings and their records readable by
the owner only (the CLI works under umask 077).
"""

from __future__ import annotations

import os
import stat
from datetime import date
from pathlib import Path
from zoneinfo import ZoneInfo

from morrow.agent.cli import main
from morrow.tools.demo import build_demo_workspace, demo_config


def open_to_others(root: Path) -> list[str]:
    """Every file or folder under ``root`` (itself included) that others may read or enter."""
    found = []
    for path in [root, *root.rglob("*")]:
        mode = stat.S_IMODE(path.lstat().st_mode)
        if not path.is_symlink() and mode & 0o077:
            found.append(f"{path.relative_to(root.parent)} {mode:04o}")
    return found


def test_init_then_a_day_of_use_leaves_nothing_open_to_others(tmp_path, capsys):
    home = tmp_path / "mine"
    home.mkdir(mode=0o755)
    home.chmod(0o755)  # as an older morrow (or mkdir under umask 022) left it
    old = os.umask(0o022)  # the usual shell umask: morrow must not rely on the user's
    try:
        assert main(["--home", str(home), "init", "--yes", "--timezone", "Europe/Berlin"]) == 0
        assert stat.S_IMODE(home.stat().st_mode) == 0o700
        assert stat.S_IMODE((home / "config.toml").stat().st_mode) == 0o600
        build_demo_workspace(home, today=date(2026, 3, 4), timezone=ZoneInfo("Europe/Berlin"))
        for path in [home / "calendar.ics", home / "Mail", *(home / "Mail").rglob("*")]:
            path.chmod(0o700 if path.is_dir() else 0o600)  # the user's own data, made private
        (home / "config.toml").write_text(demo_config(home))  # the offline model: no key
        assert main(["--home", str(home), "--log-level", "info", "ask", "any unread mail?"]) == 0
        assert main(["--home", str(home), "brief", "--date", "2026-03-04"]) == 0
        assert main(["--home", str(home), "memory", "export", "--out", str(home / "x.json")]) == 0
    finally:
        os.umask(old)
    capsys.readouterr()
    made = {p.relative_to(home).parts[0] for p in home.rglob("*")}
    assert {"index", "logs", "briefings", "morrow.sqlite", "state"} <= made
    assert open_to_others(home) == []
