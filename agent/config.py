"""Configuration: what config.toml may say, read and checked.

Where the file is (and the home its relative paths start from) is :mod:`morrow.agent.paths`.
Every key is checked: an unknown key, a wrong type or a missing environment variable is a
:class:`~morrow.agent.errors.ConfigError` of one form, ``<file>: <dotted.key>: <reason>``,
never a traceback. ``[calendar]`` and ``[email]`` are one model per backend, chosen by their
``backend`` key, each with exactly the keys its backend takes. Secrets are read by
:mod:`morrow.agent.credentials` from the variables the ``*_env`` keys name.
"""

from __future__ import annotations

import json
import re
import tomllib
from collections.abc import Callable
from datetime import time
from typing import Annotated, Any, Literal, Protocol, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import ErrorDetails

from morrow.agent.credentials import from_env, is_variable_name
from morrow.agent.errors import ConfigError
from morrow.agent.paths import Paths as Paths  # also here, beside the config it locates

ProviderKind = Literal["anthropic", "openai", "gemini", "demo"]
"""``demo`` is the offline demo model (rules, no AI, no key): ``agent/providers/demo.py``."""
ApprovalMode = Literal["ask", "deny", "allow-writes", "allow"]
"""``[approvals] mode``: what may run without asking; the gate, the CLI and the evals share it."""


def _variable_name(value: str) -> str:
    if not is_variable_name(value):  # never echo the value: it may be the secret itself
        raise ValueError("not an environment variable name (name the variable that holds it)")
    return value


EnvVariable = Annotated[str, AfterValidator(_variable_name)]
"""The name of an environment variable that holds a secret (``api_key_env``, ``password_env``)."""


class _HasName(Protocol):
    @property
    def name(self) -> str: ...


Named = TypeVar("Named", bound=_HasName)


def _unique_names(kind: str, entries: list[Named]) -> list[Named]:
    """``entries`` when no two share a name; else a ValueError naming the repeated ones."""
    names = [entry.name for entry in entries]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ValueError(f"{kind} names must be unique; repeated: {', '.join(duplicates)}")
    return entries


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
    api_key_env: EnvVariable | None = None
    base_url: str | None = None
    timeout_seconds: Annotated[float, Field(gt=0)] = 60.0
    max_output_tokens: Annotated[int, Field(gt=0)] = 4096
    # the retry policy of this provider (agent/providers/resilience.py)
    max_attempts: Annotated[int, Field(ge=1, le=20)] = 3
    backoff_initial_seconds: Annotated[float, Field(ge=0)] = 1.0
    backoff_max_seconds: Annotated[float, Field(ge=0)] = 30.0
    retry_after_cap_seconds: Annotated[float, Field(ge=0)] = 60.0


class IcsCalendarConfig(_Section):
    """``[calendar] backend = "ics"`` (the default): an iCalendar file."""

    backend: Literal["ics"] = "ics"
    path: str = "calendar.ics"


class GoogleCalendarConfig(_Section):
    """``[calendar] backend = "google"``: one Google calendar (the ``[google]`` OAuth token)."""

    backend: Literal["google"] = "google"
    calendar_id: str = "primary"


class CalDavCalendarConfig(_Section):
    """``[calendar] backend = "caldav"``: one calendar of a CalDAV server."""

    backend: Literal["caldav"] = "caldav"
    url: str
    username: str
    password_env: EnvVariable
    calendar_name: str | None = None


class _CalendarEntry(BaseModel):
    """What every ``[[calendars]]`` entry has beside its backend's keys."""

    name: Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]{0,31}$")]
    colour: str | None = None
    read_only: bool = False
    default: bool = False


class IcsCalendarEntry(IcsCalendarConfig, _CalendarEntry):
    """A ``[[calendars]]`` entry with ``backend = "ics"``: an .ics file or a folder of them."""


class GoogleCalendarEntry(GoogleCalendarConfig, _CalendarEntry):
    """A ``[[calendars]]`` entry with ``backend = "google"``: one calendar of the account."""


class CalDavCalendarEntry(CalDavCalendarConfig, _CalendarEntry):
    """A ``[[calendars]]`` entry with ``backend = "caldav"``: one CalDAV collection."""


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
    password_env: EnvVariable | None = None
    from_: str | None = Field(default=None, alias="from")
    timeout_seconds: Annotated[float, Field(gt=0)] = 60.0


class ImapConfig(_Section):
    """``[email.imap]``: the IMAP server of the ``imap`` backend."""

    host: str
    port: Annotated[int, Field(gt=0, lt=65536)] | None = None
    security: Literal["tls", "starttls", "none"] = "tls"
    username: str
    password_env: EnvVariable
    sent_folder: str | None = None
    drafts_folder: str | None = None
    archive_folder: str | None = None
    save_sent: bool = True
    timeout_seconds: Annotated[float, Field(gt=0)] = 60.0


class MaildirEmailConfig(_Section):
    """``[email] backend = "maildir"`` (the default): a local Maildir, sent through SMTP."""

    backend: Literal["maildir"] = "maildir"
    path: str = "Mail"
    contacts: str | None = None
    smtp: SmtpConfig | None = None


class GmailEmailConfig(_Section):
    """``[email] backend = "gmail"``: the Gmail API (the ``[google]`` OAuth token)."""

    backend: Literal["gmail"] = "gmail"
    contacts: str | None = None


class ImapEmailConfig(_Section):
    """``[email] backend = "imap"``: an IMAP server, sent through SMTP."""

    backend: Literal["imap"] = "imap"
    contacts: str | None = None
    imap: ImapConfig
    smtp: SmtpConfig | None = None


def _backend_of(default: str) -> Callable[[Any], str | None]:
    """The discriminator of a backend section: its ``backend`` key, ``default`` when absent."""

    def backend(value: Any) -> str | None:
        if isinstance(value, dict):
            chosen = value.get("backend", default)
            return chosen if isinstance(chosen, str) else None
        return getattr(value, "backend", None)

    return backend


# A backend section is one model per backend, chosen by its ``backend`` key, so each backend
# takes exactly its own keys (an ics calendar with a ``url`` is an error naming that key).
CalendarConfig = Annotated[
    Annotated[IcsCalendarConfig, Tag("ics")]
    | Annotated[GoogleCalendarConfig, Tag("google")]
    | Annotated[CalDavCalendarConfig, Tag("caldav")],
    Discriminator(_backend_of("ics")),
]
EmailConfig = Annotated[
    Annotated[MaildirEmailConfig, Tag("maildir")]
    | Annotated[GmailEmailConfig, Tag("gmail")]
    | Annotated[ImapEmailConfig, Tag("imap")],
    Discriminator(_backend_of("maildir")),
]
CalendarEntry = Annotated[
    Annotated[IcsCalendarEntry, Tag("ics")]
    | Annotated[GoogleCalendarEntry, Tag("google")]
    | Annotated[CalDavCalendarEntry, Tag("caldav")],
    Discriminator(_backend_of("ics")),
]
BACKENDS: dict[str, dict[str, type[_Section]]] = {
    "calendar": {
        "ics": IcsCalendarConfig,
        "google": GoogleCalendarConfig,
        "caldav": CalDavCalendarConfig,
    },
    "email": {"maildir": MaildirEmailConfig, "gmail": GmailEmailConfig, "imap": ImapEmailConfig},
    "calendars": {
        "ics": IcsCalendarEntry,
        "google": GoogleCalendarEntry,
        "caldav": CalDavCalendarEntry,
    },
}
"""Each backend section's models by backend name (the unions above, for errors and ``init``)."""


class ApprovalsConfig(_Section):
    """``[approvals]``: what may happen without asking."""

    mode: ApprovalMode = "ask"
    max_sends_per_turn: int = Field(5, ge=1, le=1000)


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


class McpServerConfig(_Section):
    """One ``[[mcp.servers]]`` entry: an external MCP server whose tools morrow may call.

    Exactly one of ``command`` (a local process spoken to over stdio) or ``url`` (streamable
    HTTP). Its tools join the registry as ``<name>.<tool>``. ``env`` holds plain values;
    ``secret_env`` names, for each variable the server needs, the variable of morrow's own
    environment that holds it (read by :mod:`morrow.agent.credentials`, never written here).
    """

    name: Annotated[
        str, Field(pattern=r"^[A-Za-z](?:[A-Za-z0-9-]|_[A-Za-z0-9-])*_?$", max_length=32)
    ]
    command: str | None = None
    args: list[str] = Field(default_factory=list)
    url: str | None = None
    env: dict[str, str] = Field(default_factory=dict)
    secret_env: dict[str, EnvVariable] = Field(default_factory=dict)
    tools: list[str] | None = None
    cwd: str | None = None
    start_timeout_seconds: Annotated[float, Field(gt=0)] = 10.0
    call_timeout_seconds: Annotated[float, Field(gt=0)] = 30.0
    max_result_chars: Annotated[int, Field(ge=1000)] = 20_000

    @model_validator(mode="after")
    def _one_transport(self) -> McpServerConfig:
        if (self.command is None) == (self.url is None):
            raise ValueError("needs exactly one of command (stdio) or url (streamable HTTP)")
        if self.url is not None and not self.url.startswith(("http://", "https://")):
            raise ValueError("url must start with http:// or https://")
        return self

    def process_env(self, source: str, index: int) -> dict[str, str]:
        """The server's extra environment: ``env``, and each ``secret_env`` variable read.

        Raises:
            ConfigError: a variable ``secret_env`` names is not set.
        """
        secrets = {
            name: from_env(variable, key=f"mcp.servers[{index}].secret_env.{name}", source=source)
            for name, variable in self.secret_env.items()
        }
        return {**self.env, **secrets}


class McpConfig(_Section):
    """``[mcp]``: external MCP servers (``[[mcp.servers]]``) and ``morrow mcp serve``."""

    servers: list[McpServerConfig] = Field(default_factory=list)
    serve_tools: list[str] | None = None

    @field_validator("servers")
    @classmethod
    def _unique_servers(cls, value: list[McpServerConfig]) -> list[McpServerConfig]:
        return _unique_names("server", value)


class Config(_Section):
    """The whole config.toml."""

    user: UserConfig = UserConfig()
    providers: list[ProviderConfig] = Field(default_factory=list)
    calendar: CalendarConfig = IcsCalendarConfig()
    calendars: list[CalendarEntry] = Field(default_factory=list)
    google: GoogleConfig = GoogleConfig()
    email: EmailConfig = MaildirEmailConfig()
    approvals: ApprovalsConfig = ApprovalsConfig()
    agent: AgentConfig = AgentConfig()
    memory: MemoryConfig = MemoryConfig()
    resilience: ResilienceConfig = ResilienceConfig()
    budget: BudgetConfig = BudgetConfig()
    prices: dict[str, PriceConfig] = Field(default_factory=dict)
    mcp: McpConfig = McpConfig()

    @field_validator("calendars")
    @classmethod
    def _calendar_names(cls, value: list[Any]) -> list[Any]:
        _unique_names("calendar", value)
        defaults = [c.name for c in value if c.default]
        if len(defaults) > 1:
            raise ValueError(
                f"only one calendar can be the default; these are: {', '.join(defaults)}"
            )
        if any(c.default and c.read_only for c in value):
            raise ValueError("the default calendar (for new events) cannot be read-only")
        return value

    @model_validator(mode="before")
    @classmethod
    def _one_calendar_form(cls, value: Any) -> Any:
        if isinstance(value, dict) and "calendar" in value and value.get("calendars"):
            raise ValueError(
                "[calendar] and [[calendars]] both given: keep one (a single [calendar], or "
                "every calendar as a [[calendars]] entry)"
            )
        return value

    def calendar_entries(self) -> list[Any]:
        """Every calendar: the ``[[calendars]]`` entries, or the one ``[calendar]`` as "main"."""
        if self.calendars:
            return list(self.calendars)
        entry = BACKENDS["calendars"][self.calendar.backend]
        return [
            entry.model_validate({**self.calendar.model_dump(), "name": "main", "default": True})
        ]

    @field_validator("providers")
    @classmethod
    def _unique_providers(cls, value: list[ProviderConfig]) -> list[ProviderConfig]:
        return _unique_names("provider", value)


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
        key, message = _explain(exc.errors(include_url=False)[0], raw)
        more = f" (and {exc.error_count() - 1} more problems)" if exc.error_count() > 1 else ""
        raise ConfigError(f"{source}: {key}: {message}{more}") from None


def _explain(error: ErrorDetails, raw: dict[str, Any]) -> tuple[str, str]:
    """The dotted key and the reason of one validation error, in the config's own terms.

    An error inside a backend section has the backend's tag in its location
    (``("calendar", "caldav", "url")``); it is taken out and named in the reason instead.
    """
    loc, kind = list(error["loc"]), error["type"]
    if kind in ("union_tag_invalid", "union_tag_not_found"):
        if loc[0] == "calendars" and len(loc) > 1:
            entries = raw.get("calendars")
            node = entries[int(loc[1])] if isinstance(entries, list) else None
            key, reason = _bad_backend("calendars", node)
            return f"calendars[{loc[1]}]{key.removeprefix('calendars')}", reason
        return _bad_backend(str(loc[0]), raw.get(str(loc[0])))
    at = 2 if loc and loc[0] == "calendars" else 1  # a list's entries: the tag after the index
    backend = str(loc.pop(at)) if len(loc) > at and loc[0] in BACKENDS else None
    key = _dotted(loc)
    model = BACKENDS[str(loc[0])][backend] if backend else None
    if kind == "extra_forbidden":
        if model is None or len(loc) != at + 1:
            return key, "unknown key"
        takes = ", ".join(name for name in model.model_fields if name != "backend") or "none"
        return key, f'not a key of backend "{backend}" (its keys: {takes})'
    if kind == "missing":
        if model is None or len(loc) != at + 1:
            return key, "missing required key"
        field = model.model_fields[str(loc[at])].annotation
        if isinstance(field, type) and issubclass(field, BaseModel):
            needs = ", ".join(n for n, f in field.model_fields.items() if f.is_required())
            return key, f'missing required section (backend "{backend}" needs [{key}]: {needs})'
        return key, f'missing required key (backend "{backend}")'
    return key, error["msg"]


def _bad_backend(section: str, node: Any) -> tuple[str, str]:
    """A backend section that names no backend it knows (or is no table at all)."""
    if not isinstance(node, dict):
        return section, "should be a table"
    names = " | ".join(BACKENDS[section])
    return f"{section}.backend", f"{json.dumps(node.get('backend'))} is not a backend ({names})"


def _dotted(loc: list[int | str]) -> str:
    """``["providers", 0, "kind"]`` -> ``providers[0].kind``."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else part
    return out or "config"


def api_key_for(provider: ProviderConfig, index: int, source: str) -> str:
    """The provider's API key from the environment variable its config names.

    A local server reached through ``base_url`` may need no key, and the offline demo model
    needs none: then a placeholder is used.

    Raises:
        ConfigError: the key's variable is not named (and no ``base_url`` is set), or not set.
    """
    key = f"providers[{index}].api_key_env"
    if provider.api_key_env is None:
        if provider.base_url is not None or provider.kind == "demo":
            return "not-needed"
        raise ConfigError(
            f"{source}: {key}: missing required key "
            f"(the environment variable that holds the {provider.kind} API key)"
        )
    return from_env(provider.api_key_env, key=key, source=source).strip()
