"""The files earlier versions kept beside the store are moved into it when it is first opened.

``tests/data/legacy-state`` holds files written by morrow's own code before the one store (its
README says which): a usage ledger, provider health and undo state.
"""

import shutil
from datetime import date
from pathlib import Path

from structlog.testing import capture_logs

from morrow.agent.app import App
from morrow.agent.config import Config, Paths
from morrow.memory.export import export
from morrow.memory.ledger import Ledger
from morrow.memory.state import read_health, undone
from morrow.memory.store import Store

LEGACY = Path(__file__).parents[1] / "data" / "legacy-state"


def old_home(tmp_path: Path) -> Path:
    home = tmp_path / "home"
    shutil.copytree(LEGACY, home / "state", ignore=shutil.ignore_patterns("README.md"))
    (home / "state" / "provider-health.json.lock").touch()  # the old writers left their lock
    return home


def test_an_old_home_is_moved_into_the_store_on_first_open(tmp_path: Path) -> None:
    home = old_home(tmp_path)
    paths = Paths(home=home, config=home / "config.toml", config_explicit=False, logs=home)
    with App(paths=paths, config=Config()) as app:
        store = app.store()
        ledger = Ledger(store)
        assert ledger.totals().requests == 3
        day = ledger.totals(day=date(2026, 3, 3))
        assert (day.requests, day.input_tokens, day.cache_read_tokens) == (2, 2000, 100)
        assert round(day.cost_usd, 4) == 0.0113
        assert ledger.totals(session="brief-2026-03-03").output_tokens == 300
        health = app.health().read()
        assert health["primary"].reason == "primary: overloaded (HTTP 529)"
        assert health["primary"].cooling_until == 1772525400.0
        assert health["local"].last_success == 1772524860.0 and health["local"].failures == 0
        assert undone(store, "old-chat") == {"call-archive-1", "call-send-2"}
        shown = export(store)  # what purge --all would delete, session or not
        assert len(shown["other_ledger"]) == 3 and len(shown["other_undone"]) == 2
        assert [h["name"] for h in shown["provider_health"]] == ["local", "primary"]
    # the store is the one copy now: the old files are gone, the folder is empty
    assert sorted(p.name for p in (home / "state").iterdir()) == []


def test_an_import_cut_short_is_done_again_without_doubles(tmp_path: Path) -> None:
    home = old_home(tmp_path)
    Store.open(home / "morrow.sqlite", legacy_state=home / "state").close()
    # a crash after the import committed but before the files were removed: they are back
    shutil.copytree(LEGACY, home / "state", dirs_exist_ok=True)
    with Store.open(home / "morrow.sqlite", legacy_state=home / "state") as store:
        assert Ledger(store).totals().requests == 3
        assert len(read_health(store)) == 2
        assert undone(store, "old-chat") == {"call-archive-1", "call-send-2"}
    assert not (home / "state" / "usage.sqlite").exists()


def test_a_health_record_written_since_wins_over_the_old_file(tmp_path: Path) -> None:
    home = old_home(tmp_path)
    (home / "state" / "provider-health.json").rename(tmp_path / "later.json")
    with Store.open(home / "morrow.sqlite", legacy_state=home / "state") as store:
        with store.write() as db:
            db.execute("INSERT INTO provider_health (name, failures) VALUES ('primary', 0)")
    (tmp_path / "later.json").rename(home / "state" / "provider-health.json")
    with Store.open(home / "morrow.sqlite", legacy_state=home / "state") as store:
        assert read_health(store)["primary"].failures == 0  # the store's newer record kept
        assert read_health(store)["local"].last_success == 1772524860.0


def test_an_unreadable_old_file_is_left_in_place_and_named(tmp_path: Path) -> None:
    home = old_home(tmp_path)
    broken = home / "state" / "usage.sqlite"
    broken.write_bytes(b"not a database, a shopping list\n" * 200)
    (home / "state" / "undo" / "bad.json").write_text("{half a file")
    with capture_logs() as logs, Store.open(home / "morrow.sqlite", legacy_state=home / "state"):
        pass
    unreadable = sorted(e["path"] for e in logs if e["event"] == "legacy_state_unreadable")
    assert unreadable == sorted([str(broken), str(home / "state" / "undo" / "bad.json")])
    assert broken.read_bytes().startswith(b"not a database")  # nothing of it is lost
    assert not (home / "state" / "provider-health.json").exists()  # the readable ones moved
    assert not (home / "state" / "undo" / "old-chat.json").exists()
