"""``morrow eval`` and ``morrow replay`` in-process, and ``--record`` on ``ask`` and ``chat``."""

import io
import json
import shutil
from datetime import date
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from support.fake_api import Call, Say, serve

from morrow.agent.app import App
from morrow.agent.chat.repl import chat
from morrow.agent.cli import main
from morrow.evals.catalog import load_suite
from morrow.evals.trajectory import load_trajectory
from morrow.tools.demo import build_demo_workspace

WINDOW = {"start": "2026-03-05T00:00:00+01:00", "end": "2026-03-06T00:00:00+01:00"}
SCRIPT = [[Say("Let me check."), Call("list_events", WINDOW)], [Say("A 1:1 with Priya at 09:00.")]]


@pytest.fixture
def home(tmp_path):
    root = tmp_path / "home"
    build_demo_workspace(root, today=date(2026, 3, 4), timezone=ZoneInfo("Europe/Berlin"))
    return root


def configure(home: Path, url: str) -> None:
    (home / "config.toml").write_text(
        '[user]\ntimezone = "Europe/Berlin"\nemail = "alex@example.com"\n\n'
        '[[providers]]\nname = "local"\nkind = "openai"\nmodel = "test-model"\n'
        f'base_url = "{url}/v1"\n'
    )


def test_eval_run_replay_writes_json_and_compare_reads_it(tmp_path, capsys):
    out = tmp_path / "out.json"
    assert (
        main(["eval", "run", "core", "--replay", "--case", "agenda-today", "--json", str(out)]) == 0
    )
    printed = capsys.readouterr().out
    assert "PASS agenda-today" in printed and "1/1 cases passed" in printed
    result = json.loads(out.read_text())
    assert result["format"] == "morrow.eval-result"
    assert result["cases"][0]["attempts"][0]["source"] == "replay"
    assert {s["scorer"] for s in result["cases"][0]["attempts"][0]["scores"]} == {
        "tool_calls",
        "outcome",
        "answer",
        "efficiency",
    }
    worse = json.loads(out.read_text())
    worse["cases"][0]["passed"] = False
    (tmp_path / "worse.json").write_text(json.dumps(worse))
    assert main(["eval", "compare", str(out), str(tmp_path / "worse.json")]) == 1
    assert "now failing (1)" in capsys.readouterr().out


def core_and_empty_copy(tmp_path: Path) -> tuple[Path, Path]:
    """The core suite's folder, and a suite of no cases over the same world under tmp_path."""
    core = Path(load_suite("core").path)
    suite = tmp_path / "mine"
    (suite / "cases").mkdir(parents=True)
    meta = (
        (core / "suite.yaml").read_text().replace("world: world.json", f"world: {core}/world.json")
    )
    (suite / "suite.yaml").write_text(meta)
    return core, suite


def test_eval_usage_errors(capsys):
    assert main(["eval", "run", "no-such-suite"]) == 2
    assert "no eval suite 'no-such-suite'" in capsys.readouterr().err
    assert main(["eval", "run", "core", "--case", "nope"]) == 2
    assert main(["eval", "list"]) == 0
    assert "agentdojo-runs" in capsys.readouterr().out


def test_a_missing_golden_fails_instead_of_running_the_script(tmp_path, capsys):
    core, suite = core_and_empty_copy(tmp_path)
    shutil.copy(core / "cases" / "agenda-today.yaml", suite / "cases")
    assert main(["eval", "run", str(suite)]) == 1
    out = capsys.readouterr().out
    assert "FAIL agenda-today" in out and "no golden trajectory at" in out
    assert "morrow eval record" in out
    assert main(["eval", "run", str(suite), "--script"]) == 0  # asked for: the script runs
    assert main(["eval", "record", str(suite)]) == 0
    assert main(["eval", "run", str(suite)]) == 0


def test_suite_yaml_with_an_accepted_disagreement_is_refused(tmp_path, capsys):
    suite = tmp_path / "old"
    suite.mkdir()
    (suite / "suite.yaml").write_text("name: old\nmin_agreement: 0.95\n")
    assert main(["eval", "run", str(suite)]) == 2
    assert "min_agreement was removed" in capsys.readouterr().err
    assert main(["eval", "record", "agentdojo-runs"]) == 2
    assert "plays recorded runs" in capsys.readouterr().err


def test_a_case_with_a_check_that_cannot_fail_is_refused_when_read(tmp_path, capsys):
    core, suite = core_and_empty_copy(tmp_path)
    case = (core / "cases" / "cancel-and-notify.yaml").read_text()
    optional = "    - mail_added: {optional: true, folder: Sent}\n    - nothing_else_changed: true"
    case = case.replace("    - nothing_else_changed: true", optional)
    (suite / "cases" / "cancel.yaml").write_text(case)
    assert main(["eval", "run", str(suite)]) == 2
    err = capsys.readouterr().err
    assert "cancel.yaml: expect.outcome" in err and "'optional' was removed" in err
    assert len(err.strip().splitlines()) == 1


def test_replay_of_a_missing_file_is_one_line(tmp_path, capsys):
    assert main(["replay", str(tmp_path / "missing.json")]) == 1
    assert "cannot read" in capsys.readouterr().err


def test_ask_record_then_replay(home, capsys):
    record = home / "ask.json"
    with serve(SCRIPT) as server:
        configure(home, server.url)
        code = main(
            ["--home", str(home), "ask", "what do I have on Thursday?", "--record", str(record)]
        )
    assert code == 0, capsys.readouterr().err
    trajectory = load_trajectory(record)
    assert trajectory.metadata.source == "live" and trajectory.metadata.model == "test-model"
    assert [len(t.steps) for t in trajectory.turns] == [2]
    assert trajectory.turns[0].steps[0].tool_calls[0].name == "list_events"
    assert "1:1 with Priya" in trajectory.turns[0].steps[0].tool_calls[0].result
    assert trajectory.world.calendar_ics and trajectory.final_world is not None
    assert main(["replay", str(record)]) == 0
    assert "same requests, same final world" in capsys.readouterr().out


def test_a_tampered_recording_fails_replay_with_a_diff(home, capsys):
    record = home / "ask.json"
    with serve(SCRIPT) as server:
        configure(home, server.url)
        assert main(["--home", str(home), "ask", "Thursday?", "--record", str(record)]) == 0
    raw = json.loads(record.read_text())
    sent = raw["turns"][0]["steps"][1]["request"]["new_messages"][-1]["parts"][0]
    sent["content"] = sent["content"].replace("1:1 with Priya", "1:1 with Pria")
    record.write_text(json.dumps(raw))
    capsys.readouterr()
    assert main(["replay", str(record)]) == 1
    err = capsys.readouterr().err
    assert "replay diverged" in err and "+++ replayed" in err


def test_chat_record_keeps_every_turn(home, monkeypatch):
    record = home / "chat.json"
    script = [*SCRIPT, [Say("You're welcome.")]]
    with serve(script) as server:
        configure(home, server.url)
        app = App.load(home=str(home))
        stdin = io.StringIO("what do I have on Thursday?\nthanks\n/exit\n")
        import asyncio

        assert asyncio.run(chat(app, None, stdin, io.StringIO(), record=str(record))) == 0
    trajectory = load_trajectory(record)
    assert [t.user for t in trajectory.turns] == ["what do I have on Thursday?", "thanks"]
    assert trajectory.turns[1].answer == "You're welcome."
    assert main(["replay", str(record)]) == 0


def test_record_needs_the_local_backends(home, capsys):
    (home / "config.toml").write_text('[calendar]\nbackend = "google"\n')
    assert main(["--home", str(home), "ask", "hi", "--record", str(home / "x.json")]) in (2, 78)


def test_live_run_repeats_k_times_records_and_reports_pass_hat(tmp_path, capsys):
    home = tmp_path / "live"
    home.mkdir()
    window = {"start": "2026-03-02T00:00:00+01:00", "end": "2026-03-03T00:00:00+01:00"}
    good = [[Call("list_events", window)], [Say("Team sync, Lunch with Maria, Design review.")]]
    bad = [[Say("No idea.")]]
    records, out = tmp_path / "attempts", tmp_path / "live.json"
    with serve([*good, *bad]) as server:
        configure(home, server.url)
        code = main(
            [
                "--home", str(home), "eval", "run", "core", "--provider", "local", "--k", "2",
                "--case", "agenda-today", "--record-dir", str(records), "--json", str(out),
            ]
        )  # fmt: skip
    assert code == 1  # one of the two attempts failed
    result = json.loads(out.read_text())
    assert result["mode"] == "live" and result["model"] == "test-model"
    assert result["pass_hat"] == {"1": 0.5, "2": 0.0}
    assert [a["passed"] for a in result["cases"][0]["attempts"]] == [True, False]
    assert sorted(p.name for p in records.iterdir()) == [
        "agenda-today.1.json",
        "agenda-today.2.json",
    ]
    assert main(["replay", str(records / "agenda-today.1.json")]) == 0
    assert "pass^2 0.000" in capsys.readouterr().out
