"""Configuration: where morrow's files live and what config.toml may say.

Resolution (DESIGN.md, "Command-line contract"): the home is ``--home``, else ``$MORROW_HOME``,
else the platform's data directory. The config file is ``--config``, else ``$MORROW_CONFIG``,
else ``<home>/config.toml`` when a home was given, else the platform's config directory.
Relative paths inside the config are relative to the home.

Every key is checked: an unknown key, a wrong type or a missing environment variable is a
:class:`~morrow.agent.errors.ConfigError` naming the key and the file, never a traceback.
"""

from __future__ import annotations

import os
import re
import tomllib
from dataclasses import dataclass
from datetime import time
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from morrow.agent.errors import ConfigError

ProviderKind = Literal["anthropic", "openai", "gemini"]
ApprovalMode = Literal["ask", "deny", "allow-writes", "allow"]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class UserConfig(_Section):
    """``[user]``: who the assistant works for."""

    timezone: str = "UTC"
    name: str | None = None
    email: str | None = None
    working_hours: str = "09:00-17:00"

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown IANA time zone {value!r}") from None
        return value

    @field_validator("working_hours")
    @classmethod
    def _hours(cls, value: str) -> str:
        parse_hours(value)
        return value

    @property
    def zone(self) -> ZoneInfo:
        """The user's zone."""
        return ZoneInfo(self.timezone)

    @property
    def work_day(self) -> tuple[time, time]:
        """Start and end of the working day, local time."""
        return parse_hours(self.working_hours)


def parse_hours(value: str) -> tuple[time, time]:
    """Read ``"HH:MM-HH:MM"`` into two times; the start must come before the end."""
    match = re.fullmatch(r"\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*", value)
    if not match:
        raise ValueError(f"expected HH:MM-HH:MM, got {value!r}")
    h1, m1, h2, m2 = (int(g) for g in match.groups())
    try:
        start, end = time(h1, m1), time(h2, m2)
    except ValueError as exc:
        raise ValueError(f"{value!r}: {exc}") from None
    if start >= end:
        raise ValueError(f"{value!r}: the day must start before it ends")
    return start, end


class ProviderConfig(_Section):
    """One ``[[providers]]`` entry; they are tried in the order written."""

    name: str
    kind: ProviderKind
    model: str
    api_key_env: str | None = None
    base_url: str | None = None
    timeout_seconds: Annotated[float, Field(gt=0)] = 60.0
    max_output_tokens: Annotated[int, Field(gt=0)] = 4096
    # the retry policy of this provider (agent/providers/resilience.py)
    max_attempts: Annotated[int, Field(ge=1, le=20)] = 3
    backoff_initial_seconds: Annotated[float, Field(ge=0)] = 1.0
    backoff_max_seconds: Annotated[float, Field(ge=0)] = 30.0
    retry_after_cap_seconds: Annotated[float, Field(ge=0)] = 60.0


class CalendarConfig(_Section):
    """``[calendar]``: where events live.

    ``path`` is for ``ics``; ``calendar_id`` for ``google``; ``url``, ``username``,
    ``password_env`` and ``calendar_name`` for ``caldav`` (see config.example.toml).
    """

    backend: Literal["ics", "google", "caldav"] = "ics"
    path: str = "calendar.ics"
    calendar_id: str = "primary"
    url: str | None = None
    username: str | None = None
    password_env: str | None = None
    calendar_name: str | None = None


class GoogleConfig(_Section):
    """``[google]``: the OAuth client and token shared by Google Calendar and Gmail."""

    client_secrets: str | None = None
    token: str = "google-token.json"
    writes: bool = False


class SmtpConfig(_Section):
    """``[email.smtp]``: where sent mail is submitted (maildir and imap backends)."""

    host: str
    port: Annotated[int, Field(gt=0, lt=65536)] | None = None
    security: Literal["starttls", "tls", "none"] = "starttls"
    username: str | None = None
    password_env: str | None = None
    from_: str | None = Field(default=None, alias="from")
    timeout_seconds: Annotated[float, Field(gt=0)] = 60.0


class ImapConfig(_Section):
    """``[email.imap]``: the IMAP server of the ``imap`` backend."""

    host: str
    port: Annotated[int, Field(gt=0, lt=65536)] | None = None
    security: Literal["tls", "starttls", "none"] = "tls"
    username: str
    password_env: str
    sent_folder: str | None = None
    drafts_folder: str | None = None
    archive_folder: str | None = None
    save_sent: bool = True
    timeout_seconds: Annotated[float, Field(gt=0)] = 60.0


class EmailConfig(_Section):
    """``[email]``: where mail lives, how it is sent, and the address book."""

    backend: Literal["maildir", "gmail", "imap"] = "maildir"
    path: str = "Mail"
    contacts: str | None = None
    smtp: SmtpConfig | None = None
    imap: ImapConfig | None = None

    @model_validator(mode="after")
    def _backend_settings(self) -> EmailConfig:
        if self.backend == "imap" and self.imap is None:
            raise PydanticCustomError(
                "missing_section",
                'backend = "imap" needs an [email.imap] section (host, username, password_env)',
            )
        return self


class ApprovalsConfig(_Section):
    """``[approvals]``: what may happen without asking."""

    mode: ApprovalMode = "ask"


class AgentConfig(_Section):
    """``[agent]``: limits of one turn."""

    max_steps: Annotated[int, Field(gt=0, le=100)] = 12
    stream: bool = True


class MemoryConfig(_Section):
    """``[memory]``: how much history a request carries, and the long-term facts.

    Attributes:
        context_budget: share of the model's context window a request may fill.
        context_windows: context windows in tokens by model name prefix, over the built-in
            table (``agent/context.py``), e.g. ``{"llama3.2" = 32768}``.
        keep_turns: the newest turns always sent verbatim (when the budget allows).
        max_tool_result_chars: tool results longer than this are cut in requests.
        summarize_with_model: false: fold old turns with the deterministic summary only.
        prompt_facts: remembered facts put into the system prompt (0: none).
    """

    context_budget: Annotated[float, Field(ge=0.1, le=1.0)] = 0.75
    context_windows: dict[str, Annotated[int, Field(ge=1024)]] = Field(default_factory=dict)
    keep_turns: Annotated[int, Field(ge=1, le=50)] = 2
    max_tool_result_chars: Annotated[int, Field(ge=1000)] = 20_000
    summarize_with_model: bool = True
    prompt_facts: Annotated[int, Field(ge=0, le=50)] = 12


class ResilienceConfig(_Section):
    """``[resilience]``: how long one model step may take, and how long a failure is held."""

    step_deadline_seconds: Annotated[float, Field(gt=0)] = 180.0
    cool_down_seconds: Annotated[float, Field(ge=0)] = 600.0


class BudgetConfig(_Section):
    """``[budget]``: limits that stop a run before the request that would cross them."""

    per_run_usd: Annotated[float, Field(ge=0)] | None = None
    per_day_usd: Annotated[float, Field(ge=0)] | None = None
    per_run_tokens: Annotated[int, Field(ge=0)] | None = None
    per_day_tokens: Annotated[int, Field(ge=0)] | None = None


class PriceConfig(_Section):
    """``[prices."model"]``: USD per million tokens; cache prices default to the input price."""

    input: Annotated[float, Field(ge=0)]
    output: Annotated[float, Field(ge=0)]
    cache_read: Annotated[float, Field(ge=0)] | None = None
    cache_write: Annotated[float, Field(ge=0)] | None = None


class Config(_Section):
    """The whole config.toml."""

    user: UserConfig = UserConfig()
    providers: list[ProviderConfig] = Field(default_factory=list)
    calendar: CalendarConfig = CalendarConfig()
    google: GoogleConfig = GoogleConfig()
    email: EmailConfig = EmailConfig()
    approvals: ApprovalsConfig = ApprovalsConfig()
    agent: AgentConfig = AgentConfig()
    memory: MemoryConfig = MemoryConfig()
    resilience: ResilienceConfig = ResilienceConfig()
    budget: BudgetConfig = BudgetConfig()
    prices: dict[str, PriceConfig] = Field(default_factory=dict)

    @field_validator("providers")
    @classmethod
    def _unique_names(cls, value: list[ProviderConfig]) -> list[ProviderConfig]:
        names = [p.name for p in value]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"provider names must be unique; repeated: {', '.join(duplicates)}")
        return value


@dataclass(frozen=True)
class Paths:
    """Where this run reads and writes.

    Attributes:
        home: root for data and state; relative config paths are resolved against it.
        config: the config file (it may not exist).
        config_explicit: whether the user named the config file (then it must exist).
        logs: folder of the JSON log file.
    """

    home: Path
    config: Path
    config_explicit: bool
    logs: Path

    @classmethod
    def resolve(cls, *, home: str | None = None, config: str | None = None) -> Paths:
        """Work out the paths from flags, then the environment, then the platform defaults."""
        home = home or os.environ.get("MORROW_HOME") or None
        config = config or os.environ.get("MORROW_CONFIG") or None
        if home:
            root = Path(home).expanduser().resolve()
            logs = root / "logs"
            default_config = root / "config.toml"
        else:
            import platformdirs

            root = platformdirs.user_data_path("morrow")
            logs = platformdirs.user_log_path("morrow")
            default_config = platformdirs.user_config_path("morrow") / "config.toml"
        config_path = Path(config).expanduser().resolve() if config else default_config
        return cls(home=root, config=config_path, config_explicit=bool(config), logs=logs)

    def resolve_path(self, value: str) -> Path:
        """A path from the config: ``~`` expanded, relative paths taken from the home."""
        path = Path(value).expanduser()
        return path if path.is_absolute() else self.home / path


def load_config(paths: Paths) -> Config:
    """Read and check the config file; a missing default file means the defaults."""
    if not paths.config.exists():
        if paths.config_explicit:
            raise ConfigError(f"{paths.config}: no such config file")
        return Config()
    try:
        raw = tomllib.loads(paths.config.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{paths.config}: not valid TOML: {exc}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{paths.config}: cannot read: {exc}") from None
    return parse_config(raw, source=str(paths.config))


def parse_config(raw: dict[str, Any], *, source: str) -> Config:
    """Validate a parsed TOML document, naming the first bad key and the file on failure."""
    try:
        return Config.model_validate(raw)
    except ValidationError as exc:
        error = exc.errors(include_url=False)[0]
        key = _key_path(error["loc"], raw)
        message = error["msg"]
        if error["type"] == "extra_forbidden":
            message = "unknown key"
        elif error["type"] == "missing":
            message = "missing required key"
        more = f" (and {exc.error_count() - 1} more problems)" if exc.error_count() > 1 else ""
        raise ConfigError(f"{source}: {key}: {message}{more}") from None


def _key_path(loc: tuple[int | str, ...], raw: dict[str, Any]) -> str:
    """``("providers", 0, "kind")`` -> ``providers[0].kind`` (and the provider's name if any)."""
    out = ""
    node: Any = raw
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
        node = node[part] if isinstance(node, dict | list) and _has(node, part) else None  # type: ignore[index]
    return out or "config"


def _has(node: dict[str, Any] | list[Any], part: int | str) -> bool:
    if isinstance(node, dict):
        return part in node
    return isinstance(part, int) and 0 <= part < len(node)


def api_key_for(provider: ProviderConfig, index: int, source: str) -> str:
    """The provider's API key from the environment variable its config names.

    A local server reached through ``base_url`` may need no key: then a placeholder is used.
    """
    if provider.api_key_env is None:
        if provider.base_url is not None:
            return "not-needed"
        raise ConfigError(
            f"{source}: providers[{index}].api_key_env: missing required key "
            f"(the environment variable that holds the {provider.kind} API key)"
        )
    key = os.environ.get(provider.api_key_env, "").strip()
    if not key:
        raise ConfigError(
            f"{source}: providers[{index}].api_key_env: environment variable "
            f"{provider.api_key_env} is not set (provider {provider.name!r})"
        )
    return key
