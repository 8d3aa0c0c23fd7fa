"""``morrow doctor``'s provider check: is the key accepted and the server there?

One cheap request per provider with a short timeout: the list of models (``GET /v1/models``
for Anthropic; ``GET {base_url}/models`` for OpenAI, Gemini's OpenAI-compatible endpoint and
local servers). It costs no tokens, proves the key is accepted, and tells whether the
configured model is among those the server lists. It goes through httpx2 directly, so the
doctor does not load the provider SDKs.
"""

from __future__ import annotations

from dataclasses import dataclass

import httpx2

from morrow.agent.config import ProviderConfig

ANTHROPIC_URL = "https://api.anthropic.com"
OPENAI_URL = "https://api.openai.com/v1"
GEMINI_URL = "https://generativelanguage.googleapis.com/v1beta/openai"
ANTHROPIC_VERSION = "2023-06-01"


@dataclass(frozen=True)
class Reach:
    """The outcome of one check: ``ok`` and a line for the user."""

    ok: bool
    detail: str


def models_request(provider: ProviderConfig, key: str) -> tuple[str, dict[str, str]]:
    """The URL and headers that list a provider's models."""
    if provider.kind == "anthropic":
        base = (provider.base_url or ANTHROPIC_URL).rstrip("/")
        headers = {"x-api-key": key, "anthropic-version": ANTHROPIC_VERSION}
        return f"{base}/v1/models", headers
    default = GEMINI_URL if provider.kind == "gemini" else OPENAI_URL
    base = (provider.base_url or default).rstrip("/")
    return f"{base}/models", {"Authorization": f"Bearer {key}"}


def check(provider: ProviderConfig, key: str, *, timeout: float = 5.0) -> Reach:
    """Ask the provider for its models; never raises."""
    if provider.kind == "demo":
        return Reach(True, "the offline demo model: keyword rules on this machine, no AI")
    url, headers = models_request(provider, key)
    try:
        with httpx2.Client(timeout=timeout) as client:
            response = client.get(url, headers=headers)
    except httpx2.HTTPError as exc:
        return Reach(False, f"UNREACHABLE: {type(exc).__name__}: {exc or 'no answer'}")
    if response.status_code in (401, 403):
        return Reach(False, f"KEY REFUSED: HTTP {response.status_code} from {url}")
    if response.status_code != 200:
        return Reach(False, f"answered HTTP {response.status_code} at {url}")
    listed = _model_ids(response)
    if listed and not any(m == provider.model or m.endswith("/" + provider.model) for m in listed):
        return Reach(True, f"reachable, but model {provider.model!r} is not in its list")
    return Reach(True, "reachable, key accepted")


def _model_ids(response: httpx2.Response) -> list[str]:
    try:
        data = response.json().get("data", [])
        return [str(item["id"]) for item in data if isinstance(item, dict) and "id" in item]
    except (ValueError, AttributeError):
        return []
