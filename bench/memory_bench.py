"""Memory: resuming a long session and building its next request (load + compaction decision).

For sessions of 100, 1,000 and 10,000 stored messages (turns of a question, one or two tool
steps with results of 300 to 3,000 characters, one in fifty a 40,000-character result, and an
answer), this times what ``morrow ask --session ID`` does before the first model call: open the
store, load the session (its latest summary and the messages after it), and fit the first
request to the budget. Two states:

- ``steady``: the session grew through use, so a summary covers its old turns (the normal case:
  each compaction is saved with the turn that made it);
- ``cold``: a session never compacted (say, grown with a model of a larger window): loading
  folds the old turns, reading only the newest of them, and the first request summarizes
  them. The summary here is the deterministic one; a model's summary adds one model call, not
  counted. Nothing is saved while timing, so every cold run starts cold.

Each request is checked: within the budget (by the estimate the window uses, uncalibrated),
starting with a user message, every tool call with its result. Aim: at most 50 ms at 10,000.

    .venv/bin/python bench/memory_bench.py [--quick]
"""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent

from morrow.agent.app import App  # noqa: E402
from morrow.agent.config import Paths, parse_config  # noqa: E402
from morrow.agent.context.sessions import Session  # noqa: E402
from morrow.agent.loop import run_turn  # noqa: E402
from morrow.agent.messages import (  # noqa: E402
    Message,
    ModelRequest,
    TextPart,
    ToolCallPart,
    ToolResultPart,
    ToolSpec,
    dangling_tool_calls,
)
from morrow.agent.providers.scripted import ScriptedProvider, text  # noqa: E402
from morrow.agent.safety.gate import ApprovalGate  # noqa: E402
from morrow.memory.store import Store  # noqa: E402

SIZES = (100, 1_000, 10_000)
MODELS = {"claude-sonnet-5": "200k window", "qwen2.5:14b": "32k window"}
AIM_MS = 50.0


def turn_messages(n: int) -> list[Message]:
    """One stored turn: a question, one or two tool steps, an answer (deterministic in ``n``)."""
    messages = [Message.user(f"Question {n}: what about the meeting with team {n % 17}? " * 2)]
    for step in range(1 + n % 2):
        call_id = f"call_{n}_{step}"
        arguments = {"query": f"team {n % 17}", "start": "2026-03-05T00:00:00+01:00"}
        call = ToolCallPart(id=call_id, name="search_emails", arguments=arguments)
        messages.append(Message(role="assistant", parts=(TextPart(text="Checking."), call)))
        size = 40_000 if n % 50 == 7 else 300 + (n * 37) % 2_700
        row = {"id": f"INBOX/{n}", "subject": f"Re: team {n % 17}", "snippet": ""}
        content = json.dumps([row] * (size // 80 + 1))[:size]
        result = ToolResultPart(call_id=call_id, name="search_emails", content=content)
        messages.append(Message(role="tool", parts=(result,)))
    answer = f"The meeting with team {n % 17} is on Thursday at 10:00; nothing changed. " * 3
    messages.append(Message(role="assistant", parts=(TextPart(text=answer),)))
    return messages


def seed(path: Path, session_id: str, count: int) -> None:
    """Store a session of ``count`` messages in one transaction (fast; the schema is real)."""
    Store.open(path).close()
    seed_more(path, session_id, count)


def seed_more(path: Path, session_id: str, count: int) -> None:
    """Add a session of ``count`` messages to an existing store."""
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("BEGIN")
    now = "2026-03-04T09:00:00+00:00"
    db.execute(
        "INSERT INTO sessions (id, created, updated) VALUES (?, ?, ?)", (session_id, now, now)
    )
    seq, n = 0, 0
    while seq < count:
        turn_id = f"{session_id}-t{n}"
        db.execute(
            "INSERT INTO turns (id, session_id, number, status, started, ended) "
            "VALUES (?, ?, ?, 'ok', ?, ?)",
            (turn_id, session_id, n + 1, now, now),
        )
        for idx, message in enumerate(turn_messages(n)):
            seq += 1
            doc = message.model_dump_json()
            db.execute(
                "INSERT INTO messages (session_id, seq, turn_id, idx, role, chars, tool_results, "
                "text, doc) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    session_id,
                    seq,
                    turn_id,
                    idx,
                    message.role,
                    len(doc),
                    len(message.tool_results),
                    message.text,
                    doc,
                ),
            )
        n += 1
    db.execute("COMMIT")
    db.close()


def make_app(home: Path, model: str) -> App:
    home.mkdir(parents=True, exist_ok=True)
    paths = Paths(home=home, config=home / "config.toml", config_explicit=False, logs=home / "logs")
    config = parse_config(
        {
            "providers": [{"name": "p", "kind": "openai", "model": model, "base_url": "http://x"}],
            "memory": {"summarize_with_model": False},
        },
        source="bench",
    )
    return App(paths=paths, config=config)


async def next_request(
    app: App, session_id: str, *, finish: bool = False
) -> tuple[float, dict[str, Any]]:
    """Open the store, resume the session and fit its next request; (seconds, checks).

    With ``finish``, the turn is then run to its end (untimed), so that it saves the summary
    it made, as a real turn does: the session is steady from then on.
    """
    provider = ScriptedProvider([text("ok")], model=app.config.providers[0].model)
    specs = tuple(
        ToolSpec(name=t.name, description=t.description, parameters=t.parameters)
        for t in app.tools()
    )
    question = "And what is on my calendar tomorrow?"
    app.close()  # each measurement opens the store, as a new process does
    started = time.perf_counter()
    session = Session.open(app, provider, session_id=session_id)
    messages = (*session.history, Message.user(question))
    system = app.system_prompt(session.prompt_facts(question))
    request = ModelRequest(system=system, messages=messages, tools=specs)
    fitted = await session.window.fit(request)
    seconds = time.perf_counter() - started
    window = session.window
    sent = list(fitted.messages)
    checks = {
        "sent": len(sent),
        "estimate": window.last_estimate,
        "budget": window.budget.tokens,
        "folded": window.folded_at_resume + window.start,
        "intact": not dangling_tool_calls(sent)
        and {c.id for m in sent for c in m.tool_calls}
        == {r.call_id for m in sent for r in m.tool_results}
        and sent[0].role == "user",
    }
    if finish:
        begun = session.begin(question)
        turn = run_turn(
            session.history,
            question,
            provider=provider,
            tools=app.tools(),
            tool_context=begun.tools,
            gate=ApprovalGate(),
            system=system,
            stream=False,
            context=window,
        )
        await session.run(begun, turn)
    return seconds, checks


def measure(count: int, model: str, runs: int) -> list[dict[str, Any]]:
    home = Path(tempfile.mkdtemp(prefix="morrow-memory-bench-")) / "home"
    app = make_app(home, model)
    seed(app.store_path, "s", count)
    seed_more(app.store_path, "warm-up", 40)
    asyncio.run(next_request(app, "warm-up"))  # imports and first-use costs, not timed
    rows = []
    for state in ("cold", "steady"):
        samples, checks = [], {}
        for _ in range(runs):  # nothing is saved while timing: each cold run starts cold
            seconds, checks = asyncio.run(next_request(app, "s"))
            samples.append(seconds * 1000)
        rows.append({"messages": count, "model": model, "state": state, **_stats(samples)})
        rows[-1].update(checks)
        if state == "cold":  # one real turn saves the compaction: from then on, steady
            asyncio.run(next_request(app, "s", finish=True))
    return rows


def _stats(samples: list[float]) -> dict[str, float]:
    samples = sorted(samples)
    return {
        "median_ms": statistics.median(samples),
        "max_ms": samples[-1],
    }


def run(quick: bool = False) -> str:
    """Run the benchmark; return its Markdown section."""
    import structlog

    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(30))
    runs = 3 if quick else 15
    rows = [row for model in MODELS for count in SIZES for row in measure(count, model, runs)]
    lines = [
        "## Memory: resume a session and build its next request",
        "",
        "`.venv/bin/python bench/memory_bench.py` (store open + session load + compaction "
        f"decision + fitting the first request; median and worst of {runs} runs; the model's "
        "summary call, when there is one, is not counted).",
        "",
        "| messages | model | state | median ms | max ms | sent | estimate / budget tokens "
        "| folded | pairs intact |",
        "|---:|---|---|---:|---:|---:|---:|---:|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['messages']:,} | {r['model']} ({MODELS[r['model']]}) | {r['state']} "
            f"| {r['median_ms']:.1f} | {r['max_ms']:.1f} | {r['sent']} "
            f"| {r['estimate']:,} / {r['budget']:,} | {r['folded']:,} "
            f"| {'yes' if r['intact'] else 'NO'} |"
        )
    worst = max(r["median_ms"] for r in rows if r["messages"] == 10_000 and r["state"] == "steady")
    worst_cold = max(
        r["median_ms"] for r in rows if r["messages"] == 10_000 and r["state"] == "cold"
    )
    fits = all(r["estimate"] <= r["budget"] and r["intact"] for r in rows)
    verdict = "met" if max(worst, worst_cold) <= AIM_MS else "NOT met"
    lines += [
        "",
        f"- Aim ≤ {AIM_MS:.0f} ms at 10,000 messages (medians): {verdict}: steady "
        f"{worst:.1f} ms, cold (the old turns folded on the way) {worst_cold:.1f} ms, at worst "
        "over the models.",
        f"- Every request within its budget, with every tool call next to its result: "
        f"{'yes' if fits else 'NO'}.",
        f"- Machine load average while measuring: {os.getloadavg()[0]:.1f} (the worst cases "
        "are the most sensitive to other work on the machine).",
        "- The estimate is characters / 4 plus 4 tokens a message; in use it is scaled by the "
        "ratio of reported to estimated input tokens, learned per model.",
    ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    section = run(quick="--quick" in sys.argv)
    out = ROOT / "bench" / "results" / "memory.md"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(section, encoding="utf-8")
    print(section)
