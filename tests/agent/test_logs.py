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
