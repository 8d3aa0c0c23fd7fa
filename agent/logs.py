"""Logging: readable lines on stderr for people, JSON lines in a file for machines.

Every event carries the run id (and whatever the loop binds: step, provider, model, latency,
tokens). A redaction processor removes anything that looks like an API key or token before an
event is written anywhere; message and email bodies are never logged at info level.
"""

from __future__ import annotations

import json
import logging
import os
import re
import sys
import uuid
from pathlib import Path
from typing import Any, TextIO


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
# OAuth access and refresh tokens, bearer credentials.
_SECRETS = re.compile(
    r"sk-ant-[A-Za-z0-9_\-]{8,}"
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


_SHORTEST_SECRET = 8  # no pattern above, and no secret from the environment, is shorter


def scrub(text: str) -> str:
    """``text`` with the environment's secrets and key-shaped strings redacted.

    The same redaction as the logs get, for error output (``agent/cli.py``) and trajectory
    files (``evals/trajectory.py``).
    """
    secrets = [
        value
        for name, value in os.environ.items()
        if name.endswith(("_API_KEY", "_TOKEN", "_SECRET", "_PASSWORD"))
        and len(value) >= _SHORTEST_SECRET
    ]
    return redact(text, sorted(secrets, key=len, reverse=True))


def _is_secret_key(key: str) -> bool:
    """Whether a value logged under this name is a secret (token counts are not)."""
    return bool(_SECRET_KEYS.search(key)) and key != "tokens" and not key.endswith("_tokens")


class _Redactor:
    """structlog processor: no secret leaves the process through a log.

    It runs on every event, so it is kept cheap: the secrets from the environment are folded
    into the one pattern, the verdict on each key name is remembered (events reuse a handful
    of names), and strings too short to hold a secret are not scanned.
    """

    def __init__(self) -> None:
        secrets = sorted(
            (
                value
                for name, value in os.environ.items()
                if name.endswith(("_API_KEY", "_TOKEN", "_SECRET", "_PASSWORD"))
                and len(value) >= _SHORTEST_SECRET
            ),
            key=len,
            reverse=True,  # the longest first, so one secret inside another goes whole
        )
        known = "|".join(re.escape(secret) for secret in secrets)
        self.pattern = re.compile(f"{known}|{_SECRETS.pattern}" if known else _SECRETS.pattern)
        self.secret_keys: dict[str, bool] = {}

    def __call__(self, _: WrappedLogger, __: str, event: EventDict) -> EventDict:
        secret_keys = self.secret_keys
        for key, value in event.items():
            secret = secret_keys.get(key)
            if secret is None:
                secret = secret_keys[key] = _is_secret_key(key)
            if secret:
                event[key] = "[redacted]"
            elif isinstance(value, str) and len(value) >= _SHORTEST_SECRET:
                event[key] = self.pattern.sub("[redacted]", value)
        return event


class _Tee:
    """structlog processor: send events to the JSON file and let some through to the console.

    Events at or above ``file_level`` are written to the file; only those at or above
    ``console_level`` go on to the console renderer.
    """

    def __init__(self, file: TextIO | None, file_level: int, console_level: int) -> None:
        self.file = file
        self.file_level = file_level
        self.console_level = console_level

    def __call__(self, _: WrappedLogger, method: str, event: EventDict) -> EventDict:
        level = LEVELS.get(method, 20)
        if self.file is not None and level >= self.file_level:
            self.file.write(json.dumps(event, default=str, ensure_ascii=False) + "\n")
            self.file.flush()
        if level < self.console_level:
            raise structlog.DropEvent
        return event


_open_files: list[TextIO] = []


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
) -> str:
    """Set up structlog for this process and return the run id bound to every event."""
    run_id = uuid.uuid4().hex[:12]
    close()
    file: TextIO | None = None
    if log_dir is not None:
        try:
            log_dir.mkdir(parents=True, exist_ok=True)
            file = (log_dir / "morrow.jsonl").open("a", encoding="utf-8")
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
