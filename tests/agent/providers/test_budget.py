"""Prices, the ledger every run shares, and a budget that stops before crossing."""

from __future__ import annotations

import asyncio
from datetime import date
from pathlib import Path

import pytest
from structlog.testing import capture_logs
from support.cli import run
from support.fake_api import Say, serve
from support.turns import bare_context

from morrow.agent.config import BudgetConfig, PriceConfig
from morrow.agent.errors import BudgetExceeded
from morrow.agent.loop import TurnResult, run_turn
from morrow.agent.messages import Message, ModelRequest, Usage, dangling_tool_calls
from morrow.agent.providers.metering import MeteredProvider
from morrow.agent.providers.prices import PriceTable, estimate_input_tokens
from morrow.agent.providers.scripted import ScriptedProvider, call, calls, text
from morrow.agent.safety.gate import ApprovalGate
from morrow.memory.ledger import Ledger
from morrow.memory.store import Store
from morrow.tools.base import ToolRegistry, tool
from morrow.tools.context import ToolContext

DAY = date(2026, 3, 4)
USAGE = Usage(input_tokens=1000, output_tokens=100)


@tool(effect="read")
def lookup(ctx: ToolContext, city: str) -> str:
    """Look a city up.

    Args:
        city: the city.
    """
    return f"{city}: many people"


def metered(
    scripted: ScriptedProvider, home: Path, model: str = "claude-sonnet-5", **budget: float
) -> MeteredProvider:
    return MeteredProvider(
        scripted,
        prices=PriceTable(),
        budget=BudgetConfig(**budget),  # type: ignore[arg-type]
        ledger=Ledger(Store.open(home / "morrow.sqlite")),  # a process's own connection
        today=lambda: DAY,
        models=[model],
    )


def turn(provider: MeteredProvider, history: list[Message], words: str = "hi") -> TurnResult:
    async def go() -> TurnResult:
        try:
            return await run_turn(
                history,
                words,
                provider=provider,
                tools=ToolRegistry([lookup]),
                tool_context=bare_context(),
                gate=ApprovalGate(mode="deny"),
                system="be brief",
            )
        finally:
            await provider.aclose()

    return asyncio.run(go())


# --- prices --------------------------------------------------------------------------------------


def test_prices_by_exact_name_dated_name_and_override() -> None:
    table = PriceTable({"claude-sonnet-5": PriceConfig(input=1.0, output=4.0)})
    assert table.cost("claude-sonnet-5", USAGE) == pytest.approx((1000 * 1 + 100 * 4) / 1e6)
    # the dated id the API answers with finds its family; the longest name wins
    assert table.price("claude-opus-4-5-20251101") == table.price("claude-opus-4-5")
    assert table.price("claude-opus-4-1-20250805") == table.price("claude-opus-4-1")
    assert table.price("gpt-5-mini-2025-08-07") == table.price("gpt-5-mini")
    assert table.price("openrouter/anthropic/claude-haiku-4-5") == table.price("claude-haiku-4-5")
    assert table.price("gpt-50") is None  # a longer name that is not a dated variant
    sonnet = PriceTable().price("claude-sonnet-4-5")
    assert sonnet is not None
    cached = Usage(cache_read_tokens=1_000_000, cache_write_tokens=1_000_000)
    assert sonnet.cost(cached) == pytest.approx(0.30 + 3.75)


def test_cache_prices_default_to_the_input_price() -> None:
    price = PriceTable({"local-llama": PriceConfig(input=0.5, output=1.0)}).price("local-llama")
    assert price is not None and (price.cache_read, price.cache_write) == (0.5, 0.5)


def test_an_unknown_model_costs_nothing_and_says_so_once() -> None:
    table = PriceTable()
    with capture_logs() as logs:
        assert table.cost("mystery-model", USAGE) == 0.0
        assert table.cost("mystery-model", USAGE) == 0.0
    warnings = [e for e in logs if e["event"] == "price_unknown"]
    assert len(warnings) == 1 and warnings[0]["model"] == "mystery-model"
    assert '[prices."mystery-model"]' in warnings[0]["hint"]


def test_turn_cost_prices_each_model_it_used() -> None:
    table = PriceTable()
    by_model = {("a", "claude-sonnet-5"): USAGE, ("b", "gpt-5-mini"): USAGE}
    expected = (1000 * 2 + 100 * 10) / 1e6 + (1000 * 0.25 + 100 * 2) / 1e6
    assert table.turn_cost(by_model) == pytest.approx(expected)


def test_estimate_counts_every_part_of_the_request() -> None:
    small = ModelRequest(system="s", messages=(Message.user("hi"),))
    big = ModelRequest(system="s", messages=(Message.user("word " * 400),))
    assert 0 < estimate_input_tokens(small) < 20
    assert 480 <= estimate_input_tokens(big) <= 560


# --- usage is recorded ---------------------------------------------------------------------------


def test_every_step_is_recorded_per_provider_and_model(tmp_path: Path) -> None:
    scripted = ScriptedProvider(
        [calls(call("lookup", city="Oslo"), usage=USAGE), text("Many.", usage=USAGE)]
    )
    provider = metered(scripted, tmp_path)
    provider.session = "session-7"

    result = turn(provider, [])

    assert result.usage_by_model == {("scripted", "scripted-model"): USAGE + USAGE}
    with Store.open(tmp_path / "morrow.sqlite") as store:
        ledger = Ledger(store)
        assert ledger.totals(day=DAY).requests == 2
        assert ledger.totals(session="session-7").input_tokens == 2000
        assert set(ledger.by_model(day=DAY)) == {("scripted", "scripted-model")}


# --- the budget stops before the request that would cross it -------------------------------------


def test_a_run_budget_stops_before_the_request_that_crosses_it(tmp_path: Path) -> None:
    scripted = ScriptedProvider(
        [calls(call("lookup", city="Oslo"), usage=USAGE), text("never asked")]
    )
    provider = metered(scripted, tmp_path, per_run_tokens=1110)  # step 1 uses 1,100
    history: list[Message] = []

    with pytest.raises(BudgetExceeded) as info:
        turn(provider, history)

    assert len(scripted.requests) == 1  # the second request was never sent
    message = str(info.value)
    assert "budget reached" in message and "[budget] per_run_tokens = 1,110 tokens" in message
    assert "spent so far: 1,100 tokens" in message and "nothing was sent" in message
    assert info.value.exit_code == 1 and info.value.limit == "per_run_tokens"
    assert dangling_tool_calls(history) == []  # the lookup's result is in; history is valid


def test_a_usd_budget_counts_the_estimate_of_the_next_request(tmp_path: Path) -> None:
    scripted = ScriptedProvider([text("never asked")])
    provider = metered(scripted, tmp_path, per_run_usd=0.000001)

    with pytest.raises(BudgetExceeded, match=r"per_run_usd = \$0.0000"):
        turn(provider, [], "word " * 100)
    assert scripted.requests == []


def test_the_day_budget_is_shared_by_every_run_of_the_day(tmp_path: Path) -> None:
    morning = metered(ScriptedProvider([text("a", usage=USAGE)]), tmp_path, per_day_tokens=2500)
    turn(morning, [])  # 1,100 tokens
    noon = metered(ScriptedProvider([text("b", usage=USAGE)]), tmp_path, per_day_tokens=2500)
    turn(noon, [])  # 2,200 tokens today
    evening_model = ScriptedProvider([text("never asked")])
    evening = metered(evening_model, tmp_path, per_day_tokens=2500)

    with pytest.raises(BudgetExceeded, match="would take today to"):
        turn(evening, [], "word " * 400)
    assert evening_model.requests == []


def test_without_a_budget_nothing_is_estimated_or_refused(tmp_path: Path) -> None:
    scripted = ScriptedProvider([text("fine", usage=Usage(input_tokens=10**9))])
    assert turn(metered(scripted, tmp_path), []).answer == "fine"


def test_ask_with_a_tiny_budget_exits_1_before_sending(tmp_path: Path) -> None:

    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    with serve([[Say("never")]]) as server:
        (home / "config.toml").write_text(
            '[[providers]]\nname = "local"\nkind = "openai"\nmodel = "gpt-5-mini"\n'
            f'base_url = "{server.url}/v1"\n\n[budget]\nper_run_usd = 0.0000001\n'
        )
        done = run(home, "ask", "hello there")
    assert done.returncode == 1, done.stderr
    assert done.stderr.startswith("morrow: budget reached: the next model request")
    assert "[budget] per_run_usd" in done.stderr and "nothing was sent" in done.stderr
    assert server.api.requests == []
