"""App.provider: the chain of configured providers, health order, budget; and doctor."""

from __future__ import annotations

from pathlib import Path

import pytest

from morrow.agent.app import App
from morrow.agent.cli import main
from morrow.agent.config import Paths, parse_config
from morrow.agent.errors import ConfigError
from morrow.agent.providers.metering import MeteredProvider
from morrow.agent.providers.resilience import FallbackProvider, RetryingProvider, RetryPolicy

TWO = """
[[providers]]
name = "primary"
kind = "anthropic"
model = "claude-sonnet-5"
api_key_env = "MORROW_TEST_ANTHROPIC_KEY"
max_attempts = 5
backoff_initial_seconds = 0.5

[[providers]]
name = "local"
kind = "openai"
model = "llama3"
base_url = "http://127.0.0.1:9/v1"

[resilience]
step_deadline_seconds = 42
cool_down_seconds = 60
"""


def app(home: Path, text: str) -> App:
    import tomllib

    (home / "config.toml").write_text(text)
    return App(
        paths=Paths.resolve(home=str(home)), config=parse_config(tomllib.loads(text), source="t")
    )


def test_every_configured_provider_forms_the_chain(
    _isolated_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MORROW_TEST_ANTHROPIC_KEY", "sk-ant-test-0123456789")
    provider = app(_isolated_home, TWO).provider()
    assert isinstance(provider, MeteredProvider)
    chain = provider.inner
    assert isinstance(chain, FallbackProvider)
    assert [m.name for m in chain.members] == ["primary", "local"]
    assert chain.members[0].policy == RetryPolicy(5, 0.5, 30.0, 60.0)
    assert chain.step_deadline == 42
    assert [m.name for m in chain.ordered()] == ["primary", "local"]
    assert chain.health is not None
    chain.health.record_failure("primary", "claude-sonnet-5", "primary: overloaded")
    assert [m.name for m in chain.ordered()] == ["local", "primary"]


def test_a_named_provider_is_used_alone_still_with_retries(
    _isolated_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MORROW_TEST_ANTHROPIC_KEY", "sk-ant-test-0123456789")
    provider = app(_isolated_home, TWO).provider("local")
    assert isinstance(provider, MeteredProvider)
    assert isinstance(provider.inner, RetryingProvider)
    assert provider.inner.name == "local" and provider.inner.policy.max_attempts == 3


def test_a_missing_key_in_the_chain_is_a_configuration_error(_isolated_home: Path) -> None:
    with pytest.raises(ConfigError, match="MORROW_TEST_ANTHROPIC_KEY is not set"):
        app(_isolated_home, TWO).provider()


def test_doctor_shows_health_and_usage(
    _isolated_home: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("MORROW_TEST_ANTHROPIC_KEY", "sk-ant-test-0123456789")
    setup = app(_isolated_home, TWO + "\n[budget]\nper_day_usd = 2.5\n")
    setup.health().record_failure("primary", "claude-sonnet-5", "primary: overloaded (HTTP 529)")

    main(["--home", str(_isolated_home), "doctor", "--offline"])  # no network in tests

    out = capsys.readouterr().out
    assert "health: failed 0 s ago (primary: overloaded (HTTP 529)); tried last for" in out
    assert "health: no calls yet" in out
    assert "next run tries them in this order: local, primary" in out
    assert "usage:    nothing recorded yet (budget: per_day_usd 2.5)" in out
