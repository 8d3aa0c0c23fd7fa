"""Prices: USD per million tokens of each model, and a rough count of a request's tokens.

:class:`PriceTable` holds USD per million tokens for input, output, cache reads and cache
writes, per model; the defaults below are overridden by ``[prices."model"]`` in the config. A
model is found by its exact name, else by the longest known name it extends (so the dated
``claude-sonnet-4-5-20250929`` finds ``claude-sonnet-4-5``). A model with no price costs 0,
with a warning logged once per process, so a USD budget does not silently cover it. A model
served on this machine (a provider whose ``base_url`` is localhost or a loopback address) and
the offline demo model cost 0 without a warning, unless ``[prices."model"]`` says otherwise:
running them costs no money, and a warning on every run would only be noise.
"""

from __future__ import annotations

import ipaddress
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

import structlog

from morrow.agent.config import Config, PriceConfig, ProviderConfig
from morrow.agent.messages import (
    DataPart,
    ModelRequest,
    TextPart,
    ToolCallPart,
    ToolResultPart,
    Usage,
)

log = structlog.get_logger("morrow.costs")


@dataclass(frozen=True)
class Price:
    """USD per million tokens of each kind."""

    input: float
    output: float
    cache_read: float
    cache_write: float

    def cost(self, usage: Usage) -> float:
        """The USD cost of ``usage`` at this price."""
        return (
            usage.input_tokens * self.input
            + usage.output_tokens * self.output
            + usage.cache_read_tokens * self.cache_read
            + usage.cache_write_tokens * self.cache_write
        ) / 1_000_000


def _p(input: float, output: float, cache_read: float, cache_write: float) -> Price:
    return Price(input, output, cache_read, cache_write)


# USD per million tokens: input, output, cache read, cache write (Anthropic: the 5-minute
# write; OpenAI and Gemini bill no cache writes, so the input price stands in).
# Anthropic: platform.claude.com/docs/en/about-claude/pricing and the model overview pages,
# as of 2026-10-24 (Sonnet 5.5's cache read cut to $0.10 on 2026-10-07; Haiku 5.5 is tiered
# by prompt length and listed at its lower tier, prompts up to 100k tokens).
# OpenAI: developers.openai.com/api/docs/pricing, standard tier, for the models whose prices
# were published at launch (GPT-5 family 2025-08, GPT-4.1 2025-04, GPT-4o, o3, o4-mini).
# Gemini: ai.google.dev/gemini-api/docs/pricing, paid tier, prompts up to 200k tokens (2025).
# Prices change: override any of them in config.toml with [prices."model-name"].
DEFAULT_PRICES: dict[str, Price] = {
    "claude-fable-5-1": _p(10.0, 50.0, 0.25, 12.5),
    "claude-mythos-5-1": _p(10.0, 50.0, 0.25, 12.5),
    "claude-fable-5": _p(10.0, 50.0, 1.0, 12.5),
    "claude-mythos-5": _p(10.0, 50.0, 1.0, 12.5),
    "claude-opus-5-5": _p(4.0, 20.0, 0.20, 5.0),
    "claude-opus-5": _p(5.0, 25.0, 0.50, 6.25),
    "claude-opus-4-8": _p(5.0, 25.0, 0.50, 6.25),
    "claude-opus-4-7": _p(5.0, 25.0, 0.50, 6.25),
    "claude-opus-4-6": _p(5.0, 25.0, 0.50, 6.25),
    "claude-opus-4-5": _p(5.0, 25.0, 0.50, 6.25),
    "claude-opus-4-1": _p(15.0, 75.0, 1.50, 18.75),
    "claude-opus-4": _p(15.0, 75.0, 1.50, 18.75),
    "claude-sonnet-5-5": _p(2.0, 10.0, 0.10, 2.5),
    "claude-sonnet-5": _p(2.0, 10.0, 0.20, 2.5),
    "claude-sonnet-4-6": _p(3.0, 15.0, 0.30, 3.75),
    "claude-sonnet-4-5": _p(3.0, 15.0, 0.30, 3.75),
    "claude-sonnet-4": _p(3.0, 15.0, 0.30, 3.75),
    "claude-haiku-5-5": _p(0.10, 0.50, 0.01, 0.125),
    "claude-haiku-4-5": _p(1.0, 5.0, 0.10, 1.25),
    "claude-3-5-haiku": _p(0.80, 4.0, 0.08, 1.0),
    "gpt-5": _p(1.25, 10.0, 0.125, 1.25),
    "gpt-5-mini": _p(0.25, 2.0, 0.025, 0.25),
    "gpt-5-nano": _p(0.05, 0.40, 0.005, 0.05),
    "gpt-4.1": _p(2.0, 8.0, 0.50, 2.0),
    "gpt-4.1-mini": _p(0.40, 1.60, 0.10, 0.40),
    "gpt-4.1-nano": _p(0.10, 0.40, 0.025, 0.10),
    "gpt-4o": _p(2.50, 10.0, 1.25, 2.50),
    "gpt-4o-mini": _p(0.15, 0.60, 0.075, 0.15),
    "o3": _p(2.0, 8.0, 0.50, 2.0),
    "o4-mini": _p(1.10, 4.40, 0.275, 1.10),
    "gemini-2.5-pro": _p(1.25, 10.0, 0.125, 1.25),
    "gemini-2.5-flash": _p(0.30, 2.50, 0.03, 0.30),
    "gemini-2.5-flash-lite": _p(0.10, 0.40, 0.01, 0.10),
}
# What may follow a known name in a longer one: "-20250929", "[1m]", "@20250929", ":free".
_BOUNDARY = ("-", "@", "[", ":")


_WARNED: set[str] = set()


class PriceTable:
    """Prices by model: the defaults, overridden by the config."""

    def __init__(
        self, overrides: Mapping[str, PriceConfig] | None = None, free: Iterable[str] = ()
    ) -> None:
        """Merge ``[prices."model"]`` entries over :data:`DEFAULT_PRICES`.

        Args:
            overrides: the config's ``[prices]``.
            free: models that cost nothing (local servers, the demo), unless overridden.
        """
        self.prices = {name: Price(0.0, 0.0, 0.0, 0.0) for name in free}
        self.prices.update(DEFAULT_PRICES)
        for model, configured in (overrides or {}).items():
            self.prices[model] = Price(
                input=configured.input,
                output=configured.output,
                cache_read=_or(configured.cache_read, configured.input),
                cache_write=_or(configured.cache_write, configured.input),
            )

    @classmethod
    def for_config(cls, config: Config) -> PriceTable:
        """The prices a config implies: its overrides, and its local models free."""
        return cls(config.prices, free=[p.model for p in config.providers if is_local(p)])

    def price(self, model: str) -> Price | None:
        """The price of ``model`` (exact name, else the longest known name it extends)."""
        name = model.rsplit("/", 1)[-1]  # "anthropic/claude-..." (OpenRouter), "models/gemini-..."
        if name in self.prices:
            return self.prices[name]
        known = [
            k for k in self.prices if name.startswith(k) and name[len(k) : len(k) + 1] in _BOUNDARY
        ]
        return self.prices[max(known, key=len)] if known else None

    def cost(self, model: str, usage: Usage) -> float:
        """USD for ``usage`` of ``model``; 0 (and a warning, once) when its price is unknown."""
        price = self.price(model)
        if price is None:
            if model not in _WARNED:  # once per process: a chat prices every turn anew
                _WARNED.add(model)
                log.warning(
                    "price_unknown",
                    model=model,
                    hint=f'add [prices."{model}"] to config.toml; its usage counts as $0',
                )
            return 0.0
        return price.cost(usage)

    def turn_cost(self, usage_by_model: Mapping[tuple[str, str], Usage]) -> float:
        """USD of a turn, from ``TurnResult.usage_by_model``."""
        return sum(self.cost(model, usage) for (_, model), usage in usage_by_model.items())


def is_local(provider: ProviderConfig) -> bool:
    """Whether a provider runs on this machine: the demo, or a ``base_url`` on loopback."""
    if provider.kind == "demo":
        return True
    host = urlsplit(provider.base_url or "").hostname
    if host is None:
        return False
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _or(value: float | None, default: float) -> float:
    return default if value is None else value


def estimate_input_tokens(request: ModelRequest) -> int:
    """A rough count of the input tokens of ``request`` (UTF-8 bytes / 4, plus overhead).

    Good enough to stop before a budget is crossed; the provider's own count is recorded
    after the answer.
    """
    size = len(request.system.encode())
    for spec in request.tools:
        size += len(spec.name) + len(spec.description.encode()) + len(str(spec.parameters))
    for message in request.messages:
        size += 16  # role and framing
        for part in message.parts:
            if isinstance(part, TextPart | DataPart):
                size += len(part.text.encode())
            elif isinstance(part, ToolCallPart):
                size += len(part.name) + len(part.id) + len(str(part.arguments).encode())
            elif isinstance(part, ToolResultPart):
                size += len(part.call_id) + len(part.content.encode())
    return math.ceil(size / 4)
