"""Wiring: from the resolved paths and config to a workspace, tools, a provider and a gate.

The CLI, the REPL and the briefing are thin callers of this; tests build an :class:`App` over a
temporary home with an injected clock and provider.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from agent.approvals import ApprovalGate, AskCallback, Mode
from agent.config import Config, Paths, load_config
from agent.errors import ConfigError
from agent.prompt import system_prompt
from tools.workspace import Workspace, system_clock

if TYPE_CHECKING:
    import httpx2

    from agent.providers.base import Provider
    from tools.base import ToolRegistry
    from tools.calendar.backend import CalendarBackend
    from tools.email.backend import MailBackend


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
            )
        return self._workspace

    def _calendar(self) -> CalendarBackend:
        """The calendar backend ``[calendar] backend`` names."""
        from tools.calendar.ics import IcsCalendar

        path = self.paths.resolve_path(self.config.calendar.path)
        return IcsCalendar(path, self.config.user.zone)

    def _mail(self) -> MailBackend:
        """The mail backend ``[email] backend`` names."""
        from tools.email.maildir import MaildirMailbox

        return MaildirMailbox(self.paths.resolve_path(self.config.email.path))

    def tools(self) -> ToolRegistry:
        """Every tool this build offers."""
        from tools.base import ToolRegistry
        from tools.catalog import all_tools

        return ToolRegistry(all_tools())

    def provider(
        self, name: str | None = None, *, http_client: httpx2.AsyncClient | None = None
    ) -> Provider:
        """The provider named ``name``, else the first configured one."""
        from agent.providers import build_provider

        providers = self.config.providers
        source = str(self.paths.config)
        if not providers:
            raise ConfigError(
                f"{source}: providers: no [[providers]] configured "
                "(see config.example.toml, or run `morrow init`)"
            )
        for index, candidate in enumerate(providers):
            if name is None or candidate.name == name:
                return build_provider(
                    candidate, index=index, source=source, http_client=http_client
                )
        known = ", ".join(p.name for p in providers)
        raise ConfigError(f"{source}: providers: no provider named {name!r} (known: {known})")

    def gate(self, *, interactive: bool, ask: AskCallback | None = None) -> ApprovalGate:
        """The approval gate of this run; ``ask`` mode with nobody to ask refuses effects."""
        mode: Mode = self.config.approvals.mode
        if mode == "ask" and (not interactive or ask is None):
            mode = "deny"
        return ApprovalGate(mode=mode, ask=ask)

    def system_prompt(self) -> str:
        """The system prompt for a turn starting now."""
        return system_prompt(self.config.user, self.clock())
