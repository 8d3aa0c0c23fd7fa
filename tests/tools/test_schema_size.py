"""Tool schemas stay small: optional arguments are plain types without ``default: null``.

The schema is sent with every request (issue 10, bench/RESULTS.md "Token cost"); the argument
models keep accepting an explicit ``null`` for an optional argument.
"""

from __future__ import annotations

import json

import pytest

from morrow.tools.base import tool
from morrow.tools.catalog import all_tools
from morrow.tools.context import ToolContext
from morrow.tools.errors import ToolRetry


@tool(effect="read")
def sample(
    ctx: ToolContext,
    query: str,
    sender: str | None = None,
    cc: list[str] | None = None,
    bcc: list[str] = [],  # noqa: B006  (as the email tools declare it)
    limit: int = 20,
) -> str:
    """Search.

    Args:
        ctx: not in the schema.
        query: words.
        sender: a sender.
        cc: copies.
        bcc: blind copies.
        limit: how many.
    """
    return f"{query}|{sender}|{cc}|{bcc}|{limit}"


def test_optional_arguments_are_plain_types_without_null_defaults():
    props = sample.parameters["properties"]
    assert props["sender"] == {"description": "a sender.", "type": "string"}
    assert props["cc"] == {"description": "copies.", "items": {"type": "string"}, "type": "array"}
    assert "default" not in props["bcc"]
    assert props["limit"]["default"] == 20  # a default that tells the model something stays
    assert sample.parameters["required"] == ["query"]


def test_an_explicit_null_still_means_not_given_and_a_required_null_is_refused():
    args = sample.validate({"query": "x", "sender": None, "cc": None})
    assert args.sender is None and args.cc is None  # type: ignore[attr-defined]
    with pytest.raises(ToolRetry, match="query"):
        sample.validate({"query": None})


def test_no_shipped_tool_sends_a_nullable_union():
    text = json.dumps([t.parameters for t in all_tools()])
    assert '{"type": "null"}' not in text and '"default": null' not in text
