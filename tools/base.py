"""Tools: a typed Python function with a docstring becomes something a model can call.

``@tool(effect=...)`` reads the function's signature and Google-style docstring and builds a
:class:`Tool`: its name, its model-facing description, a pydantic model that validates the
arguments (unknown keys, wrong types, numbers out of their bounds and naive datetimes are
rejected) and the JSON schema the model sees. The first parameter of every tool function is its
:class:`~morrow.tools.context.ToolContext` (the workspace it acts on, the store, the session,
the call); it is not part of the schema. Bounds are declared on the argument
(``Annotated[int, Field(ge=1, le=100)]``), so the model sees them in the schema and pydantic
enforces them.

Each tool declares its effect: ``read`` (no change), ``write`` (a reversible change: create,
move, label) or ``send`` (irreversible: mail out, invitations out). Where the effect depends on
the arguments (an event created with invitations is a send), ``effect_of`` decides per call.
"""

from __future__ import annotations

import asyncio
import inspect
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from typing import Any, Literal, TypeVar, get_type_hints

import pydantic_core
from pydantic import BaseModel, ConfigDict, ValidationError, create_model
from pydantic.fields import FieldInfo

from morrow.tools.context import ToolContext
from morrow.tools.errors import ToolRetry

Effect = Literal["read", "write", "send"]
EFFECT_RANK: dict[Effect, int] = {"read": 0, "write": 1, "send": 2}

F = TypeVar("F", bound=Callable[..., Any])


class _Arguments(BaseModel):
    model_config = ConfigDict(extra="forbid")


@dataclass(frozen=True)
class Idempotency:
    """How an effect stays checkable across a crash: a key chosen before it runs.

    Attributes:
        key: ``(context, args) -> key`` decides the id the effect will carry (an email's
            Message-ID, an event's UID) before anything happens, so the effect journal can
            write it down first (and hand it to the tool as ``context.effect_key``); None when
            the tool cannot tell.
        find: ``(context, key)`` looks the effect up afterwards, once the run that tried it
            has ended: True, found (the Message-ID in Sent, the UID on the calendar); False,
            proven never done (an event's UID not in a local calendar file, which is written
            whole or not at all); None, not found, which proves nothing (a mail server may
            have taken a message whose Sent copy never came; a remote calendar may still be
            handling a request sent just before the kill). None as ``find``: it cannot be
            looked up.
    """

    key: Callable[[ToolContext, Any], str | None]
    find: Callable[[ToolContext, str], bool | None] | None = None


@dataclass(frozen=True)
class Tool:
    """A function the model may call, with its schema and declared effect."""

    name: str
    description: str
    effect: Effect
    arguments: type[BaseModel]
    func: Callable[..., Any]
    effect_of: Callable[[BaseModel], Effect] | None = None
    parameters: dict[str, Any] = field(default_factory=dict)
    preview: Callable[[ToolContext, Any], dict[str, Any]] | None = None
    idempotency: Idempotency | None = None

    def validate(self, raw: dict[str, Any]) -> BaseModel:
        """Check the model's arguments; raise ToolRetry with a readable reason if they are wrong."""
        try:
            return self.arguments.model_validate(raw)
        except ValidationError as exc:
            raise ToolRetry(_explain(exc, self.parameters.get("properties", {}))) from None

    def effect_for(self, args: BaseModel) -> Effect:
        """The effect of this particular call."""
        return self.effect_of(args) if self.effect_of else self.effect

    async def preview_for(self, context: ToolContext, args: BaseModel) -> dict[str, Any]:
        """What the call would do, in full, for the approval prompt (``{}`` without a hook).

        A preview reads (the original of a reply, the attendees of an event) and never changes
        anything; one that fails says why instead of raising, since the tool will say it too.
        """
        if self.preview is None:
            return {}
        try:
            return await asyncio.to_thread(self.preview, context, args)
        except Exception as exc:  # the approval still shows the arguments; the run will fail
            return {"preview_error": f"{type(exc).__name__}: {exc}"}

    async def run(self, context: ToolContext, args: BaseModel) -> str:
        """Run the tool in ``context`` and return its result as JSON text.

        Synchronous tool functions run in a worker thread, so that read-only calls of one step
        can proceed concurrently.
        """
        kwargs = {name: getattr(args, name) for name in type(args).model_fields}
        if inspect.iscoroutinefunction(self.func):
            result = await self.func(context, **kwargs)
        else:
            result = await asyncio.to_thread(self.func, context, **kwargs)
        return result if isinstance(result, str) else to_json(result)


def to_json(value: Any) -> str:
    """Serialize a tool result (pydantic models, datetimes, lists ...) compactly."""
    return pydantic_core.to_json(value, exclude_none=True).decode()


def with_argument(
    base: Tool, name: str, annotation: Any, description: str, func: Callable[..., Any]
) -> Tool:
    """``base`` with one more optional argument (default None), run by ``func``.

    For an argument that exists only in some setups (``create_event``'s ``calendar`` when
    there are several calendars): where it is offered, its schema grows; elsewhere the tool
    stays as recorded trajectories know it.
    """
    fields: dict[str, Any] = {name: (annotation, FieldInfo(default=None, description=description))}
    arguments = create_model(base.arguments.__name__, __base__=base.arguments, **fields)
    return replace(
        base,
        arguments=arguments,
        func=func,
        parameters=_clean_schema(arguments.model_json_schema()),
    )


def tool(
    *,
    effect: Effect,
    effect_of: Callable[[Any], Effect] | None = None,
    preview: Callable[[ToolContext, Any], dict[str, Any]] | None = None,
    idempotency: Idempotency | None = None,
) -> Callable[[F], Tool]:
    """Turn a function into a :class:`Tool`.

    Args:
        effect: the strongest effect the tool can have.
        effect_of: decides the effect of one call from its validated arguments.
        preview: reads what the approval prompt must show beyond the arguments (the exact
            message with its quoted original, the attendees who will be notified).
        idempotency: the key the effect carries and how to look it up after a crash.
    """

    def wrap(func: F) -> Tool:
        description, arg_docs = parse_docstring(inspect.getdoc(func) or "")
        arguments = _arguments_model(func, arg_docs)
        return Tool(
            name=func.__name__,
            description=description,
            effect=effect,
            arguments=arguments,
            func=func,
            effect_of=effect_of,
            parameters=_clean_schema(arguments.model_json_schema()),
            preview=preview,
            idempotency=idempotency,
        )

    return wrap


def _arguments_model(func: Callable[..., Any], arg_docs: dict[str, str]) -> type[BaseModel]:
    hints = get_type_hints(func, include_extras=True)
    params = list(inspect.signature(func).parameters.values())
    if not params or hints.get(params[0].name) is not ToolContext:
        raise TypeError(f"{func.__name__}: a tool's first parameter must be `ctx: ToolContext`")
    fields: dict[str, Any] = {}
    for param in params[1:]:  # the context is not part of the schema
        default = ... if param.default is inspect.Parameter.empty else param.default
        info = FieldInfo(default=default, description=arg_docs.get(param.name))
        fields[param.name] = (hints[param.name], info)
    model_name = "".join(part.title() for part in func.__name__.split("_")) + "Arguments"
    return create_model(model_name, __base__=_Arguments, **fields)


_SECTION = re.compile(r"^(Args|Arguments|Returns|Raises|Yields|Examples?|Notes?):\s*$")
_ARG_LINE = re.compile(r"^\s{2,}(\w+)(?:\s*\([^)]*\))?:\s*(.*)$")


def parse_docstring(doc: str) -> tuple[str, dict[str, str]]:
    """Split a Google-style docstring into its description and per-argument texts."""
    lines = doc.splitlines()
    description: list[str] = []
    args: dict[str, str] = {}
    section: str | None = None
    current: str | None = None
    for line in lines:
        heading = _SECTION.match(line)
        if heading:
            section, current = heading.group(1), None
        elif section is None:
            description.append(line)
        elif section in ("Args", "Arguments"):
            match = _ARG_LINE.match(line)
            if match:
                current = match.group(1)
                args[current] = match.group(2).strip()
            elif current and line.strip():
                args[current] = f"{args[current]} {line.strip()}"
    return "\n".join(description).strip(), args


def _clean_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """Make the schema short: it is sent with every request.

    pydantic's titles are dropped (they tell the model nothing), and an optional argument
    typed ``X | None = None`` is shown as plain ``X`` without ``"default": null``: leaving it
    out already means "not given", and ``anyOf [X, null]`` costs tokens on every request. The
    argument model still accepts an explicit ``null`` (it means the same as leaving it out).
    """
    schema = _strip_titles(schema)
    properties = schema.setdefault("properties", {})
    required = set(schema.get("required", ()))
    for name, prop in properties.items():
        if name not in required:
            properties[name] = _plain_optional(prop)
    return schema


def _plain_optional(prop: dict[str, Any]) -> dict[str, Any]:
    """``{"anyOf": [X, {"type": "null"}], "default": null}`` -> ``X``; no ``"default": []``."""
    prop = {k: v for k, v in prop.items() if not (k == "default" and v in (None, []))}
    variants = prop.get("anyOf")
    if not isinstance(variants, list) or {"type": "null"} not in variants:
        return prop
    rest = [v for v in variants if v != {"type": "null"}]
    out = {k: v for k, v in prop.items() if k != "anyOf"}
    if len(rest) == 1 and not set(rest[0]) & set(out):
        return {**out, **rest[0]}
    return {**out, "anyOf": rest}


def _strip_titles(node: Any) -> Any:
    if isinstance(node, dict):
        return {
            key: _strip_titles(value)
            for key, value in node.items()
            if not (key == "title" and isinstance(value, str))
        }
    if isinstance(node, list):
        return [_strip_titles(item) for item in node]
    return node


def _explain(exc: ValidationError, known: Iterable[str] = ()) -> str:
    problems = []
    for error in exc.errors(include_url=False):
        where = ".".join(str(loc) for loc in error["loc"]) or "arguments"
        message = error["msg"]
        if error["type"] == "timezone_aware":
            message += " (add an offset such as +01:00 or Z)"
        elif error["type"] == "extra_forbidden" and len(error["loc"]) == 1 and known:
            message = f"not an argument of this tool (it takes: {', '.join(known)})"
        problems.append(f"{where}: {message}")
    return "invalid arguments: " + "; ".join(problems)


class ToolRegistry:
    """The tools offered to a model, by name."""

    def __init__(self, tools: Iterable[Tool]) -> None:
        self._tools = {t.name: t for t in tools}

    def __iter__(self) -> Iterator[Tool]:
        return iter(self._tools.values())

    def __len__(self) -> int:
        return len(self._tools)

    def __contains__(self, name: object) -> bool:
        return name in self._tools

    def get(self, name: str) -> Tool | None:
        """The tool with this name, or None."""
        return self._tools.get(name)

    def names(self) -> list[str]:
        """The tool names, in registration order."""
        return list(self._tools)

    def only(self, *effects: Effect) -> ToolRegistry:
        """A registry holding only tools whose declared effect is one of ``effects``."""
        return ToolRegistry(t for t in self if t.effect in effects)
