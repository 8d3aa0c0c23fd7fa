"""Provider health, remembered across processes: a provider that failed recently is tried last.

A cron briefing at 07:00 should not spend its minutes on the provider that refused every
connection at 06:55. Each provider's last failure (when, why) and last answer are kept in the
store (table ``provider_health``, :mod:`morrow.memory.state`). A provider is *cooling down*
from a failure until ``cool_down_seconds`` have passed, or longer when it asked for a longer
``Retry-After``; :meth:`HealthStore.order` keeps the configured order but moves cooling
providers to the end. A cooling provider is still tried when the others fail: health only
changes the order.

Each update is one read-change-write transaction of the store, so concurrent processes (the
REPL and a cron job) never lose each other's updates. A store that cannot be read counts as
knowing nothing, with a warning: health is a cache of recent experience, nothing more.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import replace

import structlog

from morrow.memory.errors import MemoryStoreError
from morrow.memory.state import ProviderHealth, read_health, update_health
from morrow.memory.store import Store

__all__ = ["HealthStore", "ProviderHealth", "describe"]

log = structlog.get_logger("morrow.health")

# A success refreshes ``last_success`` in the store at most this often (a write per step is waste).
_SUCCESS_REFRESH_SECONDS = 60.0


class HealthStore:
    """Reads and updates the providers' health in a store."""

    def __init__(
        self, store: Store, *, cool_down: float, now: Callable[[], float] = time.time
    ) -> None:
        """Keep the health in ``store``.

        Args:
            store: the process's store.
            cool_down: seconds a failed provider is tried last.
            now: wall clock in seconds since the epoch (tests pass their own).
        """
        self.store = store
        self.cool_down = cool_down
        self._now = now

    def read(self) -> dict[str, ProviderHealth]:
        """Every provider's record, by name (empty when the store cannot be read)."""
        try:
            return read_health(self.store)
        except MemoryStoreError as exc:
            log.warning("health_unreadable", error=str(exc))
            return {}

    def get(self, name: str) -> ProviderHealth:
        """One provider's record (a blank one when nothing is known)."""
        return self.read().get(name) or ProviderHealth(name=name)

    def order(self, names: Sequence[str]) -> list[str]:
        """``names`` in their order, with the providers cooling down moved to the end.

        Among cooling providers, the one whose cool-down ends first comes first.
        """
        records, now = self.read(), self._now()
        cooling = {n: r for n, r in records.items() if n in names and r.cooling(now)}
        ready = [n for n in names if n not in cooling]
        later = sorted(cooling, key=lambda n: (cooling[n].cooling_until or 0.0, names.index(n)))
        if later:
            log.info("providers_cooling_down", tried_last=later)
        return ready + later

    def record_failure(
        self, name: str, model: str, reason: str, *, retry_after: float | None = None
    ) -> None:
        """Remember that ``name`` failed now; it cools down for the longer of the two waits."""
        now = self._now()
        hold = max(self.cool_down, retry_after or 0.0)

        def failed(old: ProviderHealth) -> ProviderHealth:
            return replace(
                old,
                model=model,
                last_failure=now,
                reason=reason.splitlines()[0][:300] if reason else "",
                failures=old.failures + 1,
                cooling_until=now + hold,
            )

        self._update(name, failed)
        log.info("provider_health_failure", provider=name, cooling_seconds=hold, reason=reason)

    def record_success(self, name: str, model: str) -> None:
        """Remember that ``name`` answered now (writes only when something changes)."""
        now = self._now()
        known = self.read().get(name)
        if (
            known is not None
            and known.failures == 0
            and known.last_success is not None
            and now - known.last_success < _SUCCESS_REFRESH_SECONDS
        ):
            return
        self._update(
            name,
            lambda old: replace(old, model=model, last_success=now, failures=0, cooling_until=None),
        )

    def _update(self, name: str, change: Callable[[ProviderHealth], ProviderHealth]) -> None:
        try:
            update_health(self.store, name, change)
        except MemoryStoreError as exc:  # the run goes on; only the memory of it is lost
            log.warning("health_not_saved", provider=name, error=str(exc))


def describe(record: ProviderHealth, now: float) -> str:
    """One line for ``morrow doctor``: how the provider has been doing."""
    if record.last_failure is None and record.last_success is None:
        return "no calls yet"
    parts = []
    if record.cooling(now):
        left = (record.cooling_until or now) - now
        parts.append(f"failed {_ago(now - (record.last_failure or now))} ({record.reason})")
        parts.append(f"tried last for another {_span(left)}")
    elif record.failures and record.last_failure is not None:
        parts.append(f"failed {_ago(now - record.last_failure)} ({record.reason}); cool-down over")
    if record.last_success is not None:
        parts.append(f"last answered {_ago(now - record.last_success)}")
    return "; ".join(parts) or "healthy"


def _ago(seconds: float) -> str:
    return f"{_span(seconds)} ago"


def _span(seconds: float) -> str:
    seconds = max(0.0, seconds)
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 90 * 60:
        return f"{seconds / 60:.0f} min"
    if seconds < 36 * 3600:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"
