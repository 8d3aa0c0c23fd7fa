"""Two processes writing to one store at once (the REPL and a cron briefing): no error, no loss.

Each process runs turns through a session (one keeps its session, like the REPL; the other
starts a new one every few turns, like daily briefings), appends turns to a session both write
to, remembers facts and reads (resume, listings) in between, for ``MORROW_CONCURRENCY_SECONDS``
seconds (default 5). The full minute of the issue:

    MORROW_CONCURRENCY_SECONDS=60 .venv/bin/pytest tests/memory/test_concurrency.py
"""

import asyncio
import json
import os
import threading
import time

import pytest
from support.turns import make_app

from morrow.agent.context.sessions import Session
from morrow.agent.loop import run_turn
from morrow.agent.providers.scripted import ScriptedProvider, call, calls, text
from morrow.agent.safety.gate import ApprovalGate
from morrow.memory.facts import Facts
from morrow.memory.records import NewMessage, TurnRecord
from morrow.memory.store import Store
from morrow.tools.base import ToolRegistry, tool
from morrow.tools.context import ToolContext

SECONDS = float(os.environ.get("MORROW_CONCURRENCY_SECONDS", "5"))

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")


@tool(effect="read")
def look(ctx: ToolContext, what: str) -> str:
    """Look something up."""
    return f"found {what}"


async def one_turn(app, session, said):
    provider = ScriptedProvider([calls(call("look", what=said)), text(f"answer to {said}")])
    started = session.begin(said)
    turn = run_turn(
        session.history,
        said,
        provider=provider,
        tools=ToolRegistry([look]),
        tool_context=started.tools,
        gate=ApprovalGate(),
        system="s",
        stream=False,
        context=session.window,
    )
    await session.run(started, turn)


async def write_for(home, name, seconds):
    """Write as fast as possible until the deadline; return what was written (committed)."""
    app = make_app(home)
    done = {"turns": [], "shared": [], "facts": [], "sessions": set()}
    deadline = time.monotonic() + seconds
    store = app.store()
    session = Session.open(app, ScriptedProvider([]), session_id=f"{name}-0")
    n = 0
    while time.monotonic() < deadline:
        n += 1
        if name == "cron" and n % 10 == 0:  # a new briefing, a new session
            session = Session.open(app, ScriptedProvider([]), session_id=f"cron-{n}")
        said = f"{name} says {n}: I work {n % 12 + 1} to 5"
        await one_turn(app, session, said)
        done["turns"].append(said)
        done["sessions"].add(session.id)
        shared = f"{name} shared {n}"
        store.save_turn(
            "shared",
            TurnRecord(f"{name}-{n}", store.clock(), "ok", [NewMessage("user", "{}", shared)]),
        )
        done["shared"].append(shared)
        if n % 7 == 0:
            fact = f"I work {n % 12 + 1} to 5"
            kept, _ = Facts(store).add(
                fact, session_id=session.id, said=store.user_texts(session.id)
            )
            done["facts"].append(kept.id)
        store.resume(session.id)
        store.sessions()
    done["sessions"] = sorted(done["sessions"])
    return done


def spawn(home, name, seconds):
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read_end)
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 1)
        os.dup2(devnull, 2)
        try:
            result = {"ok": asyncio.run(write_for(home, name, seconds))}
        except BaseException as exc:  # handed to the parent, which fails the test
            result = {"error": f"{type(exc).__name__}: {exc}"}
        with os.fdopen(write_end, "w") as out:
            json.dump(result, out)
        os._exit(0)
    os.close(write_end)
    return pid, read_end


def collect(pid, fd):
    with os.fdopen(fd) as report:
        result = json.load(report)
    _, status = os.waitpid(pid, 0)
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0
    assert "error" not in result, result.get("error")
    return result["ok"]


def test_the_repl_and_a_briefing_write_at_once_without_error_or_loss(tmp_path):
    home = tmp_path / "home"
    app = make_app(home)
    app.workspace()  # import the backends once, before forking
    with Store.open(app.store_path) as store:
        store.create_session("shared")
    children = [spawn(home, name, SECONDS) for name in ("repl", "cron")]
    repl, cron = (collect(pid, fd) for pid, fd in children)

    with Store.open(app.store_path) as store:
        assert store.integrity() == "ok"
        for result in (repl, cron):
            assert result["turns"], "a writer made no progress"
            said = {t.text for sid in result["sessions"] for t in store.user_texts(sid)}
            assert set(result["turns"]) <= said
        shared = store.rows(
            "SELECT seq, text FROM messages WHERE session_id = 'shared' ORDER BY seq"
        )
        assert [r["seq"] for r in shared] == list(range(1, len(shared) + 1))
        assert sorted(r["text"] for r in shared) == sorted(repl["shared"] + cron["shared"])
        numbers = [r[0] for r in store.rows("SELECT number FROM turns WHERE session_id = 'shared'")]
        assert sorted(numbers) == list(range(1, len(numbers) + 1))
        kept = {f.id for f in Facts(store).all()}
        assert set(repl["facts"] + cron["facts"]) <= kept


def test_threads_of_one_process_share_its_one_connection(tmp_path):
    """Tools run in worker threads while the event loop's thread saves turns: one connection."""
    store = Store.open(tmp_path / "morrow.sqlite")
    store.create_session("s")
    errors, barrier = [], threading.Barrier(4)

    def work(name):
        barrier.wait()
        try:
            for n in range(50):
                said = f"{name} {n}: I work {n % 12 + 1} to 5"
                store.save_turn(
                    "s",
                    TurnRecord(
                        f"{name}-{n}", store.clock(), "ok", [NewMessage("user", "{}", said)]
                    ),
                )
                Facts(store).add(
                    f"I work {n % 12 + 1} to 5", session_id="s", said=store.user_texts("s")
                )
                store.resume("s")
        except Exception as exc:  # collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(f"t{i}",)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(store.resume("s").messages) == 200
    assert store.integrity() == "ok"
    store.close()
