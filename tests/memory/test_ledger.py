"""The usage ledger in the store: totals by day, session and model, many writers."""

from __future__ import annotations

import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest

from morrow.memory.ledger import Entry, Ledger, Totals
from morrow.memory.store import Store

DAY = date(2026, 3, 4)


def entry(**changes: object) -> Entry:
    values: dict[str, object] = {
        "day": DAY,
        "provider": "primary",
        "model": "claude-sonnet-5",
        "input_tokens": 100,
        "output_tokens": 20,
        "cost_usd": 0.0004,
    }
    values.update(changes)
    return Entry(**values)  # type: ignore[arg-type]


def test_a_new_store_has_an_empty_ledger(tmp_path: Path) -> None:
    with Store.open(tmp_path / "morrow.sqlite") as store:
        assert Ledger(store).totals() == Totals()


def test_totals_by_day_session_and_model(tmp_path: Path) -> None:
    with Store.open(tmp_path / "morrow.sqlite") as store:
        ledger = Ledger(store)
        ledger.record(entry(session="s1", cache_read_tokens=50))
        ledger.record(entry(session="s1", provider="backup", model="gpt-5-mini", cost_usd=0.0001))
        ledger.record(entry(day=date(2026, 3, 5), session="s2"))

        today = ledger.totals(day=DAY)
        assert (today.requests, today.input_tokens, today.output_tokens) == (2, 200, 40)
        assert today.tokens == 200 + 40 + 50
        assert today.cost_usd == pytest.approx(0.0005)
        assert ledger.totals(session="s2").requests == 1
        assert ledger.totals(day=DAY, session="s2").requests == 0
        assert ledger.totals().requests == 3
        per_model = ledger.by_model(session="s1")
        assert set(per_model) == {("primary", "claude-sonnet-5"), ("backup", "gpt-5-mini")}
        assert per_model[("backup", "gpt-5-mini")].cost_usd == pytest.approx(0.0001)


WRITER = """
import sys
from datetime import date
from morrow.memory.ledger import Entry, Ledger
from morrow.memory.store import Store
with Store.open(sys.argv[1]) as store:
    ledger = Ledger(store)
    for _ in range(50):
        ledger.record(Entry(day=date(2026, 3, 4), provider="p", model="m",
                            input_tokens=1, output_tokens=1, cost_usd=0.5))
"""


def test_concurrent_processes_lose_no_row(tmp_path: Path) -> None:
    path = tmp_path / "morrow.sqlite"
    Store.open(path).close()
    writers = [
        subprocess.Popen([sys.executable, "-c", WRITER, str(path)], cwd=Path(__file__).parents[2])
        for _ in range(4)
    ]
    assert [w.wait(timeout=120) for w in writers] == [0, 0, 0, 0]
    with Store.open(path) as store:
        totals = Ledger(store).totals(day=DAY)
    assert (totals.requests, totals.tokens, totals.cost_usd) == (200, 400, 100.0)
