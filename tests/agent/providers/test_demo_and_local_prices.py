"""The offline demo model answers from the real tools; local models cost $0 without a warning."""

from __future__ import annotations

import asyncio
from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest
import structlog
from support.turns import make_app

from morrow.agent.config import parse_config
from morrow.agent.loop import run_turn
from morrow.agent.messages import Usage
from morrow.agent.providers.demo import LABEL, DemoProvider
from morrow.agent.providers.prices import PriceTable
from morrow.agent.safety.gate import ApprovalGate
from morrow.tools.demo import build_demo_workspace

ZONE = ZoneInfo("Europe/Berlin")
DAY = date(2026, 3, 4)


@pytest.fixture
def app(tmp_path):
    home = tmp_path / "demo"
    build_demo_workspace(home, today=DAY, timezone=ZONE)
    made = make_app(home, {"user": {"timezone": "Europe/Berlin", "email": "alex@example.com"}})
    made.clock = lambda: datetime(2026, 3, 4, 8, 0, tzinfo=ZONE)
    yield made
    made.close()


def turn(app, text: str, mode: str = "allow"):
    history: list = []
    result = asyncio.run(
        run_turn(
            history,
            text,
            provider=DemoProvider(),
            tools=app.tools(),
            tool_context=app.tool_context(),
            gate=ApprovalGate(mode=mode),
            system=app.system_prompt(),
        )
    )
    return result, [c.name for c in result.calls]


@pytest.mark.parametrize(
    ("said", "tool", "answer"),
    [
        ("what is on today?", "list_events", "Team sync"),
        ("and tomorrow?", "list_events", "1:1 with Priya"),
        ("any unread mail?", "search_emails", "Q3 budget"),
        ("when am I free tomorrow?", "find_free_slots", "Free: "),
    ],
)
def test_the_demo_model_calls_the_real_tools_and_says_what_it_found(app, said, tool, answer):
    result, called = turn(app, said)
    assert called == [tool]
    assert answer in result.answer
    assert LABEL in result.answer  # the first answer of a conversation says what it is


def test_the_demo_model_adds_an_event_through_the_gate(app):
    result, called = turn(app, "add lunch with Sam tomorrow at 12:30")
    assert called == ["create_event"] and "Added **Lunch with Sam** at 12:30." in result.answer
    refused, _ = turn(app, "add gym tomorrow at 7pm", mode="deny")
    assert "That was not done: not approved" in refused.answer


def test_the_demo_model_says_what_it_understands(app):
    result, called = turn(app, "write a poem")
    assert called == [] and "I understand a few requests" in result.answer


def test_local_servers_and_the_demo_cost_nothing_and_warn_nothing():
    config = parse_config(
        {
            "providers": [
                {"name": "l", "kind": "openai", "model": "llama3.2", "base_url": "http://127.0.0.1:11434/v1"},
                {"name": "h", "kind": "openai", "model": "qwen", "base_url": "http://localhost:8080/v1"},
                {"name": "d", "kind": "demo", "model": "offline-demo"},
                {"name": "r", "kind": "openai", "model": "mystery", "base_url": "https://llm.example.com/v1"},
            ],
            "prices": {"qwen": {"input": 1.0, "output": 2.0}},
        },
        source="test",
    )  # fmt: skip
    prices = PriceTable.for_config(config)
    usage = Usage(input_tokens=1_000_000, output_tokens=1_000_000)
    with structlog.testing.capture_logs() as logged:
        assert prices.cost("llama3.2", usage) == 0.0
        assert prices.cost("offline-demo", usage) == 0.0
        assert prices.cost("qwen", usage) == 3.0  # told otherwise: the config wins
        assert prices.cost("mystery", usage) == 0.0  # a remote model with no price ...
    assert [e["model"] for e in logged if e["event"] == "price_unknown"] == ["mystery"]  # warns
