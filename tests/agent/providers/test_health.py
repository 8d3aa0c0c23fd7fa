"""Provider health across processes: recent failures are tried last, for a while."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from morrow.agent.providers.health import HealthStore, describe
from morrow.memory.store import Store

OPENED: list[Store] = []


@pytest.fixture(autouse=True)
def _close_stores() -> Iterator[None]:
    yield
    while OPENED:
        OPENED.pop().close()


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def store(home: Path, clock: Clock, cool_down: float = 600) -> HealthStore:
    """Health in the store of ``home``, through a connection of its own (as another process)."""
    OPENED.append(Store.open(home / "morrow.sqlite"))
    return HealthStore(OPENED[-1], cool_down=cool_down, now=clock)


def test_a_failed_provider_goes_last_until_the_cool_down_ends(tmp_path: Path) -> None:
    clock = Clock()
    health = store(tmp_path, clock)
    names = ["primary", "backup", "local"]
    assert health.order(names) == names

    health.record_failure("primary", "claude-sonnet-5", "primary: connection failed")
    assert health.order(names) == ["backup", "local", "primary"]
    clock.now += 599
    assert health.order(names) == ["backup", "local", "primary"]
    clock.now += 2
    assert health.order(names) == names


def test_a_longer_retry_after_holds_the_provider_longer(tmp_path: Path) -> None:
    clock = Clock()
    health = store(tmp_path, clock, cool_down=60)
    health.record_failure("primary", "m", "rate limited", retry_after=3600)
    clock.now += 1800
    assert health.order(["primary", "backup"]) == ["backup", "primary"]


def test_an_answer_clears_the_failure_and_a_new_process_sees_it(tmp_path: Path) -> None:
    clock = Clock()
    store(tmp_path, clock).record_failure("primary", "m", "overloaded")
    other = store(tmp_path, clock)  # another process, same home
    assert other.get("primary").failures == 1
    other.record_success("primary", "m")
    assert store(tmp_path, clock).order(["primary", "backup"]) == ["primary", "backup"]
    record = store(tmp_path, clock).get("primary")
    assert (record.failures, record.reason) == (0, "overloaded")  # the last reason is kept


def test_cooling_providers_come_back_in_order_of_recovery(tmp_path: Path) -> None:
    clock = Clock()
    health = store(tmp_path, clock)
    health.record_failure("a", "m", "down", retry_after=900)
    health.record_failure("b", "m", "down")
    assert health.order(["a", "b", "c"]) == ["c", "b", "a"]


WRITER = """
import sys
from pathlib import Path
from morrow.agent.providers.health import HealthStore
from morrow.memory.store import Store
with Store.open(Path(sys.argv[1]) / "morrow.sqlite") as store:
    health = HealthStore(store, cool_down=600)
    for n in range(20):
        health.record_failure(sys.argv[2], "m", f"failure {n}")
"""


def test_concurrent_processes_keep_every_update(tmp_path: Path) -> None:
    root = Path(__file__).parents[2]
    writers = [
        subprocess.Popen([sys.executable, "-c", WRITER, str(tmp_path), f"p{i}"], cwd=root)
        for i in range(4)
    ]
    assert [w.wait(timeout=120) for w in writers] == [0, 0, 0, 0]
    records = store(tmp_path, Clock()).read()
    assert {name: r.failures for name, r in records.items()} == {f"p{i}": 20 for i in range(4)}


def test_a_store_that_cannot_be_read_counts_as_no_history(tmp_path: Path) -> None:
    health = store(tmp_path, Clock())
    raw = sqlite3.connect(tmp_path / "morrow.sqlite")
    raw.execute("DROP TABLE provider_health")  # damaged by hand: health is only a cache
    raw.commit()
    raw.close()
    with capture_logs() as logs:
        assert health.order(["a", "b"]) == ["a", "b"]
        health.record_failure("a", "m", "down")  # not kept, and the run goes on
    assert [log["event"] for log in logs] == [
        "health_unreadable",
        "health_not_saved",
        "provider_health_failure",
    ]


def test_doctor_line(tmp_path: Path) -> None:
    clock = Clock()
    health = store(tmp_path, clock)
    assert describe(health.get("p"), clock.now) == "no calls yet"
    health.record_failure("p", "m", "p: connection failed")
    clock.now += 120
    assert describe(health.get("p"), clock.now) == (
        "failed 2 min ago (p: connection failed); tried last for another 8 min"
    )
    health.record_success("p", "m")
    assert describe(health.get("p"), clock.now) == "last answered 0 s ago"
