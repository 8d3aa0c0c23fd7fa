"""Provider health, remembered across processes: a provider that failed recently is tried last.

A cron briefing at 07:00 should not spend its minutes on the provider that refused every
connection at 06:55. Each provider's last failure (when, why) and last answer are kept in
``<home>/state/provider-health.json``. A provider is *cooling down* from a failure until
``cool_down_seconds`` have passed, or longer when it asked for a longer ``Retry-After``;
:meth:`HealthStore.order` keeps the configured order but moves cooling providers to the end.
A cooling provider is still tried when the others fail: health only changes the order.

The file is small and read whole. Writers take an exclusive ``flock`` on a lock file beside it
and replace the file atomically (write, fsync, rename), so concurrent processes (the REPL and
a cron job) never see half a file and never lose each other's updates. A file that cannot be
read is treated as empty, with a warning: it is a cache of recent experience, nothing more.
"""

from __future__ import annotations

import fcntl
import json
import os
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import structlog

log = structlog.get_logger("morrow.health")

FILE_NAME = "provider-health.json"
# A success refreshes ``last_success`` on disk at most this often (a write per step is waste).
_SUCCESS_REFRESH_SECONDS = 60.0


@dataclass(frozen=True)
class ProviderHealth:
    """What is remembered about one provider.

    Attributes:
        name: the configured provider name.
        model: the model it was asked for when this was recorded.
        last_failure: when it last failed (seconds since the epoch), if ever.
        reason: why it failed then (one line, as the user saw it).
        failures: failures since its last answer.
        last_success: when it last answered, if ever.
        cooling_until: until when it is tried last.
    """

    name: str
    model: str = ""
    last_failure: float | None = None
    reason: str = ""
    failures: int = 0
    last_success: float | None = None
    cooling_until: float | None = None

    def cooling(self, now: float) -> bool:
        """Whether the provider failed recently enough to be tried last."""
        return self.cooling_until is not None and now < self.cooling_until


class HealthStore:
    """Reads and updates the health file of one home."""

    def __init__(
        self, state_dir: Path, *, cool_down: float, now: Callable[[], float] = time.time
    ) -> None:
        """Create a store over ``<state_dir>/provider-health.json`` (created on first write).

        Args:
            state_dir: ``<home>/state``.
            cool_down: seconds a failed provider is tried last.
            now: wall clock in seconds since the epoch (tests pass their own).
        """
        self.path = state_dir / FILE_NAME
        self.cool_down = cool_down
        self._now = now

    def read(self) -> dict[str, ProviderHealth]:
        """Every provider's record, by name (empty when there is no usable file)."""
        try:
            raw = json.loads(self.path.read_text(encoding="utf-8"))
            return {
                name: ProviderHealth(**{**entry, "name": name})
                for name, entry in raw["providers"].items()
            }
        except FileNotFoundError:
            return {}
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            log.warning("health_file_unreadable", path=str(self.path), error=str(exc))
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
        with self._update() as records:
            old = records.get(name) or ProviderHealth(name=name)
            records[name] = replace(
                old,
                model=model,
                last_failure=now,
                reason=reason.splitlines()[0][:300] if reason else "",
                failures=old.failures + 1,
                cooling_until=now + hold,
            )
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
        with self._update() as records:
            old = records.get(name) or ProviderHealth(name=name)
            records[name] = replace(
                old, model=model, last_success=now, failures=0, cooling_until=None
            )

    @contextmanager
    def _update(self) -> Iterator[dict[str, ProviderHealth]]:
        """Read, let the caller change, write back: all under an exclusive lock."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        lock = self.path.with_name(self.path.name + ".lock")
        with lock.open("a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                records = self.read()
                yield records
                self._write(records)
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def _write(self, records: dict[str, ProviderHealth]) -> None:
        document: dict[str, Any] = {
            "version": 1,
            "providers": {
                name: {k: v for k, v in asdict(r).items() if k != "name"}
                for name, r in sorted(records.items())
            },
        }
        temporary = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        with temporary.open("w", encoding="utf-8") as handle:
            json.dump(document, handle, indent=2)
            handle.flush()
            os.fsync(handle.fileno())
        temporary.replace(self.path)


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
