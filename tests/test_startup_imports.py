"""Start-up stays lean: what ``morrow --help`` and a no-model briefing import (issue 10).

Import time is the largest part of both (bench/RESULTS.md, "Start-up"); these tests fail when a
change makes them import a provider SDK, pydantic, rich or the plugins' entry points again.
They check what is imported, never how long it takes.
"""

import argparse
import json
import subprocess
import sys
from importlib.metadata import entry_points
from pathlib import Path

import pytest

from morrow.agent.cli import PLUGIN_COMMANDS, build_parser, needs_plugins

ROOT = Path(__file__).parents[1]
SDKS = {"anthropic", "openai", "google", "googleapiclient", "httpx2", "httpx"}


def modules_after(argv: list[str], home: Path) -> set[str]:
    """The modules loaded by ``morrow ARGV`` run in a fresh interpreter."""
    code = (
        "import contextlib, io, json, sys\n"
        "from morrow.agent.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    try:\n"
        f"        code = main({argv!r})\n"
        "    except SystemExit as exit:\n"
        "        code = exit.code\n"
        "print(json.dumps([code, sorted(sys.modules)]))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        cwd=home,  # not the checkout: only the installed package may be imported
        env={"MORROW_HOME": str(home), "PATH": "/usr/bin:/bin"},
    )
    code, loaded = json.loads(done.stdout.splitlines()[-1])
    assert code == 0, done.stderr
    return set(loaded)


def tops(modules: set[str]) -> set[str]:
    """The top-level names, with morrow's own floors as ``morrow.agent`` ..."""
    return {
        ".".join(name.split(".")[:2]) if name.startswith("morrow.") else name.split(".")[0]
        for name in modules
    }


def test_help_imports_neither_sdks_nor_pydantic_nor_the_plugins(tmp_path):
    loaded = modules_after(["--help"], tmp_path)
    assert not tops(loaded) & (SDKS | {"pydantic", "structlog", "rich", "morrow.evals", "asyncio"})
    assert "importlib.metadata" not in loaded  # the entry point scan is skipped


def test_a_no_model_briefing_imports_no_sdk_and_not_rich(tmp_path):
    from morrow.tools.demo import main as demo

    demo([str(tmp_path)])
    loaded = modules_after(["brief", "--force"], tmp_path)
    assert not tops(loaded) & (SDKS | {"rich", "pygments", "morrow.evals"})
    assert "morrow.agent.providers.openai" not in loaded


def test_the_static_plugin_list_matches_the_entry_points():
    names = {entry.name for entry in entry_points(group="morrow.commands")}
    assert set(PLUGIN_COMMANDS) == names
    # the help lists them with the very lines their own parsers give
    assert build_parser(plugins=False).format_help() == build_parser().format_help()


def test_every_built_in_command_is_known_as_one():
    """A command missing from the list would still work, loading the plugins for nothing."""
    from morrow.agent.cli import _BUILT_IN

    parser = build_parser(plugins=False)
    (commands,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    assert set(commands.choices) - set(PLUGIN_COMMANDS) == _BUILT_IN


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        ([], False),
        (["--help"], False),
        (["brief", "--force"], False),
        (["--home", "eval", "ask", "hi"], False),  # "eval" is the value of --home here
        (["eval", "list"], True),
        (["--log-level", "debug", "replay", "x.json"], True),
        (["unknown-command"], True),  # an unknown word may be a plugin installed later
    ],
)
def test_plugins_load_only_for_commands_that_are_not_built_in(argv, expected):
    assert needs_plugins(argv) is expected


def test_a_plugin_command_still_parses_with_its_own_arguments():
    args = build_parser(plugins=True).parse_args(["replay", "x.json", "--ignore-system"])
    assert isinstance(args, argparse.Namespace) and args.ignore_system


def test_a_briefing_on_an_indexed_calendar_parses_nothing_and_offers_no_tools(tmp_path):
    """Issue 19: the no-model briefing reads the calendar's index, not the file (icalendar is
    not imported), builds no tool definitions and no approval gate, and reads only the top
    of the waiting mail."""
    from morrow.tools.demo import main as demo

    demo([str(tmp_path)])
    modules_after(["brief", "--force"], tmp_path)  # the first run builds the index
    loaded = modules_after(["brief", "--force"], tmp_path)
    assert not tops(loaded) & {"icalendar", "recurring_ical_events", "x_wr_timezone", "dateutil"}
    assert not loaded & {"morrow.tools.calendar.tools", "morrow.tools.calendar.writes"}


def test_pydantic_does_not_scan_for_plugins(tmp_path):
    code = (
        "import contextlib, io\n"
        "from morrow.agent.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    main(['doctor', '--offline'])\n"
        "from pydantic.plugin import _loader\n"
        "print(_loader._plugins is None)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        cwd=tmp_path,
        env={"MORROW_HOME": str(tmp_path), "PATH": "/usr/bin:/bin"},
    )
    assert done.stdout.splitlines()[-1] == "True", done.stderr  # the entry points not read
