"""The one address parser: normalisation, look-alikes, and what provenance judges is what is sent.

The property tests generate addresses the way a model or an attacker might write them (Unicode
domains in several scripts, upper case, fullwidth letters, display names) and check that for
every address compose puts on an envelope, provenance extracts the same normalised address
from any argument of any effect tool.
"""

from __future__ import annotations

import unicodedata
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from morrow.agent.safety.provenance import OUTGOING, Provenance
from morrow.tools.base import ToolRegistry
from morrow.tools.catalog import all_tools
from morrow.tools.email import compose
from morrow.tools.email.addresses import (
    AddressError,
    find,
    lookalike,
    parse,
    scripts_mixed,
    skeleton,
)

TOOLS = ToolRegistry(all_tools())
CYRILLIC_A = "\u0430"
NOW = datetime(2025, 3, 28, 8, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("value", "spec", "readable"),
    [
        (
            f"jonas@ex{CYRILLIC_A}mple.com",
            "jonas@xn--exmple-4nf.com",
            f"jonas@ex{CYRILLIC_A}mple.com",
        ),
        (
            "attacker@\u00e9vil.example",
            "attacker@xn--vil-9la.example",
            "attacker@\u00e9vil.example",
        ),
        ("Jonas <Jonas@EXAMPLE.com>", "Jonas@example.com", "Jonas@example.com"),
        (
            "\uff4a\uff4f\uff4e\uff41\uff53\uff20example\uff0ecom",
            "jonas@example.com",
            "jonas@example.com",
        ),
        ("jonas@example\u3002com", "jonas@example.com", "jonas@example.com"),
        ("mailto:sam@northwind.example", "sam@northwind.example", "sam@northwind.example"),
        ("sam@exam\u00adple.com", "sam@example.com", "sam@example.com"),  # a soft hyphen
    ],
)
def test_addresses_are_normalised_to_what_goes_on_the_envelope(value, spec, readable):
    address = parse(value)
    assert address.spec == spec and address.readable == readable
    message = compose.build_message(
        sender="me@example.org", to=[value], subject="s", body="b", now=NOW
    )
    assert compose.recipients_of(message) == [spec]


@pytest.mark.parametrize(
    ("value", "why"),
    [
        ("attacker@evil_corp.example", "invalid domain"),
        ("jonas@example.com <attacker@evil.example>", "not one valid email address"),
        ('"jonas@example.com"@evil.example', "the part before the @"),
        ("j\u00f6rg@example.com", "non-ASCII local part"),
        ("sam@localhost", "needs a dot"),
        ("a@b.com\nBcc: x@y.com", "line break"),
    ],
)
def test_what_cannot_be_sent_is_a_one_line_error(value, why):
    with pytest.raises(AddressError, match=why) as caught:
        parse(value)
    assert "\n" not in str(caught.value)


def test_addresses_in_text_are_found_even_when_they_cannot_be_sent():
    text = (
        f"Write to jonas@ex{CYRILLIC_A}mple.com, to attacker@evil_corp.example, "
        "to \uff4d\uff41\uff52\uff4b\uff20evil\uff0eexample and to <Sam@Northwind.example>."
    )
    found = {a.key: a.valid for a in find(text)}
    assert found == {
        "jonas@xn--exmple-4nf.com": True,
        "attacker@evil_corp.example": False,
        "mark@evil.example": True,
        "sam@northwind.example": True,
    }


def test_look_alikes_name_the_address_they_imitate():
    jonas = parse("jonas@example.com")
    for imitation in (
        f"jonas@ex{CYRILLIC_A}mple.com",
        "jonas@exarnple.com",
        "j0nas@example.com",
        "jonas@examp1e.com",
    ):
        assert lookalike(parse(imitation), [jonas]) == jonas, imitation
    assert lookalike(parse("jonas@example.org"), [jonas]) is None
    assert lookalike(jonas, [jonas]) is None  # the address itself imitates nothing
    assert scripts_mixed(parse(f"jonas@ex{CYRILLIC_A}mple.com")) == ["CYRILLIC", "LATIN"]
    assert scripts_mixed(parse("anna@m\u00fcnchen.de")) == []  # one script, accents and all
    assert skeleton("paypa1") == skeleton("paypal")


# -- the property: provenance judges exactly what compose sends --------------------------------

_ATEXT = "A-Za-z0-9!#$%&'*+/=?^_`{|}~-"
LOCAL = st.from_regex(rf"[{_ATEXT}]{{1,8}}(\.[{_ATEXT}]{{1,4}}){{0,2}}", fullmatch=True)
ALPHABETS = [
    "abcdefghijklmnopqrstuvwxyz0123456789",
    "ABCDEFGHIJKLMNOPQRSTUVWXYZ",
    "\u00e9\u00fc\u00f6\u00e0\u00e7\u00f1\u00df",  # accented Latin
    "\u0430\u0435\u043e\u0440\u0441\u0445\u0443\u0456",  # Cyrillic look-alikes of Latin
    "\u03b1\u03bf\u03c1\u03c4\u03bd",  # Greek
    "\u4e2d\u6587\u7f51",  # CJK
    "\uff41\uff42\uff43\uff44",  # fullwidth Latin
]
LABEL = st.text(alphabet="".join(ALPHABETS), min_size=1, max_size=10)
DOMAIN = (
    st.lists(LABEL, min_size=1, max_size=2)
    .map(lambda labels: ".".join(labels))
    .flatmap(
        lambda head: st.sampled_from(["com", "example", "de", "\u0440\u0444"]).map(
            lambda tld: f"{head}.{tld}"
        )
    )
)
NAME = st.sampled_from(["", "Jonas", "Jonas Berg", '"Berg, Jonas"', "J\u00f6rg"])


def _sendable(local: str, domain: str, name: str) -> tuple[str, str]:
    """The value as the model writes it, and the address compose puts on the envelope."""
    spec = f"{local}@{domain}"
    value = f"{name} <{spec}>" if name else spec
    try:
        message = compose.build_message(
            sender="me@example.org", to=[value], subject="s", body="b", now=NOW
        )
    except Exception:
        assume(False)  # compose refuses it: it never reaches an envelope
    (sent,) = compose.recipients_of(message)
    return value, sent


def _judged(tool: str, arguments: dict[str, Any], shown: dict[str, Any] | None = None) -> set[str]:
    """The addresses provenance finds in a tool's validated arguments (nothing is trusted)."""
    validated = TOOLS.get(tool).validate(arguments).model_dump(mode="json")
    findings = Provenance([], []).check(validated, shown or {})
    return {parse(f.value.split(" ")[0]).key for f in findings if f.kind == "address"}


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.filter_too_much])
@given(local=LOCAL, domain=DOMAIN, name=NAME)
def test_provenance_judges_every_envelope_address_in_every_argument(local, domain, name):
    value, sent = _sendable(local, domain, name)
    key = parse(sent).key
    typed = f"{local}@{domain}"  # as written in free text, unnormalised
    mail = {"subject": "Hello", "body": "Hi."}
    cases = [
        ("send_email", {**mail, "to": [value]}),
        ("send_email", {**mail, "to": ["me@example.org"], "cc": [value]}),
        ("send_email", {**mail, "to": ["me@example.org"], "bcc": [value]}),
        ("draft_email", {**mail, "to": [value]}),
        ("send_email", {"to": ["me@example.org"], "subject": "Hi", "body": f"Write to {typed}."}),
        ("send_email", {"to": ["me@example.org"], "subject": f"ask {typed}", "body": "x"}),
        ("create_event", {**_event(), "attendees": [typed], "send_invitations": True}),
        ("create_event", {**_event(), "description": f"Call <{typed}> first"}),
        ("create_event", {**_event(), "location": f"{typed}"}),
        ("update_event", {"event_id": "e1", "add_attendees": [typed], "send_updates": True}),
        ("respond_to_event", {"event_id": "e1", "response": "accepted", "comment": typed}),
    ]
    for tool, arguments in cases:
        judged = _judged(tool, arguments) - {"me@example.org"}
        assert judged == {key}, (tool, arguments, judged)
    assert _judged("cancel_event", {"event_id": "e1"}, {OUTGOING: [f"notes for {typed}"]}) == {key}


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.filter_too_much])
@given(local=LOCAL, domain=DOMAIN)
def test_an_address_the_user_typed_is_trusted_in_the_form_it_goes_out(local, domain):
    _, sent = _sendable(local, domain, "")
    typed = unicodedata.normalize("NFC", f"please mail {local}@{domain} the notes")
    provenance = Provenance([typed], [])
    validated = TOOLS.get("send_email").validate({"to": [sent], "subject": "s", "body": "b"})
    assert provenance.check(validated.model_dump(mode="json"), {}) == []


def _event() -> dict[str, str]:
    return {
        "title": "Sync",
        "start": "2025-03-28T10:00:00+01:00",
        "end": "2025-03-28T11:00:00+01:00",
    }
