"""Wiring: from the resolved paths and config to a workspace, tools, a provider and a gate.

The CLI, the REPL and the briefing are thin callers of this; tests build an :class:`App` over a
temporary home with an injected clock and provider.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from agent.approvals import ApprovalGate, AskCallback, Mode
from agent.config import Config, Paths, load_config
from agent.errors import ConfigError
from agent.prompt import system_prompt
from tools.workspace import Workspace, system_clock

if TYPE_CHECKING:
    import httpx2

    from agent.config import ProviderConfig
    from agent.health import HealthStore
    from agent.providers.base import Provider
    from agent.providers.resilience import RetryingProvider, Timing
    from memory.store import Store
    from tools.base import ToolRegistry
    from tools.calendar.backend import CalendarBackend
    from tools.email.backend import MailBackend
    from tools.email.smtp import SmtpSettings


@dataclass
class App:
    """One run's view of the user's setup."""

    paths: Paths
    config: Config
    clock: Callable[[], datetime] = system_clock
    _workspace: Workspace | None = field(default=None, init=False, repr=False)

    @classmethod
    def load(cls, *, home: str | None = None, config: str | None = None) -> App:
        """Resolve paths and read the config (raises ConfigError when it is invalid)."""
        paths = Paths.resolve(home=home, config=config)
        return cls(paths=paths, config=load_config(paths))

    def workspace(self) -> Workspace:
        """The calendar and mailbox the config names, with the user's zone and hours."""
        if self._workspace is None:
            from tools.memory import MemoryAccess

            zone = self.config.user.zone
            start, end = self.config.user.work_day
            self._workspace = Workspace(
                calendar=self._calendar(),
                mail=self._mail(),
                timezone=zone,
                clock=self.clock,
                work_start=start,
                work_end=end,
                user_email=self.config.user.email,
                contacts_file=(
                    self.paths.resolve_path(self.config.email.contacts)
                    if self.config.email.contacts
                    else None
                ),
                memory=MemoryAccess(path=self.store_path),
            )
        return self._workspace

    def _calendar(self) -> CalendarBackend:
        """The calendar backend ``[calendar] backend`` names (ics, google or caldav)."""
        from agent.auth import calendar_backend

        return calendar_backend(self.config, self.paths, self.clock)

    def _mail(self) -> MailBackend:
        """The mail backend ``[email] backend`` names (maildir, gmail or imap).

        The Maildir's search index lives under the home (``index/mail.sqlite``); Gmail uses
        the OAuth token shared with Google Calendar, loaded on first use; IMAP and SMTP read
        their passwords from the environment variables the config names.
        """
        email, user, source = self.config.email, self.config.user, str(self.paths.config)
        address = (email.smtp.from_ if email.smtp else None) or (
            f"{user.name} <{user.email}>" if user.name and user.email else user.email
        )
        if email.backend == "gmail":
            from agent.auth import google_scopes
            from tools.email.gmail import GmailMailbox

            scopes, token = google_scopes(self.config, source), self.config.google.token

            def service() -> object:
                from tools.google_auth import build_service, load_credentials

                creds = load_credentials(self.paths.resolve_path(token), scopes)
                return build_service("gmail", "v1", creds)

            return GmailMailbox(service, address=address)
        smtp = self._smtp(source)
        if email.backend == "imap":
            return self._imap(source, address, smtp)
        from tools.email.maildir import MaildirMailbox

        return MaildirMailbox(
            self.paths.resolve_path(email.path),
            index_path=self.paths.home / "index" / "mail.sqlite",
            address=address,
            smtp=smtp,
        )

    def _smtp(self, source: str) -> SmtpSettings | None:
        from tools.email.smtp import SmtpSettings

        smtp = self.config.email.smtp
        if smtp is None:
            return None
        password = _secret(source, "email.smtp.password_env", smtp.password_env)
        try:
            return SmtpSettings(
                host=smtp.host,
                port=smtp.port,
                security=smtp.security,
                username=smtp.username,
                password=password,
                timeout=smtp.timeout_seconds,
            )
        except ValueError as exc:
            raise ConfigError(f"{source}: email.smtp.security: {exc}") from None

    def _imap(self, source: str, address: str | None, smtp: SmtpSettings | None) -> MailBackend:
        from tools.email.imap import ImapMailbox, ImapSettings

        imap = self.config.email.imap
        assert imap is not None  # EmailConfig requires [email.imap] for this backend
        try:
            settings = ImapSettings(
                host=imap.host,
                port=imap.port,
                security=imap.security,
                username=imap.username,
                password=_secret(source, "email.imap.password_env", imap.password_env) or "",
                sent_folder=imap.sent_folder,
                drafts_folder=imap.drafts_folder,
                archive_folder=imap.archive_folder,
                save_sent=imap.save_sent,
                timeout=imap.timeout_seconds,
            )
        except ValueError as exc:
            raise ConfigError(f"{source}: email.imap.security: {exc}") from None
        return ImapMailbox(settings, address=address, smtp=smtp)

    def tools(self) -> ToolRegistry:
        """Every tool this build offers."""
        from tools.base import ToolRegistry
        from tools.catalog import all_tools

        return ToolRegistry(all_tools())

    def provider(
        self,
        name: str | None = None,
        *,
        http_client: httpx2.AsyncClient | None = None,
        timing: Timing | None = None,
    ) -> Provider:
        """The provider a run asks, behind the retry policy, the budget and the usage ledger.

        With ``name`` (``--provider NAME``), that provider alone. Otherwise every configured
        provider as a fallback chain, recently failed ones last (``agent/health.py``); a single
        configured provider is used alone. Adapters of a chain are built on first use (a
        provider that is never needed never imports its SDK).

        Raises:
            ConfigError: no provider is configured, ``name`` is unknown, or the key of a
                provider asked for is not set.
        """
        from agent.costs import MeteredProvider, PriceTable
        from agent.providers.resilience import FallbackProvider, Timing

        source = str(self.paths.config)
        chosen = self._chosen_providers(name, source)
        timing = timing or Timing()
        inner: Provider
        if len(chosen) == 1:
            inner = self._retrying(*chosen[0], source, http_client, timing, deferred=False)
        else:
            members = [self._retrying(i, c, source, http_client, timing) for i, c in chosen]
            inner = FallbackProvider(
                members,
                step_deadline=self.config.resilience.step_deadline_seconds,
                health=self.health(),
                clock=timing.clock,
            )
        return MeteredProvider(
            inner,
            prices=PriceTable(self.config.prices),
            budget=self.config.budget,
            ledger_path=self.paths.home / "state" / "usage.sqlite",
            today=self.today,
            models=[config.model for _, config in chosen],
        )

    def _chosen_providers(self, name: str | None, source: str) -> list[tuple[int, ProviderConfig]]:
        from agent.config import api_key_for

        providers = self.config.providers
        if not providers:
            raise ConfigError(
                f"{source}: providers: no [[providers]] configured "
                "(see config.example.toml, or run `morrow init`)"
            )
        chosen = [(i, p) for i, p in enumerate(providers) if name is None or p.name == name]
        if not chosen:
            known = ", ".join(p.name for p in providers)
            raise ConfigError(f"{source}: providers: no provider named {name!r} (known: {known})")
        for index, config in chosen:
            # A key that is not set is a mistake to fix, not an outage to route around.
            api_key_for(config, index, source)
        return chosen

    def _retrying(
        self,
        index: int,
        config: ProviderConfig,
        source: str,
        http_client: httpx2.AsyncClient | None,
        timing: Timing,
        *,
        deferred: bool = True,
    ) -> RetryingProvider:
        from agent.providers import build_provider
        from agent.providers.resilience import DeferredProvider, RetryingProvider, RetryPolicy

        def build() -> Provider:
            return build_provider(config, index=index, source=source, http_client=http_client)

        adapter = DeferredProvider(config.name, config.model, build) if deferred else build()
        return RetryingProvider(
            adapter,
            RetryPolicy.from_config(config),
            timing=timing,
            step_deadline=self.config.resilience.step_deadline_seconds,
            health=self.health(),
        )

    def health(self) -> HealthStore:
        """The providers' health, remembered under ``<home>/state``."""
        from agent.health import HealthStore

        return HealthStore(
            self.paths.home / "state", cool_down=self.config.resilience.cool_down_seconds
        )

    def today(self) -> date:
        """The user's local date now (the day the usage ledger and the day budget count)."""
        return self.clock().astimezone(self.config.user.zone).date()

    def gate(self, *, interactive: bool, ask: AskCallback | None = None) -> ApprovalGate:
        """The approval gate of this run; ``ask`` mode with nobody to ask refuses effects."""
        mode: Mode = self.config.approvals.mode
        if mode == "ask" and (not interactive or ask is None):
            mode = "deny"
        return ApprovalGate(mode=mode, ask=ask)

    @property
    def store_path(self) -> Path:
        """The conversation store: sessions, messages, summaries, facts."""
        return self.paths.home / "morrow.sqlite"

    def store(self) -> Store:
        """The conversation store, opened (created and migrated when needed); close it after.

        Raises:
            MemoryStoreError: the file cannot be used.
        """
        from memory.store import Store

        return Store.open(self.store_path)

    def system_prompt(self, facts: Sequence[str] = ()) -> str:
        """The system prompt for a turn starting now, with the remembered ``facts`` given."""
        return system_prompt(self.config.user, self.clock(), facts)


def _secret(source: str, key: str, variable: str | None) -> str | None:
    """The value of the environment variable a ``*_env`` key names (None when not named)."""
    import os

    if variable is None:
        return None
    value = os.environ.get(variable, "")
    if not value:
        raise ConfigError(f"{source}: {key}: environment variable {variable} is not set")
    return value
