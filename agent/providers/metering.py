"""The usage ledger and the budget: what each model step cost, and when to stop.

:class:`MeteredProvider` wraps the provider a run uses. Before every request it estimates the
request's input tokens and stops the run with :class:`~morrow.agent.errors.BudgetExceeded`, nothing
sent, when that request would cross a ``[budget]`` limit: per run (one ``ask``, one briefing,
one chat session) or per day (the user's local day, summed over every process through the
usage ledger in the store, :mod:`morrow.memory.ledger`). After every answered step it records
provider, model, tokens and cost in that ledger. The day check reads the ledger fresh before
each request; two processes checking at the same instant can both pass, so a day limit may be
overshot by the requests in flight at that moment, never by more.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from datetime import date

import structlog

from morrow.agent.config import BudgetConfig
from morrow.agent.errors import AssistantError, BudgetExceeded
from morrow.agent.messages import (
    ModelRequest,
    ModelResponse,
    ResponseDone,
    StreamEvent,
)
from morrow.agent.providers.base import Provider
from morrow.agent.providers.prices import PriceTable, estimate_input_tokens
from morrow.memory.errors import MemoryStoreError
from morrow.memory.ledger import Entry, Ledger, Totals

log = structlog.get_logger("morrow.costs")


@dataclass
class _Spent:
    tokens: int = 0
    usd: float = 0.0


class MeteredProvider:
    """A provider whose every request is checked against the budget and recorded in the ledger.

    Attributes:
        name: the wrapped provider's name.
        model: the wrapped provider's model.
        session: the session the usage belongs to, when the caller knows one (recorded with
            every row, so ``Ledger.totals(session=...)`` gives per-session totals).
    """

    def __init__(
        self,
        inner: Provider,
        *,
        prices: PriceTable,
        budget: BudgetConfig,
        ledger: Ledger,
        today: Callable[[], date],
        models: Sequence[str] = (),
        session: str | None = None,
    ) -> None:
        """Wrap ``inner``.

        Args:
            inner: the provider (usually a fallback chain) this run asks.
            prices: the price table.
            budget: the ``[budget]`` limits.
            ledger: the usage ledger (in the process's store).
            today: the user's local date now.
            models: every model ``inner`` may use; a request is estimated at the dearest.
            session: the session id to record, if any.
        """
        self.inner = inner
        self.name = inner.name
        self.model = inner.model
        self.session = session
        self.prices = prices
        self.budget = budget
        self.ledger = ledger
        self._today = today
        self._models = list(models) or [inner.model]
        self.run = _Spent()

    async def complete(self, request: ModelRequest) -> ModelResponse:
        """Check the budget, ask, record."""
        self.check(request)
        response = await self.inner.complete(request)
        self._record(response)
        return response

    async def stream(self, request: ModelRequest) -> AsyncIterator[StreamEvent]:
        """Check the budget, stream, record the finished response."""
        self.check(request)
        events = self.inner.stream(request)
        try:
            async for event in events:
                if isinstance(event, ResponseDone):
                    self._record(event.response)
                yield event
        finally:
            close = getattr(events, "aclose", None)
            if close is not None:
                await close()

    async def aclose(self) -> None:
        """Close the wrapped provider (the ledger's store belongs to the process)."""
        await self.inner.aclose()

    def check(self, request: ModelRequest) -> None:
        """Raise :class:`BudgetExceeded` when ``request`` would cross a limit."""
        budget = self.budget
        limits = (budget.per_run_usd, budget.per_run_tokens, budget.per_day_usd)
        if all(limit is None for limit in (*limits, budget.per_day_tokens)):
            return
        tokens = estimate_input_tokens(request)
        usd = tokens * max(self._input_price(m) for m in self._models) / 1_000_000
        checks: list[tuple[str, str, float, float, float | None]] = [
            ("per_run_tokens", "this run", self.run.tokens, tokens, budget.per_run_tokens),
            ("per_run_usd", "this run", self.run.usd, usd, budget.per_run_usd),
        ]
        if budget.per_day_tokens is not None or budget.per_day_usd is not None:
            day = self._day_totals()
            checks += [
                ("per_day_tokens", "today", day.tokens, tokens, budget.per_day_tokens),
                ("per_day_usd", "today", day.cost_usd, usd, budget.per_day_usd),
            ]
        for key, scope, spent, more, limit in checks:
            if limit is not None and spent + more > limit:
                raise self._stop(key, scope, spent, more, limit, tokens)

    def _stop(
        self, key: str, scope: str, spent: float, more: float, limit: float, tokens: int
    ) -> BudgetExceeded:
        money = key.endswith("_usd")
        show = _usd if money else _tokens
        message = (
            f"budget reached: the next model request (about {tokens:,} input tokens) would "
            f"take {scope} to {show(spent + more)}, over [budget] {key} = {show(limit)} "
            f"(spent so far: {show(spent)}); nothing was sent"
        )
        log.info("budget_stop", limit=key, spent=spent, next_request=more, budget=limit)
        return BudgetExceeded(message, limit=key)

    def _input_price(self, model: str) -> float:
        price = self.prices.price(model)
        return price.input if price is not None else 0.0

    def _record(self, response: ModelResponse) -> None:
        usage = response.usage
        usd = self.prices.cost(response.model, usage)
        self.run.tokens += usage.total_tokens
        self.run.usd += usd
        log.info(
            "usage",
            provider=response.provider,
            model=response.model,
            input_tokens=usage.input_tokens,
            output_tokens=usage.output_tokens,
            cost_usd=round(usd, 6),
        )
        entry = Entry(
            day=self._today(),
            provider=response.provider,
            model=response.model,
            input_tokens=usage.input_tokens,
            output_tokens=usage.output_tokens,
            cache_read_tokens=usage.cache_read_tokens,
            cache_write_tokens=usage.cache_write_tokens,
            cost_usd=usd,
            session=self.session,
        )
        try:
            self.ledger.record(entry)
        except MemoryStoreError as error:  # the answer matters more than its bookkeeping
            log.warning("ledger_write_failed", error=str(error))

    def _day_totals(self) -> Totals:
        try:
            return self.ledger.totals(day=self._today())
        except MemoryStoreError as error:
            raise AssistantError(f"{error}; the day budget cannot be checked") from error


def _usd(value: float) -> str:
    return f"${value:,.4f}"


def _tokens(value: float) -> str:
    return f"{value:,.0f} tokens"
