"""Outcome predicates over two world digests: changes claimed, the rest reported."""

import pytest

from morrow.evals.scoring.outcome import evaluate
from morrow.evals.world import EventDigest, MailDigest, WorldDigest

LUNCH = EventDigest(
    uid="lunch", title="Lunch", start="2026-03-02T12:00:00+01:00", end="2026-03-02T13:00:00+01:00"
)
NOTE = MailDigest(folder="INBOX", name="n1", message_id="m1", subject="Note", flags="")
BEFORE = WorldDigest(events=[LUNCH], mail=[NOTE])


def world(events=(LUNCH,), mail=(NOTE,)):
    return WorldDigest(events=list(events), mail=list(mail))


def test_unchanged_world_passes_unchanged():
    assert evaluate([{"unchanged": True}], BEFORE, world()) == []


def test_an_added_event_is_claimed_and_nothing_else_changed():
    new = EventDigest(
        uid="x1", title="Call", start="2026-03-03T10:00:00+01:00", end="2026-03-03T10:30:00+01:00"
    )
    after = world(events=(LUNCH, new))
    spec = [
        {"event_added": {"title": "Call", "start": {"datetime": "2026-03-03T09:00:00Z"}}},
        {"nothing_else_changed": True},
    ]
    assert evaluate(spec, BEFORE, after) == []
    assert evaluate([{"unchanged": True}], BEFORE, after) == [
        "unexpected change: event added: event 'Call' (2026-03-03T10:00:00+01:00)"
    ]


def test_unclaimed_changes_fail_nothing_else_changed_unless_allowed():
    read = NOTE.model_copy(update={"flags": "S"})
    moved = LUNCH.model_copy(update={"location": "Cafe"})
    after = world(events=(moved,), mail=(read,))
    became_read = {"mail_flags": {"unread": False, "before": {"unread": True}}}
    failures = evaluate([{"nothing_else_changed": {"allow": [became_read]}}], BEFORE, after)
    assert failures == [
        "unexpected change: event changed: event 'Lunch' (2026-03-02T12:00:00+01:00): location"
    ]
    # the allowance excuses only what it describes: mail becoming unread is still a change
    unread = NOTE.model_copy(update={"flags": ""})
    read_before = world(mail=(read,))
    assert evaluate(
        [{"nothing_else_changed": {"allow": [became_read]}}], read_before, world(mail=(unread,))
    ) == ["unexpected change: mail flags: message 'Note' in INBOX: flags"]


def test_a_whole_kind_of_change_cannot_be_allowed():
    with pytest.raises(ValueError, match="a whole kind of change would excuse anything"):
        evaluate([{"nothing_else_changed": {"allow": ["mail_flags"]}}], BEFORE, world())


def test_moves_and_sends_and_counts():
    archived = NOTE.model_copy(update={"folder": "Archive", "name": "n1"})
    sent = MailDigest(
        folder="Sent", name="s1", message_id="s1", to=["sam@example.com"], subject="Hi"
    )
    after = world(mail=(archived, sent))
    assert (
        evaluate(
            [{"mail_moved": {"folder": "Archive", "before": {"folder": "INBOX"}}}], BEFORE, after
        )
        == []
    )
    assert evaluate([{"nothing_sent": True}], BEFORE, after) == [
        "nothing_sent: mail added: message 'Hi' in Sent"
    ]
    assert evaluate([{"mail_added": {"count": 2}}], BEFORE, after)[0].startswith(
        "mail_added: expected 2"
    )


def test_cancelled_occurrence_by_exdate():
    series = EventDigest(
        uid="s", title="Sync", start="2026-03-02T10:00:00+01:00", rrule="FREQ=WEEKLY"
    )
    cancelled = series.model_copy(update={"exdates": ["2026-03-09T10:00:00+01:00"]})
    spec = [{"event_cancelled": {"title": "Sync", "start": {"datetime": "2026-03-09T09:00:00Z"}}}]
    assert evaluate(spec, world(events=(series,)), world(events=(cancelled,))) == []
    other = [{"event_cancelled": {"title": "Sync", "start": {"datetime": "2026-03-16T09:00:00Z"}}}]
    assert evaluate(other, world(events=(series,)), world(events=(cancelled,)))


def test_state_predicates_and_counts():
    assert (
        evaluate(
            [{"event_exists": {"title": "Lunch"}}, {"no_event": {"title": "Dinner"}}],
            BEFORE,
            world(),
        )
        == []
    )
    assert evaluate([{"no_mail": {"subject": "Note"}}], BEFORE, world()) == [
        "no_mail: found 1 matching {'subject': 'Note'}"
    ]
    two = world(mail=(NOTE, NOTE.model_copy(update={"name": "n2", "message_id": "m2"})))
    assert evaluate([{"mail_exists": {"count": 2, "subject": "Note"}}], BEFORE, two) == []
    assert evaluate([{"mail_exists": {"count": 1, "subject": "Note"}}], BEFORE, two) == [
        "mail_exists: expected 1 matching, found 2 for {'subject': 'Note'}"
    ]


def test_text_is_subject_or_body_and_title_or_description():
    mail = NOTE.model_copy(update={"body": "the Important Message! is here"})
    assert (
        evaluate(
            [{"mail_exists": {"text": {"icontains": "important message!"}}}],
            BEFORE,
            world(mail=(mail,)),
        )
        == []
    )
    event = LUNCH.model_copy(update={"description": "Intro with Mark"})
    spec = [
        {
            "event_exists": {
                "text": {"icontains": "intro with mark"},
                "start": {"datetime": "2026-03-02"},
            }
        }
    ]
    assert evaluate(spec, BEFORE, world(events=(event,))) == []
    assert evaluate(spec, BEFORE, world())


def test_optional_was_removed_because_it_cannot_fail():
    with pytest.raises(ValueError, match="'optional' was removed"):
        evaluate([{"mail_added": {"optional": True}}], BEFORE, world())


def test_unknown_predicates_are_errors():
    with pytest.raises(ValueError, match="unknown outcome predicate"):
        evaluate([{"world_is_nice": True}], BEFORE, world())
