"""Model providers behind one protocol; SDKs are imported only when a provider is built."""

from __future__ import annotations

from typing import TYPE_CHECKING

from morrow.agent.config import ProviderConfig, api_key_for
from morrow.agent.providers.base import Provider

if TYPE_CHECKING:
    import httpx2

__all__ = ["Provider", "build_provider"]


def build_provider(
    config: ProviderConfig,
    *,
    index: int,
    source: str,
    http_client: httpx2.AsyncClient | None = None,
) -> Provider:
    """Build the adapter for one ``[[providers]]`` entry, importing its SDK only now.

    Raises:
        ConfigError: the API key's environment variable is not set.
    """
    api_key = api_key_for(config, index, source)
    if config.kind == "demo":
        from morrow.agent.providers.demo import DemoProvider

        return DemoProvider(name=config.name, model=config.model)
    if config.kind == "anthropic":
        from morrow.agent.providers.anthropic import AnthropicProvider

        return AnthropicProvider(
            name=config.name,
            model=config.model,
            api_key=api_key,
            base_url=config.base_url,
            http_client=http_client,
            timeout=config.timeout_seconds,
        )
    from morrow.agent.providers.openai import OpenAIProvider

    return OpenAIProvider(
        name=config.name,
        model=config.model,
        api_key=api_key,
        base_url=config.base_url,
        http_client=http_client,
        timeout=config.timeout_seconds,
        kind=config.kind,
    )
