"""The ``morrow`` command line (DESIGN.md, "Command-line contract").

Only argparse is imported at start, so ``morrow --help`` stays fast; each command imports what
it needs when it runs. Errors are printed as one line and end the process with the exit code the
error carries (2 usage, 69 no provider reachable, 75 busy, 78 configuration, 1 anything else).
Other packages add commands through the ``morrow.commands`` entry point group: each entry point
is a function ``register(subparsers)`` (that is how ``evals`` adds ``eval`` and ``replay``
without ``agent`` importing it).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from typing import Any

Handler = Callable[[argparse.Namespace], int]

EPILOG = """\
exit codes: 0 ok, 1 failed, 2 usage, 69 no provider reachable, 75 busy, 78 configuration
environment: MORROW_HOME (data, state, logs), MORROW_CONFIG (config file)"""

# The commands the ``morrow.commands`` entry points add, with their help lines. Scanning the
# installed distributions for entry points costs about 20 ms, a sixth of ``morrow --help``:
# it is done only when the command asked for is not built in. Listed here so that the help
# still shows them; a test checks this against the entry points and their own help.
PLUGIN_COMMANDS = {
    "eval": "run eval suites, record and compare results",
    "replay": "replay a recorded session offline",
}
_BUILT_IN = {
    "chat",
    "ask",
    "brief",
    "tools",
    "auth",
    "doctor",
    "memory",
    "init",
    "mcp",
    "calendars",
}
_VALUED_OPTIONS = {"--config", "--home", "--log-level"}  # global options that take a value


def build_parser(*, plugins: bool = True) -> argparse.ArgumentParser:
    """The whole command tree.

    Args:
        plugins: load the commands other packages add; when False they are listed by name
            only (enough for the help and for running a built-in command).
    """
    parser = argparse.ArgumentParser(
        prog="morrow",
        description="A personal assistant for your calendar and email, in the terminal.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--config", help="config file (default: $MORROW_HOME/config.toml)")
    parser.add_argument("--home", help="root for data, state and logs (env MORROW_HOME)")
    parser.add_argument(
        "--log-level", choices=["debug", "info", "warning", "error"], help="stderr log level"
    )
    parser.add_argument("--log-json", action="store_true", help="log JSON lines on stderr")
    parser.add_argument("--version", action=_VersionAction)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    chat = commands.add_parser("chat", help="talk to morrow (the default)")
    _add_session_options(chat)
    chat.set_defaults(handler=_lazy("morrow.agent.chat.repl", "run_chat"))

    ask = commands.add_parser("ask", help="one turn, non-interactive: print the answer")
    ask.add_argument("text", help="what to ask")
    _add_session_options(ask)
    ask.add_argument("--json", action="store_true", help="print the result as JSON")
    ask.add_argument("--no-stream", action="store_true", help="ask for the answer whole")
    ask.set_defaults(handler=_lazy("morrow.agent.commands.ask", "run_ask"))

    brief = commands.add_parser("brief", help="the daily briefing (for cron and timers)")
    brief.add_argument("--date", help="the day to brief, YYYY-MM-DD (default: today)")
    brief.add_argument("--out", metavar="FILE", help="write the briefing to FILE")
    brief.add_argument("--force", action="store_true", help="run again although done today")
    brief.add_argument("--format", choices=["md", "text", "json"], default="md")
    brief.set_defaults(handler=_lazy("morrow.agent.brief.command", "run_brief"))

    tools = commands.add_parser("tools", help="list the tools or run one directly")
    tool_commands = tools.add_subparsers(dest="tools_command", metavar="ACTION", required=True)
    listing = tool_commands.add_parser("list", help="the tools and their schemas")
    listing.add_argument("--json", action="store_true", help="print JSON")
    listing.set_defaults(handler=_lazy("morrow.agent.commands.tools", "run_tools_list"))
    calling = tool_commands.add_parser("call", help="run one tool; prints JSON")
    calling.add_argument("name", help="tool name (see `morrow tools list`)")
    calling.add_argument("--args", default="{}", help="arguments as a JSON object")
    calling.add_argument("--approve", action="store_true", help="allow a write or send effect")
    calling.set_defaults(handler=_lazy("morrow.agent.commands.tools", "run_tools_call"))

    auth = commands.add_parser("auth", help="authorize morrow to use an account")
    auth.add_argument("auth_command", choices=["google"], metavar="SERVICE", help="google")
    auth.set_defaults(handler=_lazy("morrow.agent.commands.auth", "run_auth"))

    doctor = commands.add_parser("doctor", help="check the config, keys and backends")
    doctor.add_argument("--offline", action="store_true", help="do not contact the providers")
    doctor.set_defaults(handler=_lazy("morrow.agent.commands.doctor", "run_doctor"))

    calendars = commands.add_parser("calendars", help="the calendars morrow reads (and Google's)")
    calendars.add_argument("--json", action="store_true", help="print JSON")
    calendars.set_defaults(handler=_lazy("morrow.agent.commands.calendars", "run_calendars"))

    from morrow.agent.commands.init import register as register_init

    register_init(commands)
    from morrow.agent.commands.memory import register as register_memory

    register_memory(commands)

    from morrow.agent.mcp.command import register as register_mcp

    register_mcp(commands)

    if plugins:
        _register_plugins(commands)
    else:
        for name, text in PLUGIN_COMMANDS.items():
            commands.add_parser(name, help=text, add_help=False)
    return parser


def needs_plugins(argv: Sequence[str]) -> bool:
    """Whether ``argv`` names a command that is not built in (so the plugins must load)."""
    words = iter(argv)
    for word in words:
        if word in _VALUED_OPTIONS:
            next(words, None)
        elif not word.startswith("-"):
            return word not in _BUILT_IN
    return False


class _VersionAction(argparse.Action):
    """``--version``, reading the installed version only when asked.

    importlib.metadata alone takes about 15 ms to import: no other command needs it.
    """

    def __init__(self, option_strings: Sequence[str], dest: str = argparse.SUPPRESS) -> None:
        super().__init__(
            option_strings,
            dest=dest,
            default=argparse.SUPPRESS,
            nargs=0,
            help="show program's version number and exit",
        )

    def __call__(self, parser: argparse.ArgumentParser, *_: Any) -> None:
        print(f"morrow {_version()}")
        parser.exit()


def _add_session_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--session", help="continue (or create) the session with this id")
    parser.add_argument("--new", action="store_true", help="start a new session")
    parser.add_argument("--provider", help="use this configured provider")
    parser.add_argument("--record", metavar="FILE", help="record a trajectory to FILE")


def _lazy(module: str, function: str) -> Handler:
    def handler(args: argparse.Namespace) -> int:
        import importlib

        result: int = getattr(importlib.import_module(module), function)(args)
        return result

    return handler


def _register_plugins(commands: Any) -> None:
    from importlib.metadata import entry_points

    for entry in entry_points(group="morrow.commands"):
        entry.load()(commands)


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("morrow")
    except PackageNotFoundError:
        return "unknown"


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the process exit code."""
    import os

    # pydantic looks through every installed distribution for plugins on its first model
    # (about 10 ms of each command); morrow uses none. A user who sets it decides.
    os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")
    words = list(argv if argv is not None else sys.argv[1:])
    parser = build_parser(plugins=needs_plugins(words))
    args = parser.parse_args(argv)
    if args.command is None:
        args = parser.parse_args([*(argv if argv is not None else sys.argv[1:]), "chat"])
    from morrow.agent.errors import AssistantError

    try:
        _setup_logging(args)
        return int(args.handler(args))
    except AssistantError as error:
        from morrow.agent.logs import scrub

        print(f"morrow: {scrub(str(error))}", file=sys.stderr)
        return error.exit_code
    except KeyboardInterrupt:
        print("morrow: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `morrow ... | head` closed the pipe: not an error of ours
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except Exception as error:  # a bug: one line for the user, the traceback in the log file
        import structlog

        structlog.get_logger("morrow.cli").exception("crashed")
        from morrow.agent.logs import scrub

        shown = scrub(str(error))
        print(f"morrow: internal error: {type(error).__name__}: {shown}", file=sys.stderr)
        return 1
    finally:
        from morrow.agent import logs

        logs.close()


def _setup_logging(args: argparse.Namespace) -> None:
    from morrow.agent import logs
    from morrow.agent.config import Paths

    paths = Paths.resolve(home=args.home, config=args.config)
    logs.configure(
        level=args.log_level or "warning",
        log_dir=paths.logs,
        json_console=args.log_json,
    )


def entry() -> None:
    """Console-script entry point."""
    sys.exit(main())


if __name__ == "__main__":
    entry()
