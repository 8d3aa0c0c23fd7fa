"""The conversation store: sessions, turns in one transaction, summaries, usage, purge, export."""

import json
import stat
from datetime import UTC, datetime

import pytest

from morrow.memory.errors import NotStoredError, SessionExistsError
from morrow.memory.export import export
from morrow.memory.facts import Facts
from morrow.memory.journal import Intent, Journal
from morrow.memory.ledger import Entry, Ledger
from morrow.memory.records import NewMessage, NewSummary, TurnRecord, UsageRecord, UserText
from morrow.memory.state import ProviderHealth, mark_undone, read_health, undone, update_health
from morrow.memory.store import Store

T0 = datetime(2026, 3, 4, 9, 0, tzinfo=UTC)


@pytest.fixture
def store(tmp_path):
    with Store.open(tmp_path / "morrow.sqlite", clock=lambda: T0) as opened:
        yield opened


def turn(turn_id, *texts, status="ok", usage=None, summary=None, title=None):
    messages = [NewMessage("user", json.dumps({"said": texts[0]}), texts[0])]
    messages += [NewMessage("assistant", json.dumps({"said": t}), t) for t in texts[1:]]
    return TurnRecord(turn_id, T0, status, messages, usage=usage, summary=summary, title=title)


def test_the_file_is_private_and_in_wal_mode(store):
    assert stat.S_IMODE(store.path.stat().st_mode) == 0o600
    assert store.rows("PRAGMA journal_mode")[0][0] == "wal"
    assert store.rows("PRAGMA foreign_keys")[0][0] == 1


def test_sessions_are_created_continued_and_listed(store):
    fresh = store.create_session()
    assert fresh.id.startswith("20260304-090000-")
    named = store.create_session("s1")
    with pytest.raises(SessionExistsError):
        store.create_session("s1")
    again, created = store.open_session("s1")
    assert (again.id, created) == ("s1", False)
    other, created = store.open_session("s2")
    assert created and other.turns == 0
    assert {s.id for s in store.sessions()} == {fresh.id, named.id, "s2"}
    with pytest.raises(ValueError, match="invalid session id"):
        store.open_session("../etc/passwd")


def test_a_turn_is_stored_in_order_with_its_number_usage_and_title(store):
    store.create_session("s1")
    usage = UsageRecord("p", "m", 2, 120, 30, 0, 0, 100)
    assert store.save_turn("s1", turn("t1", "hello", "hi!", usage=usage, title="hello")) == [1, 2]
    assert store.save_turn("s1", turn("t2", "again", "yes?", status="cancelled")) == [3, 4]
    resumed = store.resume("s1")
    assert resumed.summary is None
    assert [(m.seq, m.turn_id, m.role, m.chars) for m in resumed.messages] == [
        (1, "t1", "user", len('{"said": "hello"}')),
        (2, "t1", "assistant", len('{"said": "hi!"}')),
        (3, "t2", "user", len('{"said": "again"}')),
        (4, "t2", "assistant", len('{"said": "yes?"}')),
    ]
    assert store.documents("s1", 2, 3) == ['{"said": "hi!"}', '{"said": "again"}']
    info = store.session("s1")
    assert (info.title, info.provider, info.model, info.turns, info.messages) == (
        "hello",
        "p",
        "m",
        2,
        4,
    )
    statuses = [r["status"] for r in store.rows("SELECT status FROM turns ORDER BY number")]
    assert statuses == ["ok", "cancelled"]
    assert store.calibration("m") == (100, 120)
    assert store.calibration("other") == (0, 0)


def test_resume_starts_after_the_latest_summary(store):
    store.create_session("s1")
    store.save_turn("s1", turn("t1", "one", "1"))
    store.save_turn("s1", turn("t2", "two", "2"))
    store.save_turn("s1", turn("t3", "three", "3", summary=NewSummary("one and two", 4, None)))
    resumed = store.resume("s1")
    assert resumed.summary.text == "one and two" and resumed.summary.model is None
    assert [m.seq for m in resumed.messages] == [5, 6]


def test_user_texts_carry_a_reference_to_their_message(store):
    store.create_session("s1")
    store.save_turn("s1", turn("t1", "I work 8 to 4", "noted"))
    assert store.user_texts("s1") == [UserText("t1.0", "I work 8 to 4", T0)]


def test_a_turn_saved_after_its_session_was_purged_starts_it_again(store):
    store.create_session("s1")
    store.save_turn("s1", turn("t1", "before", "x"))
    store.purge("s1")
    store.save_turn("s1", turn("t2", "after", "y"))
    assert [m.turn_id for m in store.resume("s1").messages] == ["t2", "t2"]


def test_purging_a_session_removes_it_and_what_was_learned_in_it(store):
    store.create_session("s1")
    store.create_session("s2")
    store.save_turn("s1", turn("t1", "I work 8 to 4 zanzibarmarker", "ok"))
    store.save_turn("s2", turn("t2", "keep me", "ok"))
    Facts(store).add("I work 8 to 4", session_id="s1", said=store.user_texts("s1"))
    purged = store.purge("s1")
    assert (purged.sessions, purged.messages, purged.facts) == (1, 2, 1)
    assert store.session("s1") is None and store.session("s2") is not None
    assert Facts(store).all() == [] and Facts(store).search("work") == []
    store.close()
    on_disk = b"".join(p.read_bytes() for p in store.path.parent.glob("morrow.sqlite*"))
    assert b"zanzibarmarker" not in on_disk  # gone from the file, not only from the tables
    assert b"keep me" in on_disk


def keep_traces(store, session_id, marker):
    """What a session leaves beyond its messages: a journal row, ledger rows, undo state."""
    intent = Intent("run", session_id, f"call-{marker}", "send_email", "send", "0" * 64)
    Journal(store).begin(Intent(**{**intent.__dict__, "summary": f"subject={marker}"}))
    Ledger(store).record(Entry(T0.date(), "p", f"model-{marker}", 10, 5, session=session_id))
    if session_id is not None:
        mark_undone(store, session_id, f"undone-{marker}")


def test_purging_a_session_takes_its_journal_ledger_and_undo_state_and_the_bytes(store):
    for sid in ("s1", "s2"):
        store.create_session(sid)
        store.save_turn(sid, turn(f"t-{sid}", "hello", "hi"))
    keep_traces(store, "s1", "quokkamarker")
    keep_traces(store, "s2", "wombatmarker")
    purged = store.purge("s1")
    assert (purged.usage, purged.effects) == (1, 1)
    assert [e.session_id for e in Journal(store).entries()] == ["s2"]
    assert Ledger(store).totals().requests == 1 and undone(store, "s1") == set()
    store.close()
    on_disk = b"".join(p.read_bytes() for p in store.path.parent.glob("morrow.sqlite*"))
    assert b"quokkamarker" not in on_disk
    assert b"wombatmarker" in on_disk


def test_purging_everything_takes_what_belongs_to_no_session_too(store):
    store.create_session("s1")
    keep_traces(store, "s1", "a")
    keep_traces(store, None, "b")  # `morrow tools call`: no session
    update_health(store, "primary", lambda h: ProviderHealth("primary", reason="down"))
    purged = store.purge()
    assert (purged.sessions, purged.usage, purged.effects) == (1, 2, 2)
    for table in ("effects", "ledger", "undo_handled", "provider_health"):
        assert store.rows(f"SELECT count(*) FROM {table}")[0][0] == 0, table
    assert read_health(store) == {}


def test_purge_all_empties_the_store(store):
    for sid in ("a", "b"):
        store.create_session(sid)
        store.save_turn(sid, turn(f"t-{sid}", "hello", "hi"))
    assert store.purge().sessions == 2
    assert store.sessions() == [] and store.rows("SELECT count(*) FROM messages")[0][0] == 0
    assert store.integrity() == "ok"


def test_export_holds_every_session_message_summary_usage_and_fact(store):
    store.create_session("s1")
    usage = UsageRecord("p", "m", 1, 10, 5)
    store.save_turn("s1", turn("t1", "I work 8 to 4", "ok", usage=usage))
    store.save_turn("s1", turn("t2", "x", "y", summary=NewSummary("the summary", 2, "p/m")))
    Facts(store).add("I work 8 to 4", session_id="s1", said=store.user_texts("s1"))
    document = export(store)
    assert document["format"] == "morrow-memory-export/1"
    (session,) = document["sessions"]
    assert session["messages"][0]["message"] == {"said": "I work 8 to 4"}
    assert [t["number"] for t in session["turns"]] == [1, 2]
    assert session["summaries"][0]["text"] == "the summary"
    assert session["usage"][0]["input_tokens"] == 10
    assert document["facts"][0]["quote"] == "I work 8 to 4"
    assert export(store, "s1")["facts"] == document["facts"]
    with pytest.raises(NotStoredError):
        export(store, "nope")
