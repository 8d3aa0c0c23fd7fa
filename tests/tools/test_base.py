"""The @tool decorator: schema from signature and docstring, validation, effects."""

import inspect
from datetime import datetime

import pytest
from pydantic import AwareDatetime, BaseModel

from morrow.tools.base import Tool, parse_docstring, tool
from morrow.tools.catalog import core_tools
from morrow.tools.context import ToolContext
from morrow.tools.errors import ToolRetry


@tool(effect="read")
def sample(ctx: ToolContext, start: AwareDatetime, query: str | None = None, limit: int = 5) -> str:
    """Find things from a start time.

    Second paragraph of the description.

    Args:
        ctx: not in the schema.
        start: when to begin, with an offset.
        query: text to look for; a long description
            continued on the next line.
        limit: how many.

    Returns:
        something.
    """
    return f"{start.isoformat()}|{query}|{limit}"


def _effect_of(args: BaseModel) -> str:
    return "send" if getattr(args, "notify", False) else "write"


@tool(effect="send", effect_of=_effect_of)  # type: ignore[arg-type]
def maybe_send(ctx: ToolContext, notify: bool = False) -> str:
    """Do something, telling people when asked.

    Args:
        ctx: not in the schema.
        notify: tell the attendees.
    """
    return "ok"


def test_schema_is_generated_from_signature_and_docstring() -> None:
    assert isinstance(sample, Tool)
    assert sample.name == "sample"
    assert (
        sample.description
        == "Find things from a start time.\n\nSecond paragraph of the description."
    )
    props = sample.parameters["properties"]
    assert list(props) == ["start", "query", "limit"]
    assert "ctx" not in props
    assert props["start"] == {
        "description": "when to begin, with an offset.",
        "format": "date-time",
        "type": "string",
    }
    assert props["query"]["description"] == (
        "text to look for; a long description continued on the next line."
    )
    assert props["limit"]["default"] == 5
    assert sample.parameters["required"] == ["start"]
    assert sample.parameters["additionalProperties"] is False
    assert "title" not in str(sample.parameters)


def test_parse_docstring_stops_at_other_sections() -> None:
    description, args = parse_docstring(inspect.getdoc(sample.func) or "")
    assert "Returns" not in description
    assert set(args) == {"ctx", "start", "query", "limit"}


def test_naive_datetime_is_rejected_with_a_readable_message() -> None:
    with pytest.raises(ToolRetry) as excinfo:
        sample.validate({"start": "2025-03-28T10:00:00"})
    message = str(excinfo.value)
    assert message.startswith("invalid arguments: start:")
    assert "timezone" in message
    assert "add an offset" in message


def test_aware_datetime_is_accepted() -> None:
    args = sample.validate({"start": "2025-03-28T10:00:00+01:00", "limit": 2})
    assert args.start == datetime.fromisoformat("2025-03-28T10:00:00+01:00")


def test_extra_keys_are_rejected() -> None:
    with pytest.raises(ToolRetry, match="surprise"):
        sample.validate({"start": "2025-03-28T10:00:00Z", "surprise": 1})


def test_wrong_type_is_rejected() -> None:
    with pytest.raises(ToolRetry, match="limit"):
        sample.validate({"start": "2025-03-28T10:00:00Z", "limit": "many"})


def test_effect_of_decides_per_call() -> None:
    assert maybe_send.effect == "send"
    assert maybe_send.effect_for(maybe_send.validate({})) == "write"
    assert maybe_send.effect_for(maybe_send.validate({"notify": True})) == "send"
    assert sample.effect_for(sample.validate({"start": "2025-03-28T10:00:00Z"})) == "read"


def test_core_tools_are_stable_read_tools_with_contract_arguments() -> None:
    tools = core_tools()
    assert [t.name for t in tools] == ["list_events", "get_event", "search_emails", "read_email"]
    assert all(t.effect == "read" for t in tools)
    arguments = {t.name: list(t.parameters["properties"]) for t in tools}
    assert arguments == {
        "list_events": ["start", "end", "query"],
        "get_event": ["event_id"],
        "search_emails": ["query", "sender", "unread", "since", "until", "folder", "limit"],
        "read_email": ["email_id"],
    }
    for t in tools:
        assert t.description and "Args:" not in t.description
        assert all(p.get("description") for p in t.parameters["properties"].values())


def test_a_tool_takes_its_typed_context_first() -> None:
    def untyped(workspace: object, city: str) -> str:
        """Look a city up.

        Args:
            city: the city.
        """
        return city

    with pytest.raises(TypeError, match="first parameter must be `ctx: ToolContext`"):
        tool(effect="read")(untyped)


def test_numeric_bounds_are_in_the_schema_and_enforced() -> None:
    search = next(t for t in core_tools() if t.name == "search_emails")
    assert search.parameters["properties"]["limit"] == {
        "default": 20,
        "description": "1 to 100.",
        "maximum": 100,
        "minimum": 1,
        "type": "integer",
    }
    for wrong in (0, 101):
        with pytest.raises(ToolRetry, match="limit: Input should be"):
            search.validate({"limit": wrong})
