"""Progress (issue 16 item 7): what a turn waits for, reported by the resilience layer through
an observer and shown as a spinner on terminals only; a progress bar for eval suites; evals
log to their own file (item 11)."""

from __future__ import annotations

import asyncio
import io
from pathlib import Path

from rich.console import Console

from morrow.agent.chat.view import LiveView
from morrow.agent.cli import main
from morrow.agent.errors import ProviderUnavailable
from morrow.agent.messages import Message, ModelRequest
from morrow.agent.providers.resilience import (
    RetryingProvider,
    RetryPolicy,
    Timing,
    Waiting,
    reporting_waits,
)
from morrow.agent.providers.scripted import ScriptedProvider, text
from morrow.evals.catalog import load_suite
from morrow.evals.cli import progress_bar
from morrow.evals.runner import RunOptions, run_suite

REQUEST = ModelRequest(system="", messages=(Message.user("hi"),), tools=(), max_tokens=100)


def test_the_resilience_layer_reports_each_attempt_and_retry_wait():
    overloaded = ProviderUnavailable("overloaded", provider="p", status=529, retry_after=6)
    inner = ScriptedProvider([overloaded, text("hello")], name="anthropic", model="claude-x")
    waited: list[float] = []

    async def sleep(seconds: float) -> None:
        waited.append(seconds)

    provider = RetryingProvider(inner, RetryPolicy(max_attempts=3), timing=Timing(sleep=sleep))
    seen: list[Waiting] = []

    async def run() -> None:
        with reporting_waits(seen.append):
            await provider.complete(REQUEST)

    asyncio.run(run())
    assert waited == [6]  # the wait was asked of the injected sleep, never printed
    assert [w.describe() for w in seen] == [
        "waiting for anthropic (claude-x)",
        "waiting for anthropic (claude-x) ... retry 2/3 in 6 s: overloaded",
        "waiting for anthropic (claude-x) ... retry 2/3",
    ]


def test_a_spinner_on_a_terminal_until_the_model_speaks_and_none_elsewhere():
    out = io.StringIO()
    view = LiveView(Console(file=out, force_terminal=True, width=80))
    view.step_started(1)
    assert view._status is not None
    view.waiting(Waiting("anthropic", "claude-x", 2, 3, retry_in=6, reason="overloaded"))
    assert "retry 2/3 in 6 s" in str(view._status.renderable.text)
    view.text("Hello")
    assert view._status is None  # gone with the first word
    view.pause()

    piped = LiveView(Console(file=io.StringIO(), width=80))  # not a terminal
    piped.step_started(1)
    piped.waiting(Waiting("anthropic", "claude-x", 1, 3))
    assert piped._status is None


def test_suite_progress_is_reported_per_case_and_silent_off_a_terminal():
    suite = load_suite("core")
    only = frozenset(c.id for c in suite.cases[:3])
    seen: list[tuple[int, int, str]] = []
    options = RunOptions(mode="replay", only=only, progress=lambda *a: seen.append(a))
    asyncio.run(run_suite(suite, options))
    assert [(done, total) for done, total, _ in seen] == [(1, 3), (2, 3), (3, 3)]
    assert {what for _, _, what in seen} == only
    with progress_bar("core") as tick:  # stderr is not a terminal under pytest: a no-op
        tick(1, 3, "x")


def test_evals_log_to_their_own_file(tmp_path: Path, capsys):
    home = tmp_path / "home"
    assert main(["--home", str(home), "eval", "list"]) == 0
    capsys.readouterr()
    logs = {p.name for p in (home / "logs").iterdir()}
    assert "evals.jsonl" in logs and "morrow.jsonl" not in logs
