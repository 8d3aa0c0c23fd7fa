"""One store per process: ask, chat and brief open it once and hand it to everything that keeps.

Each run below makes the store do all it does in one turn (sessions, the memory tools, the
effect journal, provenance, the usage ledger, provider health, undo state, reminders), and
``Store.open`` is counted.
"""

import io
import sys
from datetime import date
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from support.fake_api import Call, Say, serve

from morrow.agent.cli import main
from morrow.memory.database import Database
from morrow.memory.facts import Facts
from morrow.memory.journal import Journal
from morrow.memory.ledger import Ledger
from morrow.memory.state import read_health
from morrow.memory.store import Store
from morrow.tools.demo import build_demo_workspace

DAY = date(2026, 3, 4)
REMEMBER = [Call("remember", {"fact": "I work 8 to 4"}), Call("recall", {"query": "work"})]


@pytest.fixture
def opened(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """The paths ``Store.open`` was called with, in order."""
    calls: list[Path] = []
    original = Database.open.__func__  # type: ignore[attr-defined]

    def counting(cls: type, path: Path | str, **options: object) -> Database:
        calls.append(Path(path))
        return original(cls, path, **options)

    monkeypatch.setattr(Database, "open", classmethod(counting))
    return calls


def configure(home: Path, url: str) -> None:
    build_demo_workspace(home, today=DAY, timezone=ZoneInfo("Europe/Berlin"))
    (home / "config.toml").write_text(
        '[user]\ntimezone = "Europe/Berlin"\nemail = "alex@example.com"\n'
        '[approvals]\nmode = "allow-writes"\n'
        f'[[providers]]\nname = "local"\nkind = "openai"\nmodel = "test-model"\n'
        f'base_url = "{url}/v1"\n'
    )


def check(home: Path, facts: list[str]) -> Store:
    store = Store.open(home / "morrow.sqlite")
    assert [f.text for f in Facts(store).all()] == facts
    assert [(e.tool, e.status) for e in Journal(store).entries()] == [("remember", "done")]
    assert Ledger(store).totals().requests == 2
    assert read_health(store)["local"].failures == 0
    return store


def test_ask_opens_the_store_once(tmp_path: Path, opened: list[Path]) -> None:
    home = tmp_path / "home"
    with serve([REMEMBER, [Say("Noted.")]]) as server:
        configure(home, server.url)
        args = [
            "--home",
            str(home),
            "ask",
            "remember that I work 8 to 4",
            "--new",
            "--session",
            "a1",
        ]
        assert main(args) == 0
    assert opened == [home / "morrow.sqlite"]
    check(home, ["I work 8 to 4"]).close()


def test_chat_opens_the_store_once(
    tmp_path: Path, opened: list[Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "home"
    said = "remember that I work 8 to 4\n/cost\n/memory\n/undo\n/new\n/exit\n"
    monkeypatch.setattr(sys, "stdin", io.StringIO(said))
    with serve([REMEMBER, [Say("Noted.")]]) as server:
        configure(home, server.url)
        assert main(["--home", str(home), "chat", "--new", "--session", "c1"]) == 0
    assert opened == [home / "morrow.sqlite"]
    with check(home, []) as store:  # /undo forgot the fact
        assert store.rows("SELECT session_id FROM undo_handled")[0][0] == "c1"
        assert store.session("c1") is not None and len(store.sessions()) == 2  # and /new's


def test_brief_opens_the_store_once(tmp_path: Path, opened: list[Path]) -> None:
    home = tmp_path / "home"
    with serve([[Say("Your day, in short.")]]) as server:
        configure(home, server.url)
        code = main(["--home", str(home), "brief", "--date", DAY.isoformat()])
    assert code == 0
    assert opened == [home / "morrow.sqlite"]
    with Store.open(home / "morrow.sqlite") as store:
        assert store.session(f"brief-{DAY.isoformat()}") is not None
        assert Ledger(store).totals(session=None).requests == 1
