"""Wiring: from the resolved paths and config to a workspace, tools, a provider and a gate.

The CLI, the REPL and the briefing are thin callers of this; tests build an :class:`App` over a
temporary home with an injected clock and provider.

The App owns the process's one store (:meth:`App.store`): opened on first use, handed down to
the provider chain (health, usage ledger), the gate's effect journal, the tools' context and
the sessions, and closed by :meth:`App.close`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from morrow.agent.config import ApprovalMode, Config, Paths, load_config
from morrow.agent.context.prompt import system_prompt
from morrow.agent.errors import ConfigError, StoreError, UsageError
from morrow.tools.context import ToolContext
from morrow.tools.workspace import Workspace, system_clock

if TYPE_CHECKING:
    import httpx2

    from morrow.agent.config import ProviderConfig
    from morrow.agent.mcp.client import McpHub
    from morrow.agent.providers.base import Provider
    from morrow.agent.providers.health import HealthStore
    from morrow.agent.providers.resilience import RetryingProvider, Timing
    from morrow.agent.safety.gate import ApprovalGate, AskCallback
    from morrow.agent.safety.journal import EffectJournal
    from morrow.memory.records import UserText
    from morrow.memory.store import Store
    from morrow.tools.base import Tool, ToolRegistry
    from morrow.tools.calendar.backend import CalendarBackend
    from morrow.tools.email.backend import MailBackend


@dataclass
class App:
    """One run's view of the user's setup."""

    paths: Paths
    config: Config
    clock: Callable[[], datetime] = system_clock
    extra_tools: list[Tool] = field(default_factory=list)
    _workspace: Workspace | None = field(default=None, init=False, repr=False)
    _hub: McpHub | None = field(default=None, init=False, repr=False)
    _external: list[Tool] | None = field(default=None, init=False, repr=False)
    _store: Store | None = field(default=None, init=False, repr=False)
    _journal: EffectJournal | None = field(default=None, init=False, repr=False)

    @classmethod
    def load(cls, *, home: str | None = None, config: str | None = None) -> App:
        """Resolve paths and read the config (raises ConfigError when it is invalid)."""
        paths = Paths.resolve(home=home, config=config)
        return cls(paths=paths, config=load_config(paths))

    def workspace(self) -> Workspace:
        """The calendar and mailbox the config names, with the user's zone and hours."""
        if self._workspace is None:
            from morrow.agent.backends import contacts_file

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
                contacts_file=contacts_file(self.config, self.paths),
            )
        return self._workspace

    def _calendar(self) -> CalendarBackend:
        """The calendar backend ``[calendar] backend`` names (ics, google or caldav)."""
        from morrow.agent.backends import calendar_backend

        return calendar_backend(self.config, self.paths, self.clock, store=self.store_or_none)

    def store_or_none(self) -> Store | None:
        """The store, or None (logged) when it cannot be opened (read-only home, damaged file).

        For what can do without it: the calendar's parsed index then lives in memory for this
        run; a tool that only reads runs without the effect journal.
        """
        try:
            return self.store()
        except StoreError as exc:
            import structlog

            structlog.get_logger("morrow.app").info("calendar_index_in_memory", error=str(exc))
            return None

    def _mail(self) -> MailBackend:
        """The mail backend ``[email] backend`` names (maildir, gmail or imap)."""
        from morrow.agent.backends import mail_backend

        return mail_backend(self.config, self.paths)

    def tools(self, *, external: bool = True) -> ToolRegistry:
        """Every tool this build offers, and the external MCP servers' (``[[mcp.servers]]``).

        The servers start on the first call that wants their tools (``external``); one that
        fails is logged on one line and left out, the others and morrow's own tools remain.
        """
        from morrow.tools.base import ToolRegistry
        from morrow.tools.catalog import all_tools

        choice = self._calendar_choice()
        own = all_tools() if choice is None else all_tools(calendars=choice)
        if not external:
            return ToolRegistry(own)
        return ToolRegistry([*own, *self.external_tools(), *self.extra_tools])

    def _calendar_choice(self) -> tuple[list[str], str] | None:
        """The calendars new events may go to, and the default, when there is a choice."""
        entries = self.config.calendars
        writable = [e.name for e in entries if not e.read_only]
        if len(writable) < 2:
            return None
        chosen = [e.name for e in entries if e.default]
        return writable, (chosen or writable)[0]

    def external_tools(self) -> list[Tool]:
        """The tools of the configured MCP servers, starting them the first time."""
        if self._external is None:
            hub = self.mcp_hub()
            if hub is None:
                self._external = []
            else:
                from morrow.agent.mcp.wiring import external_tools

                self._external = external_tools(hub)
        return self._external

    def mcp_hub(self) -> McpHub | None:
        """The external MCP servers of the config (not started until their tools are asked)."""
        if self._hub is None and self.config.mcp.servers:
            from morrow.agent.mcp.wiring import open_hub

            self._hub = open_hub(self.config, self.paths)
        return self._hub

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
        from morrow.agent.providers.metering import MeteredProvider
        from morrow.agent.providers.prices import PriceTable
        from morrow.agent.providers.resilience import FallbackProvider, Timing
        from morrow.memory.ledger import Ledger

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
            prices=PriceTable.for_config(self.config),
            budget=self.config.budget,
            ledger=Ledger(self.store()),
            today=self.today,
            models=[config.model for _, config in chosen],
        )

    def _chosen_providers(self, name: str | None, source: str) -> list[tuple[int, ProviderConfig]]:
        from morrow.agent.config import api_key_for

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
        from morrow.agent.providers import build_provider
        from morrow.agent.providers.resilience import (
            DeferredProvider,
            RetryingProvider,
            RetryPolicy,
        )

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
        """The providers' health, remembered in the store."""
        from morrow.agent.providers.health import HealthStore

        return HealthStore(self.store(), cool_down=self.config.resilience.cool_down_seconds)

    def today(self) -> date:
        """The user's local date now (the day the usage ledger and the day budget count)."""
        return self.clock().astimezone(self.config.user.zone).date()

    def gate(self, *, interactive: bool, ask: AskCallback | None = None) -> ApprovalGate:
        """The approval gate of this run, with the effect journal.

        ``ask`` mode with nobody to ask refuses effects.
        """
        from morrow.agent.safety.gate import ApprovalGate

        mode: ApprovalMode = self.config.approvals.mode
        if mode == "ask" and (not interactive or ask is None):
            mode = "deny"
        return ApprovalGate(
            mode=mode,
            ask=ask,
            journal=self.journal(),
            max_sends_per_turn=self.config.approvals.max_sends_per_turn,
        )

    def journal(self) -> EffectJournal:
        """This run's effect journal, in the store (one per App: one run id)."""
        if self._journal is None:
            from morrow.agent.safety.journal import EffectJournal

            self._journal = EffectJournal(self.store())
        return self._journal

    def settle_effects(self) -> list[str]:
        """At the start of a conversation: settle what earlier runs left open, say what to tell.

        Returns the lines to show the user (none when every earlier outcome reached them):
        effects of runs that stopped before telling their outcome, each looked up where it
        can be (Sent, the calendar). Each is told once; ``morrow doctor`` lists those still
        unknown.
        """
        from morrow.agent.safety.journal import report_settled
        from morrow.memory.errors import MemoryStoreError

        try:
            entries = self.journal().settle(self.tools(external=False), self.tool_context())
        except MemoryStoreError as exc:
            return [f"the effect journal cannot be read ({exc}): earlier actions are unchecked"]
        return report_settled(entries)

    def tool_context(
        self, *, session_id: str | None = None, said: Sequence[UserText] = ()
    ) -> ToolContext:
        """The tools' context for a turn: the workspace, the store, the session, its words.

        Raises:
            StoreError: the store cannot be opened.
        """
        return ToolContext(
            workspace=self.workspace(), store=self.store(), session_id=session_id, said=tuple(said)
        )

    @property
    def store_path(self) -> Path:
        """The store: sessions, messages, facts, journal, usage ledger, health, undo state."""
        return self.paths.home / "morrow.sqlite"

    def store(self) -> Store:
        """The process's store, opened once (created, migrated, older files moved in).

        Everything that keeps something receives this one; :meth:`close` closes it.

        Raises:
            StoreError: the file cannot be used (the message names it and says why).
        """
        if self._store is None:
            from morrow.memory.errors import MemoryStoreError, StoreUnwritable
            from morrow.memory.store import Store

            try:
                self._store = Store.open(self.store_path, legacy_state=self.paths.home / "state")
            except StoreUnwritable as exc:  # the set-up's problem: configuration (78)
                raise StoreError(str(exc), exit_code=78) from None
            except MemoryStoreError as exc:
                raise StoreError(str(exc)) from None
        return self._store

    def close(self) -> None:
        """Stop what this run started: the external MCP servers, the store (idempotent)."""
        if self._hub is not None:
            self._hub.close()
            self._hub, self._external = None, None
        if self._store is not None:
            self._store.close()
            self._store, self._journal = None, None

    def __enter__(self) -> App:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def recorder(self, path: str | None) -> Any:
        """``--record FILE``: the trajectory recorder the ``morrow.recorder`` entry point provides.

        ``agent`` does not import ``evals`` (it sits above); the recorder plugs in like the
        ``eval`` command does. It wraps the provider, watches each turn's approval gate and
        writes the trajectory after every turn (``turn_done``). Without a path, nothing is
        recorded.

        Raises:
            UsageError: a path is given and no recorder is installed.
        """
        if not path:
            return _NotRecording()
        from importlib.metadata import entry_points

        for entry in entry_points(group="morrow.recorder"):
            return entry.load()(path, self)
        raise UsageError("--record needs the evals package (morrow's eval tools), not installed")

    def system_prompt(self, facts: Sequence[str] = ()) -> str:
        """The system prompt for a turn starting now, with the remembered ``facts`` given."""
        return system_prompt(self.config.user, self.clock(), facts)


class _NotRecording:
    """What ``App.recorder`` gives without ``--record``: every hook lets things through."""

    def wrap(self, provider: Any) -> Any:
        return provider

    def watch(self, gate: Any) -> Any:
        return gate

    def turn_done(self, history: Any) -> None:
        pass
