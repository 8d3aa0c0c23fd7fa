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
    failures = evaluate([{"nothing_else_changed": {"allow": ["mail_flags"]}}], BEFORE, after)
    assert failures == [
        "unexpected change: event changed: event 'Lunch' (2026-03-02T12:00:00+01:00): location"
    ]


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


def test_state_predicates_and_optional_claims():
    assert (
        evaluate(
            [{"event_exists": {"title": "Lunch"}}, {"no_event": {"title": "Dinner"}}],
            BEFORE,
            world(),
        )
        == []
    )
    assert (
        evaluate([{"mail_added": {"optional": True}}, {"unchanged": True}], BEFORE, world()) == []
    )
    assert evaluate([{"no_mail": {"subject": "Note"}}], BEFORE, world()) == [
        "no_mail: found 1 matching {'subject': 'Note'}"
    ]


def test_unknown_predicates_are_errors():
    with pytest.raises(ValueError, match="unknown outcome predicate"):
        evaluate([{"world_is_nice": True}], BEFORE, world())
