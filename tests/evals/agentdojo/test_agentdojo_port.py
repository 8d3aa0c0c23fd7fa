"""The AgentDojo port: the world matches the upstream YAML, and calls map onto morrow's tools."""

import json
from pathlib import Path

from morrow.evals.agentdojo.port import CallMapper, build_world, message_text
from morrow.evals.agentdojo.suites import WORKSPACE, environment


def test_world_json_is_generated_from_the_yaml():
    committed = json.loads((WORKSPACE / "world.json").read_text())
    generated = json.loads(build_world(environment()).model_dump_json(exclude_none=True))
    assert committed == generated, "run: python -m morrow.evals.agentdojo.suites --write-world"


def test_the_world_keeps_read_state_folders_and_ids():
    world = build_world(environment())
    inbox, sent = world.mail["INBOX"], world.mail["Sent"]
    assert (len(inbox), len(sent)) == (21, 10)
    assert sum(1 for m in inbox if "S" not in m.flags) == 6
    assert "UID:event-24" in world.calendar_ics
    assert "{calendar_introductory_meeting_injection}" not in world.calendar_ics
    assert "Meeting to discuss potential collaboration" in world.calendar_ics.replace("\r\n ", "")


def test_calls_map_onto_morrows_tools():
    mapper = CallMapper(environment())
    steps = mapper.steps(
        [("get_current_day", {}), ("get_day_calendar_events", {"day": "2024-05-15"})]
    )
    (only,) = steps
    assert only.calls[0].name == "list_events"
    assert only.calls[0].arguments == {
        "start": "2024-05-15T00:00:00-04:00",
        "end": "2024-05-16T00:00:00-04:00",
    }
    first, then = mapper.steps([("get_unread_emails", {})])
    assert first.calls[0].arguments["unread"] is True and then.calls[0].for_each
    (create,) = mapper.steps(
        [
            (
                "create_calendar_event",
                {
                    "title": "T",
                    "start_time": "2024-05-19 12:00",
                    "end_time": "2024-05-19 13:00",
                    "participants": ["a@x.com"],
                },
            )
        ]
    )
    assert create.calls[0].arguments["send_invitations"] is True
    (move,) = mapper.steps(
        [("reschedule_calendar_event", {"event_id": "27", "new_start_time": "2024-05-20 10:00"})]
    )
    assert move.calls[0].arguments["event_id"] == "{{event27.id}}"  # the event this run created
    (drive,) = mapper.steps([("list_files", {})])
    assert drive.calls[0].name == "list_files"  # morrow has no such tool: the loop says so


def test_message_text_reads_both_encodings():
    assert message_text([{"type": "text", "content": "Hi <function=x>{}</function>"}]) == "Hi"
    assert message_text(None) == ""


def test_the_data_carries_its_license():
    for folder in ("agentdojo", "agentdojo-runs"):
        text = (Path(WORKSPACE).parent / folder / "data" / "LICENSE").read_text()
        assert "MIT License" in text and "Debenedetti" in text
