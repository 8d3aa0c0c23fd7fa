import io
import json

import structlog

from morrow.agent import logs


def test_redact_known_shapes_and_values():
    text = (
        "anthropic sk-ant-api03-abcdefghijklmnop openai sk-proj-abcdefghijklmnopqrstuv "
        "google AIzaSyA12345678901234567890 oauth ya29.a0AfH6SMBxyz1234 refresh "
        "1//0gabcdefghijklmnopqrstuvwxyz header Bearer abcdefghijklmnopqrstu"
    )
    out = logs.redact(text)
    for secret in ("sk-ant-api03", "sk-proj", "AIzaSy", "ya29.", "1//0g", "abcdefghijklmnopqrstu"):
        assert secret not in out
    assert logs.redact("value hunter2hunter2 here", ["hunter2hunter2"]) == "value [redacted] here"
    assert logs.redact("input_tokens=12 nothing secret") == "input_tokens=12 nothing secret"


def test_events_go_to_json_file_and_console_by_level(tmp_path, monkeypatch):
    monkeypatch.setenv("MORROW_TEST_API_KEY", "canary-key-0123456789")
    console = io.StringIO()
    run_id = logs.configure(level="warning", file_level="info", log_dir=tmp_path, stream=console)
    log = structlog.get_logger("test")
    log.info("quiet", input_tokens=3, api_key="canary-key-0123456789")
    log.warning("loud", detail="uses canary-key-0123456789 inside")
    logs.close()
    events = [json.loads(line) for line in (tmp_path / "morrow.jsonl").read_text().splitlines()]
    assert [e["event"] for e in events] == ["quiet", "loud"]
    assert all(e["run_id"] == run_id for e in events)
    assert events[0]["input_tokens"] == 3 and events[0]["api_key"] == "[redacted]"
    assert "loud" in console.getvalue() and "quiet" not in console.getvalue()
    assert "canary-key" not in console.getvalue() + json.dumps(events)


def _events(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_the_json_log_is_rotated_by_size_and_stays_private(tmp_path):
    log_dir = tmp_path / "logs"
    logs.configure(level="critical", log_dir=log_dir, max_bytes=2_000, backups=2)
    try:
        log = structlog.get_logger("test")
        for n in range(60):  # about 150 bytes each: 9 000 bytes, more than three files hold
            log.info("step", n=n, detail="x" * 40)
    finally:
        logs.close()
    files = sorted(log_dir.iterdir())
    assert [f.name for f in files] == ["morrow.jsonl", "morrow.jsonl.1", "morrow.jsonl.2"]
    for file in files:
        assert file.stat().st_mode & 0o777 == 0o600
        assert file.stat().st_size <= 2_000
    kept = [e["n"] for f in reversed(files) for e in _events(f)]  # oldest file first
    assert kept == list(range(60 - len(kept), 60))  # the newest events, none lost or repeated


def test_an_old_world_readable_log_is_made_private(tmp_path):
    log_dir = tmp_path / "logs"
    log_dir.mkdir()
    (log_dir / "morrow.jsonl").write_text("")
    (log_dir / "morrow.jsonl").chmod(0o644)
    logs.configure(level="critical", log_dir=log_dir)
    logs.close()
    assert (log_dir / "morrow.jsonl").stat().st_mode & 0o777 == 0o600


def test_a_run_follows_the_file_another_run_rotated(tmp_path):
    log_dir = tmp_path / "logs"
    logs.configure(level="critical", log_dir=log_dir)
    try:
        log = structlog.get_logger("test")
        log.info("before")
        (log_dir / "morrow.jsonl").rename(log_dir / "morrow.jsonl.1")  # as another process does
        log.info("after")
    finally:
        logs.close()
    assert [e["event"] for e in _events(log_dir / "morrow.jsonl.1")] == ["before"]
    assert [e["event"] for e in _events(log_dir / "morrow.jsonl")] == ["after"]
    assert (log_dir / "morrow.jsonl").stat().st_mode & 0o777 == 0o600
