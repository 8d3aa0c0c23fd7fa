"""Every failure of the command line is one line on stderr and the README's exit code.

Issue 15 item 11 (a home that cannot be used, closed or undecodable input, a crash) and 16
item 5 (exit codes by cause), then a hypothesis pass over CLI arguments: 0 tracebacks.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from datetime import date
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx2
import pytest
import respx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from morrow.agent.cli import main, shortcut
from morrow.tools.demo import build_demo_workspace, demo_config

DAY = date(2026, 3, 4)
ZONE = "Europe/Berlin"
CODES = {0, 1, 2, 3, 69, 75, 78}
URL = "http://127.0.0.1:9/v1"


@pytest.fixture
def home(tmp_path: Path) -> Path:
    root = tmp_path / "home"
    build_demo_workspace(root, today=DAY, timezone=ZoneInfo(ZONE))
    (root / "config.toml").write_text(demo_config(root, timezone=ZONE))  # the offline model
    return root


def one_line(err: str) -> str:
    assert "Traceback" not in err, err
    assert err.count("\n") == 1 and err.startswith("morrow"), err
    return err.strip()


def morrow(*args: str, env: dict[str, str] | None = None, **kwargs: object):
    """``morrow ARGS`` in a process of its own (for closed descriptors and non-UTF-8 argv)."""
    return subprocess.run(
        [sys.executable, "-m", "morrow.agent.cli", *args],
        capture_output=True,
        env={**os.environ, **(env or {})},
        timeout=60,
        check=False,
        **kwargs,  # type: ignore[call-overload]
    )


# -- the home and the files morrow cannot use --------------------------------------------------


def test_home_that_is_a_file_is_78_in_one_line(tmp_path, capsys):
    afile = tmp_path / "afile"
    afile.write_text("x")
    for argv in (["brief"], ["doctor"], ["tools", "list"], ["memory", "sessions"]):
        assert main(["--home", str(afile), *argv]) == 78, argv
        line = one_line(capsys.readouterr().err)
        assert line == f"morrow: {afile}: the home is not a folder (--home, MORROW_HOME)"


def test_home_under_sys_is_one_line(capsys):
    assert main(["--home", "/sys/morrow-home", "brief"]) in (78, 1)
    assert "morrow: " in one_line(capsys.readouterr().err)


READ_ONLY_RUNS = {
    "brief": ["brief"],
    "doctor": ["doctor", "--offline"],
    "calendars": ["calendars"],
    "memory": ["memory", "list"],
    "ask": ["ask", "hello"],
    "read": ["tools", "call", "list_events", "--args", '{"start": "2026-03-04T00:00:00Z", '
             '"end": "2026-03-05T00:00:00Z"}'],
}  # fmt: skip


def run_in_read_only_home(home: Path, results: Path) -> dict[str, tuple[int, str, str]]:
    """Each of READ_ONLY_RUNS as its own process over ``home`` made read-only.

    As a user, by its mode (0500). As root, whom modes do not stop, on a read-only bind mount
    of it in a mount namespace of its own (``unshare -m``): the file system refuses every write.
    """
    results.mkdir()
    script = ["set -u", 'H="$1"', 'R="$2"']
    if os.geteuid() == 0:
        script.append('mount --bind "$H" "$H" && mount -o remount,bind,ro "$H" || exit 99')
    for name, argv in READ_ONLY_RUNS.items():
        words = shlex.join(argv)
        script.append(
            f'"{sys.executable}" -m morrow.agent.cli --home "$H" {words} '
            f'>"$R/{name}.out" 2>"$R/{name}.err" </dev/null; echo $? >"$R/{name}.rc"'
        )
    command = ["bash", "-c", "\n".join(script), "-", str(home), str(results)]
    if os.geteuid() == 0:
        command = ["unshare", "-m", *command]
    home.chmod(0o500)
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    finally:
        home.chmod(0o700)
    assert done.returncode == 0, done.stderr  # 99: this machine cannot mount (no privilege)
    return {
        name: (
            int((results / f"{name}.rc").read_text()),
            (results / f"{name}.out").read_text(),
            (results / f"{name}.err").read_text(),
        )
        for name in READ_ONLY_RUNS
    }


def test_a_read_only_home_is_one_line_and_78_and_the_caches_fall_back(home, tmp_path):
    ran = run_in_read_only_home(home, tmp_path / "results")
    refused = ("Permission denied", "Read-only file system")
    code, _, err = ran["brief"]  # a briefing is kept in the home: it cannot run
    assert code == 78 and any(r in one_line(err) for r in refused)
    code, out, _ = ran["doctor"]  # doctor says what is wrong and checks the rest
    assert code == 1 and "PROBLEM: not writable" in out and "calendar: ics, " in out
    code, out, err = ran["calendars"]  # the indexes are caches: in memory for this run
    assert code == 0 and out.startswith("main ") and err == ""
    for name in ("memory", "ask"):  # sessions and the effect journal are not: 78, and why
        code, _, err = ran[name]
        assert code == 78 and "which must be writable" in one_line(err), name
    code, out, err = ran["read"]  # a tool that only reads needs no journal
    assert code == 0 and '"title": "Team sync"' in out and err == "", err


def test_a_damaged_store_is_kept_and_named_and_reading_tools_still_work(home, capsys):
    (home / "morrow.sqlite").write_bytes(b"not a database, and the user's data: kept")
    span = '{"start": "2026-03-04T00:00:00Z", "end": "2026-03-05T00:00:00Z"}'
    assert main(["--home", str(home), "tools", "call", "list_events", "--args", span]) == 0
    assert '"title": "Team sync"' in capsys.readouterr().out
    assert main(["--home", str(home), "tools", "call", "recall", "--args", '{"query": "x"}']) == 1
    assert "not a morrow store, or damaged" in one_line(capsys.readouterr().err)
    assert main(["--home", str(home), "memory", "list"]) == 1
    assert "not a morrow store, or damaged" in one_line(capsys.readouterr().err)
    assert (home / "morrow.sqlite").read_bytes().startswith(b"not a database")


def test_unwritable_lock_folder_and_out_file_are_one_line(home, tmp_path, capsys):
    # a file where the lock's folder should be: no permissions needed to make it unusable
    (home / "state").mkdir(exist_ok=True)
    (home / "state" / "brief").write_text("in the way")
    assert main(["--home", str(home), "brief"]) == 78
    assert "cannot use" in one_line(capsys.readouterr().err)
    (home / "state" / "brief").unlink()
    out = tmp_path / "no-such-folder" / "x" / "brief.md"
    out.parent.parent.write_text("a file, not a folder")
    assert main(["--home", str(home), "brief", "--out", str(out)]) == 1
    line = one_line(capsys.readouterr().err)
    assert line.startswith("morrow: cannot use ") and "no-such-folder" in line
    assert not list((home / "state" / "brief").glob("*.done"))  # the briefing went nowhere


def test_non_utf8_argument_and_chat_input(home):
    done = morrow("--home", str(home), "ask", os.fsdecode(b"caf\xe9"))
    assert done.returncode == 2
    assert one_line(done.stderr.decode()) == "morrow: an argument is not valid UTF-8: b'caf\\xe9'"
    chat = morrow("--home", str(home), "chat", input=b"\xff\xfe bad\n/exit\n")
    err = chat.stderr.decode()
    assert chat.returncode == 0 and "Traceback" not in err
    assert "morrow: line 1 is not valid UTF-8, skipped: \\xff\\xfe bad" in err


def test_non_utf8_stdin_for_ask_is_a_usage_error(home):
    done = morrow("--home", str(home), "ask", "-", input=b"\xffoops")
    assert done.returncode == 2
    line = one_line(done.stderr.decode())
    assert line == "morrow: stdin is not valid UTF-8 (byte 0xff at offset 0)"


CLOSING = "import os, sys; {close}from morrow.agent.cli import main; sys.exit(main(sys.argv[1:]))"


def closed(home: Path, close: str, *argv: str) -> subprocess.CompletedProcess[bytes]:
    """``morrow ARGV`` with some standard descriptors closed (``os.close(0); ``...)."""
    return subprocess.run(
        [sys.executable, "-c", CLOSING.format(close=close), "--home", str(home), *argv],
        stderr=subprocess.PIPE,
        stdout=subprocess.PIPE if "close(1)" not in close else None,
        stdin=subprocess.DEVNULL,
        timeout=60,
        check=False,
    )


def test_closed_stdin_and_stdout(home):
    asked = closed(home, "os.close(0); ", "ask", "-")
    assert asked.returncode == 2  # nothing to ask on a closed stdin
    assert one_line(asked.stderr.decode()).startswith("morrow: nothing to ask")
    chat = closed(home, "os.close(0); ", "chat")
    assert chat.returncode == 0 and b"Traceback" not in chat.stderr  # no input: it leaves
    listed = closed(home, "os.close(0); os.close(1); ", "tools", "list")
    assert listed.returncode == 2
    assert one_line(listed.stderr.decode()).startswith("morrow: standard output is closed")
    out = home / "brief.md"  # with --out, a closed stdout does not matter
    briefed = closed(home, "os.close(1); ", "brief", "--out", str(out))
    assert briefed.returncode == 0, briefed.stderr
    assert "Briefing for" in out.read_text()


def test_a_crash_is_one_line_and_its_traceback_only_in_the_log(home, capsys, monkeypatch):
    from morrow.agent.commands import tools

    def broken(args):
        raise RuntimeError("a bug")

    monkeypatch.setattr(tools, "run_tools_list", broken)
    assert main(["--home", str(home), "--log-level", "debug", "tools", "list"]) == 1
    line = one_line(capsys.readouterr().err)
    assert line.startswith("morrow: internal error: RuntimeError: a bug (details in ")
    logged = (home / "logs" / "morrow.jsonl").read_text()
    assert "Traceback" in logged and "a bug" in logged


# -- exit codes by cause (issue 16 item 5) ------------------------------------------------------


def configure(home: Path, kind: str = "openai") -> None:
    base = URL if kind == "openai" else URL.removesuffix("/v1")
    (home / "config.toml").write_text(
        f'[user]\ntimezone = "{ZONE}"\n[[providers]]\nname = "p"\nkind = "{kind}"\n'
        f'model = "m"\nbase_url = "{base}"\nmax_attempts = 1\n'
    )


@pytest.mark.parametrize(("status", "code"), [(401, 78), (403, 78), (404, 78), (400, 1)])
@pytest.mark.parametrize("kind", ["openai", "anthropic"])
def test_exit_code_of_a_rejection(home, capsys, respx_mock: respx.MockRouter, kind, status, code):
    configure(home, kind)
    path = "/chat/completions" if kind == "openai" else "/messages"
    body = {"error": {"type": "error", "message": f"status {status}"}}
    respx_mock.post(url__regex=f".*{path}$").mock(return_value=httpx2.Response(status, json=body))
    assert main(["--home", str(home), "ask", "hi"]) == code
    assert f"status {status}" in one_line(capsys.readouterr().err)


def test_empty_question_is_2_before_any_provider(home, capsys, respx_mock: respx.MockRouter):
    configure(home)
    route = respx_mock.post(url__regex=".*")
    for question in ("", "   "):
        assert main(["--home", str(home), "ask", question]) == 2
        assert one_line(capsys.readouterr().err) == "morrow: nothing to ask: the question is empty"
    assert not route.called


def test_a_missing_key_is_78_everywhere(home, capsys):
    (home / "config.toml").write_text(
        f'[user]\ntimezone = "{ZONE}"\n[[providers]]\nname = "p"\nkind = "anthropic"\n'
        'model = "m"\napi_key_env = "MORROW_UNSET_KEY"\n'
    )
    assert main(["--home", str(home), "ask", "hi"]) == 78
    assert "MORROW_UNSET_KEY is not set" in one_line(capsys.readouterr().err)


def test_argparse_mistakes_are_one_line(capsys):
    for argv in (["ask", "--bogus"], ["brief", "--format", "pdf"], ["nope"], ["tools"]):
        with pytest.raises(SystemExit) as exit:
            main(argv)
        assert exit.value.code == 2
        line = one_line(capsys.readouterr().err)
        assert line.endswith("--help)"), line


def test_the_shortcut_only_takes_questions():
    assert shortcut(["what is on today?"]) == ["ask", "what is on today?"]
    assert shortcut(["--home", "my home", "a b"]) == ["--home", "my home", "ask", "a b"]
    assert shortcut(["chat"]) == ["chat"]
    assert shortcut(["brif"]) == ["brif"]  # a typo stays an unknown command
    assert shortcut(["ask", "a b"]) == ["ask", "a b"]


# -- the fuzz pass -----------------------------------------------------------------------------

WORDS = [
    "ask", "brief", "tools", "list", "call", "doctor", "memory", "sessions", "export",
    "purge", "forget", "init", "chat", "eval", "replay", "auth", "google", "list_events",
    "--json", "--offline", "--force", "--yes", "--new", "--session", "--date", "--format",
    "--out", "--args", "--approve", "--provider", "-m", "--config", "--home", "--log-level",
    "--all", "--no-stream", "md", "json", "text", "2026-03-04", "2026-02-30", "{}", "{",
    "[1]", '{"start": 1}', "debug", "-", "", " ", "x/y", "../..", "\x00", "\x1b[2J", "🙂",
    "a question with spaces?", "--timezone", "Mars/Olympus", "--version", "--help",
]  # fmt: skip
SAFE_FIRST = ["brief", "tools", "doctor", "memory", "init", "eval", "replay", "ask", "nope"]


@settings(
    max_examples=120,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    first=st.sampled_from(SAFE_FIRST),
    rest=st.lists(st.one_of(st.sampled_from(WORDS), st.text(max_size=12)), max_size=5),
)
def test_fuzzed_arguments_never_trace_back(home, tmp_path, capsys, first, rest):
    argv = [first, *rest]
    if first == "init" or "chat" in argv or "auth" in argv:
        argv += ["--yes"] if first == "init" else []
    if "chat" in argv or "auth" in argv:
        return  # interactive: the terminal tests drive them
    argv = [a.replace("\x00", "") if "--home" in argv else a for a in argv]
    cwd = os.getcwd()
    os.chdir(tmp_path)  # a relative --out lands in the test's folder
    try:
        code = main(["--home", str(home), "--config", str(home / "config.toml"), *argv])
    except SystemExit as exit:  # argparse: --help, --version, a usage mistake
        code = exit.code if isinstance(exit.code, int) else 2
    finally:
        os.chdir(cwd)
    out, err = capsys.readouterr()
    assert code in CODES, (argv, code, err)
    assert "Traceback" not in err and "internal error" not in err, (argv, err)
    if code not in (0, 3) and (err or first != "doctor"):  # doctor reports on its screen
        assert err.count("\n") == 1 and err.startswith("morrow"), (argv, err)
    if code not in (0, 3) and not err:
        assert "problem(s) found" in out or "invalid:" in out, (argv, out)
