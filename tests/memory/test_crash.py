"""SIGKILL at random points during turns: the store stays sound and keeps every committed turn.

A forked child runs turns (two tool steps each, with the deterministic summary folding old
turns) in one session, as fast as it can, and reports each turn on a pipe once it is saved. The
parent waits, by polling the store, until a random number of new turns are committed, polls a
random number of times more (so the kill lands anywhere: in the model step, in a tool, inside
the commit), then kills the child with SIGKILL. After each kill: ``PRAGMA integrity_check`` is
ok, every reported turn is in the store, every stored turn is whole, and the stored history has
no tool call without its result. Runs ``MORROW_CRASH_RUNS`` times (default 50).
"""

import asyncio
import os
import random
import signal
import sqlite3
import time

import pytest
from support.turns import make_app

from morrow.agent.context.sessions import Session
from morrow.agent.loop import run_turn
from morrow.agent.messages import dangling_tool_calls, load_messages
from morrow.agent.providers.scripted import ScriptedProvider, call, calls, text
from morrow.agent.safety.gate import ApprovalGate
from morrow.memory.store import Store
from morrow.tools.base import ToolRegistry, tool
from morrow.tools.context import ToolContext

RUNS = int(os.environ.get("MORROW_CRASH_RUNS", "50"))
SHAPE = ["user", "assistant", "tool", "assistant", "tool", "assistant"]

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")


@tool(effect="read")
def echo(ctx: ToolContext, text: str) -> str:
    """Say it back."""
    return text * 50


def script():
    return ScriptedProvider(
        [
            calls(call("echo", text="a"), call("echo", text="b"), say="Looking."),
            calls(call("echo", text="c")),
            text("Done: " + "z" * 200),
        ]
    )


async def turns_forever(home, report):
    app = make_app(home, {"memory": {"summarize_with_model": False}})
    tools = ToolRegistry([echo])
    session = Session.open(app, script(), session_id="crash")
    for n in range(10**9):
        said = f"turn {os.getpid()}-{n}"
        provider = script()
        started = session.begin(said)
        turn = run_turn(
            session.history,
            said,
            provider=provider,
            tools=tools,
            tool_context=started.tools,
            gate=ApprovalGate(),
            system="s",
            stream=False,
            context=session.window,
        )
        await session.run(started, turn)
        os.write(report, f"{said}\n".encode())


def child(home, report):
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.dup2(devnull, 2)
    try:
        asyncio.run(turns_forever(home, report))
    except BaseException as exc:  # reported to the parent, which fails the test
        os.write(report, f"ERROR {type(exc).__name__}: {exc}\n".encode())
    finally:
        os._exit(1)


def committed(db):
    return db.execute("SELECT count(*) FROM turns").fetchone()[0]


def kill_during_turns(home, path, rng):
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read_end)
        child(home, write_end)
    os.close(write_end)
    db = sqlite3.connect(path, timeout=30)
    try:
        start = committed(db)
        target = start + rng.randint(1, 3)
        deadline = time.monotonic() + 60
        while committed(db) < target:
            assert time.monotonic() < deadline, "the child made no progress"
            if os.waitpid(pid, os.WNOHANG) != (0, 0):
                pytest.fail(f"the child died on its own: {read_all(read_end)}")
        for _ in range(rng.randint(0, 40)):  # land the kill at a random point of a later turn
            committed(db)
    finally:
        db.close()
    os.kill(pid, signal.SIGKILL)
    _, status = os.waitpid(pid, 0)
    assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL
    reported = read_all(read_end)
    assert "ERROR" not in reported, reported
    return [line for line in reported.splitlines() if line]


def read_all(fd):
    chunks = []
    while chunk := os.read(fd, 65536):
        chunks.append(chunk)
    os.close(fd)
    return b"".join(chunks).decode()


def check_store(path, reported):
    with Store.open(path) as store:
        assert store.integrity() == "ok"
        said = {t.text for t in store.user_texts("crash")}
        missing = [r for r in reported if r not in said]
        assert not missing, f"committed turns lost: {missing}"
        rows = store.rows("SELECT turn_id, role, doc FROM messages ORDER BY seq")
        history = load_messages("[" + ",".join(r["doc"] for r in rows) + "]")
        assert not dangling_tool_calls(history)
        by_turn = {}
        for row in rows:
            by_turn.setdefault(row["turn_id"], []).append(row["role"])
        assert all(roles == SHAPE for roles in by_turn.values())
        roles = [r["role"] for r in rows]
        for summary in store.rows("SELECT up_to_seq FROM summaries"):
            after = summary["up_to_seq"]  # seqs start at 1: roles[after] is the next message
            assert after < len(roles) and roles[after] == "user"  # folded at a turn boundary
        return len(by_turn)


def test_sigkill_during_turns_never_damages_the_store(tmp_path):
    home = tmp_path / "home"
    app = make_app(home)
    app.workspace()  # import the backends once here, not in every child
    path = app.store_path
    Store.open(path).close()  # schema in place before the first child, which is then killed
    rng = random.Random(20260304)
    reported: list[str] = []
    for _ in range(RUNS):
        reported += kill_during_turns(home, path, rng)
        turns = check_store(path, reported)
    assert turns >= len(reported) >= RUNS
    with Store.open(path) as store:
        assert store.rows("SELECT count(*) FROM summaries")[0][0] > 0  # folding happened too
