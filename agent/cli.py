"""The ``morrow`` command line (DESIGN.md, "Command-line contract").

Only argparse is imported at start, so ``morrow --help`` stays fast; each command imports what
it needs when it runs. Every failure is one line on stderr and the exit code of the README's
table (2 usage, 3 an asked-for effect not done, 69 no provider reachable, 75 busy, 78
configuration, 1 anything else): morrow's own errors carry their code; a file morrow cannot
read or write is 78 inside the home (where morrow keeps its data) and 1 elsewhere (``--out``);
argparse's mistakes are one line too. A bug is one line naming the log file, its traceback
only in the log.

Everything a run creates is private: the process works under umask 077 (the home, its
databases, logs, briefings and their trajectories are the user's alone). Closed standard
streams are replaced by ``/dev/null`` first, so no file morrow opens can take their place.

``morrow "a question with spaces"`` is ``morrow ask "a question with spaces"``: a first word
that is not a command and holds a space cannot be one, so it cannot clash with a command
added later. A single unknown word stays an unknown command (a typo must not reach a model).
Other packages add commands through the ``morrow.commands`` entry point group: each entry point
is a function ``register(subparsers)`` (that is how ``evals`` adds ``eval`` and ``replay``
without ``agent`` importing it).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NoReturn

Handler = Callable[[argparse.Namespace], int]

EPILOG = """\
morrow "a question?" is short for morrow ask "a question?"
exit codes: 0 ok, 1 failed, 2 usage, 3 an asked-for change not done, 69 no provider
reachable, 75 busy, 78 configuration
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


class Parser(argparse.ArgumentParser):
    """argparse with one-line errors: ``morrow ask: the following arguments are required ...``."""

    def error(self, message: str) -> NoReturn:
        """Print the mistake on one line (and where help is) and exit 2."""
        self.exit(2, f"{self.prog}: {_printable(message)} (see {self.prog} --help)\n")


def build_parser(*, plugins: bool = True) -> argparse.ArgumentParser:
    """The whole command tree.

    Args:
        plugins: load the commands other packages add; when False they are listed by name
            only (enough for the help and for running a built-in command).
    """
    parser = Parser(
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

    ask = commands.add_parser(
        "ask",
        help="one turn, non-interactive: print the answer",
        description="Ask one question. Text piped on stdin is added below it "
        '(cat notes.txt | morrow ask "summarize"); "-" or no TEXT reads the question from '
        "stdin. Exit 3 when a change the model tried was refused or failed (listed on stderr).",
    )
    ask.add_argument("text", nargs="?", help='what to ask ("-": read it from stdin)')
    _add_session_options(ask)
    ask.add_argument("-m", "--model", help="a configured provider's name or model, or a model")
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
    parser.add_argument("--session", help="continue the stored session with this id")
    parser.add_argument(
        "--new", action="store_true", help="start a new session (with --session: named so)"
    )
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
    # pydantic looks through every installed distribution for plugins on its first model
    # (about 10 ms of each command); morrow uses none. A user who sets it decides.
    os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")
    closed = _reopen_closed_streams()
    umask = os.umask(0o077)  # everything this run creates is the user's alone
    try:
        return _main(list(argv if argv is not None else sys.argv[1:]), closed)
    finally:
        os.umask(umask)


def _main(words: list[str], closed: set[str]) -> int:
    bad = next((w for w in words if not _is_utf8(w)), None)
    if bad is not None:
        shown = bad.encode("utf-8", "surrogateescape")
        print(f"morrow: an argument is not valid UTF-8: {shown!r}", file=sys.stderr)
        return 2
    words = shortcut(words)
    parser = build_parser(plugins=needs_plugins(words))
    args = parser.parse_args(words)
    if args.command is None:
        args = parser.parse_args([*words, "chat"])
    args.closed_streams = closed
    from morrow.agent.errors import AssistantError

    home: Path | None = None
    log_file: Path | None = None
    try:
        home, log_file = _setup_logging(args)
        if "stdout" in closed and not getattr(args, "out", None):
            raise _usage("standard output is closed: there is nowhere to print (use --out FILE)")
        return int(args.handler(args))
    except AssistantError as error:
        _say(str(error))
        return error.exit_code
    except KeyboardInterrupt:
        print("morrow: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `morrow ... | head` closed the pipe: not an error of ours
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except OSError as error:  # a file or folder morrow cannot use: say which, and why
        _say(_describe_os_error(error))
        return 78 if _inside(error, home) else 1
    except Exception as error:  # a bug: one line for the user, the traceback in the log file
        from morrow.agent import logs

        logs.crashed("crashed")
        where = f" (details in {log_file})" if log_file else ""
        _say(f"internal error: {type(error).__name__}: {error}{where}")
        return 1
    finally:
        from morrow.agent import logs

        logs.close()


def shortcut(words: list[str]) -> list[str]:
    """``morrow "what is on today?"`` -> ``morrow ask "what is on today?"``.

    Only a first word that is not a command and holds whitespace is taken for a question: no
    command can be named so, so the shortcut never hides one (also one added later).
    """
    for index, word in enumerate(words):
        if word in _VALUED_OPTIONS:
            continue
        if index and words[index - 1] in _VALUED_OPTIONS:
            continue
        if word.startswith("-"):
            continue
        if word not in _BUILT_IN and word not in PLUGIN_COMMANDS and any(c.isspace() for c in word):
            return [*words[:index], "ask", *words[index:]]
        return words
    return words


def _say(text: str) -> None:
    """The error on one line on stderr: secrets scrubbed, control characters escaped.

    A message of several lines (every provider's reason) is joined: ``head: a; b``.
    """
    from morrow.agent.logs import scrub

    head, *rest = [line.strip() for line in scrub(text).splitlines() if line.strip()] or [""]
    line = f"{head} {'; '.join(rest)}" if rest else head
    print(f"morrow: {_printable(line)}", file=sys.stderr)


def _printable(text: str) -> str:
    """``text`` with control characters (line breaks too) escaped: one line a terminal shows."""
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode() for c in text)


def _usage(message: str) -> Exception:
    from morrow.agent.errors import UsageError

    return UsageError(message)


def _is_utf8(word: str) -> bool:
    try:
        word.encode("utf-8")
    except UnicodeEncodeError:  # undecodable bytes in argv arrive as lone surrogates
        return False
    return True


def _describe_os_error(error: OSError) -> str:
    path = error.filename
    reason = error.strerror or str(error)
    if path is None:
        return f"cannot use a file: {reason}"
    return f"cannot use {os.fsdecode(path)}: {reason}"


def _inside(error: OSError, home: Path | None) -> bool:
    """Whether the file of ``error`` is the home or in it (then it is the set-up's problem)."""
    if home is None or error.filename is None:
        return home is None
    path = Path(os.fsdecode(error.filename))
    return path == home or home in path.parents


def _reopen_closed_streams() -> set[str]:
    """Put ``/dev/null`` on closed standard streams; return the names of those that were.

    With fd 1 closed, the next file morrow opens (the log, the store) would become fd 1 and
    receive what is printed; ``/dev/null`` keeps the number taken. Python leaves ``sys.stdout``
    None then, which is replaced too.
    """
    closed: set[str] = set()
    for fd, name in ((0, "stdin"), (1, "stdout"), (2, "stderr")):
        try:
            os.fstat(fd)
        except OSError:
            opened = os.open(os.devnull, os.O_RDONLY if fd == 0 else os.O_WRONLY)
            if opened != fd:
                os.dup2(opened, fd)
                os.close(opened)
            closed.add(name)
            if getattr(sys, name) is None:
                mode = "r" if fd == 0 else "w"
                setattr(sys, name, open(fd, mode, encoding="utf-8", closefd=False))
    return closed


def _setup_logging(args: argparse.Namespace) -> tuple[Path, Path]:
    """Logging to stderr and the log file; returns the home (checked to be a folder), the file."""
    from morrow.agent import logs
    from morrow.agent.config import Paths
    from morrow.agent.errors import ConfigError

    paths = Paths.resolve(home=args.home, config=args.config)
    if paths.home.exists() and not paths.home.is_dir():
        raise ConfigError(f"{paths.home}: the home is not a folder (--home, MORROW_HOME)")
    name = getattr(args, "log_file", logs.LOG_FILE)  # a command may keep its own log
    logs.configure(
        level=args.log_level or "warning",
        log_dir=paths.logs,
        json_console=args.log_json,
        file_name=name,
    )
    return paths.home, paths.logs / name


def entry() -> None:
    """Console-script entry point."""
    sys.exit(main())


if __name__ == "__main__":
    entry()
