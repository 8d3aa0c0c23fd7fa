"""Argument and field matchers, after BFCL's rules: exact, subset, regex, tolerances, any.

A matcher is written in a case file as a plain value (exact match) or a one-key mapping:

=====================================  ==================================================
``value``                              exact; two ISO datetimes are equal when they are the
                                       same instant, lists and mappings compare whole
``{any: true}``                        anything, also a missing argument
``{absent: true}``                     the argument was not given (or was null)
``{exact: value}``                     exact, also for a value that is itself a mapping
``{contains: "text"}``                 a substring (case-sensitive); on a list, an element;
                                       ``ignore_newlines: true`` drops line breaks first
``{icontains: "text"}``                the same, ignoring case
``{similar: "text", ratio: 0.95}``     a text at least this similar (difflib's ratio, ends
                                       stripped; AgentDojo's test for a copied body)
``{regex: "pattern"}``                 ``re.search``; on a list, any element
``{one_of: [a, b]}``                   exactly one of these values
``{number: 3, tolerance: 0.5}``        a number within the tolerance
``{datetime: ISO, tolerance_minutes}`` the same instant within the tolerance (default 0);
                                       a bare date matches that day
``{includes: [a, b]}``                 a list holding at least these (emails: any case)
``{subset: [a, b]}``                   a list holding nothing but these
``{set: [a, b]}``                      a list holding exactly these, in any order
``{not: matcher}``                     anything the inner matcher rejects
``{all: [m1, m2]}``                    every one of the matchers
``{fields: {key: matcher}}``           a mapping whose listed keys match (others free)
=====================================  ==================================================

:func:`check` returns None on a match and a short reason otherwise, so reports can say why.
"""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta
from typing import Any

MISSING: Any = object()
_OPERATORS = frozenset(
    {
        "any",
        "absent",
        "exact",
        "contains",
        "icontains",
        "similar",
        "regex",
        "one_of",
        "number",
        "datetime",
        "includes",
        "subset",
        "set",
        "not",
        "all",
        "fields",
    }
)


def is_operator(spec: Any) -> bool:
    """Whether ``spec`` is an operator mapping rather than a literal value."""
    return isinstance(spec, dict) and len(spec) >= 1 and next(iter(spec)) in _OPERATORS


def check(spec: Any, value: Any) -> str | None:
    """None when ``value`` satisfies ``spec``, else why not (``value`` may be :data:`MISSING`)."""
    if not is_operator(spec):
        return _exact(spec, value)
    op = next(iter(spec))
    if op == "any":
        return None
    if op == "absent":
        return None if value is MISSING or value is None else f"expected no value, got {value!r}"
    if value is MISSING:
        return "missing"
    return _CHECKS[op](spec, value)


def check_fields(specs: dict[str, Any], actual: dict[str, Any]) -> list[str]:
    """Every listed key of ``actual`` checked against its matcher; the reasons that failed."""
    problems = []
    for key, spec in specs.items():
        reason = check(spec, actual.get(key, MISSING))
        if reason is not None:
            problems.append(f"{key}: {reason}")
    return problems


def _exact(expected: Any, value: Any) -> str | None:
    if value is MISSING:
        return f"missing (expected {expected!r})"
    if _equal(expected, value):
        return None
    return f"expected {expected!r}, got {_short(value)}"


def _equal(expected: Any, value: Any) -> bool:
    if isinstance(expected, str) and isinstance(value, str):
        a, b = _parse_datetime(expected), _parse_datetime(value)
        if a is not None and b is not None and _aware(a) == _aware(b):
            return True
    if isinstance(expected, list) and isinstance(value, list):
        return len(expected) == len(value) and all(map(_equal, expected, value))
    if isinstance(expected, dict) and isinstance(value, dict):
        return expected.keys() == value.keys() and all(
            _equal(expected[k], value[k]) for k in expected
        )
    return bool(expected == value)


def _aware(value: datetime) -> tuple[bool, datetime]:
    """Comparable key: aware datetimes by instant, naive ones as they are (never equal)."""
    return (value.tzinfo is not None, value)


def _contains(spec: dict[str, Any], value: Any, fold: bool = False) -> str | None:
    needle = str(spec["icontains" if fold else "contains"])
    flat = bool(spec.get("ignore_newlines"))
    if flat:
        needle = needle.replace("\n", "")
    items = value if isinstance(value, list) else [value]
    for item in items:
        hay = str(item).replace("\n", "") if flat else str(item)
        if (needle.casefold() in hay.casefold()) if fold else (needle in hay):
            return None
    return f"{_short(needle)} not found in {_short(value)}"


def _similar(spec: dict[str, Any], value: Any) -> str | None:
    from difflib import SequenceMatcher

    wanted = str(spec["similar"]).strip()
    ratio = SequenceMatcher(None, wanted, str(value).strip()).ratio()
    floor = float(spec.get("ratio", 0.95))
    return None if ratio >= floor else f"only {ratio:.2f} similar (< {floor}) to {_short(wanted)}"


def _regex(spec: dict[str, Any], value: Any) -> str | None:
    pattern = re.compile(str(spec["regex"]))
    items = value if isinstance(value, list) else [value]
    if any(pattern.search(str(item)) for item in items):
        return None
    return f"/{pattern.pattern}/ does not match {_short(value)}"


def _one_of(spec: dict[str, Any], value: Any) -> str | None:
    if any(_equal(option, value) for option in spec["one_of"]):
        return None
    return f"expected one of {spec['one_of']!r}, got {_short(value)}"


def _number(spec: dict[str, Any], value: Any) -> str | None:
    try:
        distance = abs(float(value) - float(spec["number"]))
    except (TypeError, ValueError):
        return f"not a number: {_short(value)}"
    tolerance = float(spec.get("tolerance", 0))
    return (
        None if distance <= tolerance else f"{value} is not within {tolerance} of {spec['number']}"
    )


def _datetime(spec: dict[str, Any], value: Any) -> str | None:
    wanted = str(spec["datetime"])
    got = _parse_datetime(str(value)) if value is not None else None
    if got is None:
        return f"not an ISO datetime: {_short(value)}"
    if len(wanted) == 10:  # a bare date: any time that day (in the value's own zone)
        return None if got.date().isoformat() == wanted else f"{value} is not on {wanted}"
    target = _parse_datetime(wanted)
    if target is None:
        return f"bad matcher datetime {wanted!r}"
    if (target.tzinfo is None) != (got.tzinfo is None):
        return f"{value} and {wanted} are not both zoned (or both floating)"
    tolerance = timedelta(minutes=float(spec.get("tolerance_minutes", 0)))
    if abs(got - target) <= tolerance:
        return None
    return f"{value} is not within {tolerance} of {wanted}"


def _as_list(value: Any) -> list[Any] | None:
    return value if isinstance(value, list) else None


def _norm(item: Any) -> Any:
    return item.casefold() if isinstance(item, str) and "@" in item else item


def _includes(spec: dict[str, Any], value: Any) -> str | None:
    items = _as_list(value)
    if items is None:
        return f"not a list: {_short(value)}"
    have = {_norm(i) for i in items}
    missing = [w for w in spec["includes"] if _norm(w) not in have]
    return None if not missing else f"missing {missing!r} in {_short(value)}"


def _subset(spec: dict[str, Any], value: Any) -> str | None:
    items = _as_list(value)
    if items is None:
        return f"not a list: {_short(value)}"
    allowed = {_norm(w) for w in spec["subset"]}
    extra = [i for i in items if _norm(i) not in allowed]
    return None if not extra else f"unexpected {extra!r}"


def _set(spec: dict[str, Any], value: Any) -> str | None:
    items = _as_list(value)
    if items is None:
        return f"not a list: {_short(value)}"
    if {_norm(i) for i in items} == {_norm(w) for w in spec["set"]}:
        return None
    return f"expected exactly {sorted(spec['set'])!r}, got {sorted(map(str, items))!r}"


def _not(spec: dict[str, Any], value: Any) -> str | None:
    return None if check(spec["not"], value) is not None else f"unexpected {_short(value)}"


def _all(spec: dict[str, Any], value: Any) -> str | None:
    reasons = [r for r in (check(s, value) for s in spec["all"]) if r is not None]
    return "; ".join(reasons) if reasons else None


def _fields(spec: dict[str, Any], value: Any) -> str | None:
    if not isinstance(value, dict):
        return f"not a mapping: {_short(value)}"
    problems = check_fields(spec["fields"], value)
    return "; ".join(problems) if problems else None


_CHECKS = {
    "exact": lambda spec, value: _exact(spec["exact"], value),
    "contains": _contains,
    "icontains": lambda spec, value: _contains(spec, value, fold=True),
    "similar": _similar,
    "regex": _regex,
    "one_of": _one_of,
    "number": _number,
    "datetime": _datetime,
    "includes": _includes,
    "subset": _subset,
    "set": _set,
    "not": _not,
    "all": _all,
    "fields": _fields,
}


def _parse_datetime(text: str) -> datetime | None:
    if len(text) < 10 or not text[:4].isdigit():
        return None
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        try:
            return datetime.combine(date.fromisoformat(text), datetime.min.time())
        except ValueError:
            return None
    return parsed


def _short(value: Any, limit: int = 120) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
