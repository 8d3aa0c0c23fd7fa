"""Logging: readable lines on stderr for people, JSON lines in a file for machines.

Every event carries the run id (and whatever the loop binds: step, provider, model, latency,
tokens). A redaction processor removes anything that looks like an API key or token, and every
secret the config read (:mod:`morrow.agent.credentials`), before an event is written anywhere;
message and email bodies are never logged at info level. The JSON file (``morrow.jsonl``,
mode 0600) is rotated by size with the standard library's ``RotatingFileHandler``; a command may
name its own file (``morrow eval`` writes ``evals.jsonl``, so replayed runs stay out of the
user's log).
"""

from __future__ import annotations

import io
import json
import logging
import logging.handlers
import os
import re
import sys
import uuid
from pathlib import Path
from typing import Any, TextIO

from morrow.agent import credentials


def _import_structlog_without_rich() -> None:
    """Import structlog as if rich were not installed.

    structlog imports rich, when it finds it, for pretty tracebacks morrow does not use
    (console lines are plain; a traceback goes to the JSON log as text), and rich brings
    pygments: about 50 ms on every start, a third of a no-model briefing's imports. A None
    entry in ``sys.modules`` makes an import fail as if the module were absent; it is removed
    right after, so the REPL imports rich as usual. Nothing changes if either came first.
    """
    if "structlog" in sys.modules or "rich" in sys.modules:
        return
    sys.modules["rich"] = None  # type: ignore[assignment]
    try:
        import structlog  # noqa: F401
    finally:
        del sys.modules["rich"]


_import_structlog_without_rich()

import structlog  # noqa: E402
from structlog.types import EventDict, WrappedLogger  # noqa: E402

LEVELS = {"debug": 10, "info": 20, "warning": 30, "error": 40, "critical": 50}

# One alternation, so a log line is scanned once: Anthropic and OpenAI keys, Google API keys,
# OAuth access and refresh tokens, bearer credentials, the password of a URL's user info
# (``http://user:password@host``: a base_url with basic auth).
_SECRETS = re.compile(
    r"(?<=://)[^/\s:@]*:[^/\s@]+(?=@)"
    r"|sk-ant-[A-Za-z0-9_\-]{8,}"
    r"|sk-[A-Za-z0-9_\-]{16,}"
    r"|AIza[0-9A-Za-z_\-]{20,}"
    r"|ya29\.[0-9A-Za-z_\-\.]{10,}"
    r"|1//[0-9A-Za-z_\-]{20,}"
    r"|(?i:(?<=bearer )[A-Za-z0-9_\-\.=]{12,})"
)
_SECRET_KEYS = re.compile(r"(?i)(api[_-]?key|authorization|token|secret|password)")


def redact(text: str, secrets: list[str] | None = None) -> str:
    """Replace known secret values and anything shaped like a key or token with ``[redacted]``."""
    for secret in secrets or ():
        if len(secret) >= 8:
            text = text.replace(secret, "[redacted]")
    return _SECRETS.sub("[redacted]", text)


def scrub(text: str) -> str:
    """``text`` with the secrets this process knows and key-shaped strings redacted.

    The same redaction as the logs get, for error output (``agent/cli.py``) and trajectory
    files (``evals/trajectory.py``); the secrets are :func:`credentials.known_secrets`.
    """
    return redact(text, credentials.known_secrets())


def _is_secret_key(key: str) -> bool:
    """Whether a value logged under this name is a secret (token counts are not)."""
    return bool(_SECRET_KEYS.search(key)) and key != "tokens" and not key.endswith("_tokens")


class _Redactor:
    """structlog processor: no secret leaves the process through a log.

    It runs on every event, so it is kept cheap: the known secrets are folded into the one
    pattern (built again only when the config has handed out another one), the verdict on
    each key name is remembered (events reuse a handful of names), and strings too short to
    hold a secret are not scanned.
    """

    def __init__(self) -> None:
        self.secret_keys: dict[str, bool] = {}
        self._build()

    def _build(self) -> None:
        self.generation = credentials.handed_out()
        known = "|".join(re.escape(secret) for secret in credentials.known_secrets())
        self.pattern = re.compile(f"{known}|{_SECRETS.pattern}" if known else _SECRETS.pattern)

    def __call__(self, _: WrappedLogger, __: str, event: EventDict) -> EventDict:
        if self.generation != credentials.handed_out():
            self._build()
        secret_keys = self.secret_keys
        for key, value in event.items():
            secret = secret_keys.get(key)
            if secret is None:
                secret = secret_keys[key] = _is_secret_key(key)
            if secret:
                event[key] = "[redacted]"
            elif isinstance(value, str) and len(value) >= credentials.SHORTEST_SECRET:
                event[key] = self.pattern.sub("[redacted]", value)
        return event


LOG_FILE = "morrow.jsonl"
MAX_BYTES = 10 * 1024 * 1024  # then morrow.jsonl becomes morrow.jsonl.1, .1 becomes .2 ...
BACKUPS = 3  # rotated files kept: at most about 40 MiB of logs in all


class _LogFile(logging.handlers.RotatingFileHandler):
    """The JSON log file: private (0600), rotated by size, shared by concurrent runs.

    The REPL and a cron briefing may write at once, each with its own handler. Appends are
    whole lines (``O_APPEND``); the size is measured at the file's end, whoever wrote there;
    and a run whose file was rotated away by another reopens the new one before writing, so
    no run keeps filling ``morrow.jsonl.1``.
    """

    def _open(self) -> io.TextIOWrapper:
        def private(path: str, flags: int) -> int:
            return os.open(path, flags, 0o600)

        stream = open(self.baseFilename, "a", encoding="utf-8", opener=private)
        os.fchmod(stream.fileno(), 0o600)  # also a file an older morrow made under the umask
        return stream

    def emit(self, record: logging.LogRecord) -> None:
        if self.stream is not None and self._rotated_away(self.stream):
            self.stream.close()
            self.stream = None  # FileHandler opens the file again when it has no stream
        super().emit(record)

    def _rotated_away(self, stream: io.TextIOWrapper) -> bool:
        try:
            on_disk = os.stat(self.baseFilename)
        except FileNotFoundError:
            return True
        mine = os.fstat(stream.fileno())
        return (on_disk.st_dev, on_disk.st_ino) != (mine.st_dev, mine.st_ino)


class _Tee:
    """structlog processor: send events to the JSON file and let some through to the console.

    Events at or above ``file_level`` are written to the file; only those at or above
    ``console_level`` go on to the console renderer.
    """

    def __init__(self, file: logging.Handler | None, file_level: int, console_level: int) -> None:
        self.file = file
        self.file_level = file_level
        self.console_level = console_level

    def __call__(self, _: WrappedLogger, method: str, event: EventDict) -> EventDict:
        level = LEVELS.get(method, 20)
        file_only = event.pop(FILE_ONLY, False)
        if self.file is not None and level >= self.file_level:
            line = json.dumps(event, default=str, ensure_ascii=False)
            self.file.handle(logging.makeLogRecord({"msg": line, "levelno": level}))
        if level < self.console_level or file_only:
            raise structlog.DropEvent
        return event


FILE_ONLY = "_file_only"
"""An event key: write the event to the log file, never to the console."""


def crashed(event: str) -> None:
    """Log the exception being handled, with its traceback, to the log file only.

    The CLI tells the user about a crash in one line itself; the traceback on stderr too
    would be the very noise that line replaces.
    """
    structlog.get_logger("morrow.cli").exception(event, **{FILE_ONLY: True})


_open_files: list[logging.Handler] = []


def close() -> None:
    """Close the log file of the previous :func:`configure` (events then go to stderr only)."""
    while _open_files:
        _open_files.pop().close()
    if structlog.is_configured():
        structlog.reset_defaults()


def configure(
    *,
    level: str = "warning",
    file_level: str = "info",
    log_dir: Path | None = None,
    json_console: bool = False,
    stream: TextIO | None = None,
    max_bytes: int = MAX_BYTES,
    backups: int = BACKUPS,
    file_name: str = LOG_FILE,
) -> str:
    """Set up structlog for this process and return the run id bound to every event.

    Args:
        level: the console's level.
        file_level: the JSON log file's level.
        log_dir: the folder of ``morrow.jsonl`` (None: no file).
        json_console: JSON lines on the console instead of readable ones.
        stream: the console (default stderr).
        max_bytes: the file's size before it is rotated.
        backups: rotated files kept (``morrow.jsonl.1`` ...).
        file_name: the log file's name in ``log_dir`` (``morrow eval`` keeps its own).
    """
    run_id = uuid.uuid4().hex[:12]
    close()
    file: logging.Handler | None = None
    if log_dir is not None:
        try:
            log_dir.mkdir(parents=True, exist_ok=True)
            file = _LogFile(log_dir / file_name, maxBytes=max_bytes, backupCount=backups)
        except OSError:
            file = None  # logging must never stop the assistant; stderr still works
    if file is not None:
        _open_files.append(file)
    renderer: Any = (
        structlog.processors.JSONRenderer()
        if json_console
        else structlog.dev.ConsoleRenderer(colors=False)
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.format_exc_info,
            _Redactor(),  # before the level and time are added: they hold no secret
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            _Tee(file, LEVELS[file_level], LEVELS[level]),
            renderer,
        ],
        logger_factory=structlog.PrintLoggerFactory(stream or sys.stderr),
        wrapper_class=structlog.make_filtering_bound_logger(
            min(LEVELS[level], LEVELS[file_level] if file else logging.CRITICAL)
        ),
        cache_logger_on_first_use=False,
    )
    structlog.contextvars.clear_contextvars()
    structlog.contextvars.bind_contextvars(run_id=run_id)
    return run_id
