"""Argument matchers (BFCL-style): each operator accepts and rejects what it should."""

import pytest

from morrow.evals.scoring.matchers import MISSING, check, check_fields


@pytest.mark.parametrize(
    ("spec", "value"),
    [
        ("a", "a"),
        ("2026-03-05T16:00:00+01:00", "2026-03-05T10:00:00-05:00"),
        ({"any": True}, MISSING),
        ({"absent": True}, None),
        ({"contains": "ell"}, "hello"),
        ({"icontains": "HELLO"}, "say hello"),
        ({"contains": "b"}, ["a", "b"]),
        ({"regex": r"^\d{2}:\d{2}$"}, "09:30"),
        ({"one_of": [1, 2]}, 2),
        ({"number": 60, "tolerance": 15}, 45),
        (
            {"datetime": "2026-03-05T16:00:00+01:00", "tolerance_minutes": 5},
            "2026-03-05T16:04:00+01:00",
        ),
        ({"datetime": "2026-03-05"}, "2026-03-05T23:00:00+01:00"),
        ({"includes": ["Sam@Example.com"]}, ["sam@example.com", "x@example.com"]),
        ({"subset": ["a", "b"]}, ["a"]),
        ({"set": ["a", "b"]}, ["b", "a"]),
        ({"not": {"contains": "x"}}, "abc"),
        ({"all": [{"contains": "a"}, {"contains": "b"}]}, "ab"),
        ({"fields": {"k": 1}}, {"k": 1, "other": 2}),
        ([1, 2], [1, 2]),
    ],
)
def test_matches(spec, value):
    assert check(spec, value) is None


@pytest.mark.parametrize(
    ("spec", "value", "reason"),
    [
        ("a", "b", "expected 'a'"),
        ("a", MISSING, "missing"),
        ({"absent": True}, "x", "expected no value"),
        ({"contains": "z"}, "abc", "not found"),
        ({"regex": "^x"}, "abc", "does not match"),
        ({"number": 60, "tolerance": 5}, 45, "not within"),
        ({"datetime": "2026-03-05T16:00:00+01:00"}, "2026-03-05T16:30:00+01:00", "not within"),
        ({"datetime": "2026-03-05T16:00:00+01:00"}, "2026-03-05T16:00:00", "both zoned"),
        ({"includes": ["a"]}, ["b"], "missing"),
        ({"subset": ["a"]}, ["a", "b"], "unexpected"),
        ({"set": ["a"]}, ["a", "b"], "exactly"),
        ({"not": "a"}, "a", "unexpected"),
        ([1, 2], [2, 1], "expected"),
    ],
)
def test_rejects_with_a_reason(spec, value, reason):
    assert reason in check(spec, value)


def test_check_fields_names_each_failing_key():
    problems = check_fields(
        {"to": {"includes": ["a@x"]}, "subject": "Hi"}, {"to": [], "subject": "Hi"}
    )
    assert problems == ["to: missing ['a@x'] in []"]
