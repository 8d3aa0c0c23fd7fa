"""A case's scripted model: the steps a good model would take, with results fed forward.

A script is a list of steps per turn; a step either calls tools or answers:

```yaml
- calls:
    - {name: draft_email, as: draft, arguments: {to: [sam@example.com], subject: Hi, body: ...}}
- calls:
    - {name: send_draft, arguments: {draft_id: "{{draft.id}}"}}
- text: Sent.
```

Ids the backend mints (a draft's id, a new event's id) are not known when the case is written,
so an argument may name an earlier call's result: ``{{alias.path}}`` is replaced by that part
of the aliased call's JSON result (``{{found[0].id}}``, ``{{draft.id}}``). A call with
``for_each: "{{alias[*].id}}"`` is repeated for every value, each bound to ``{{item}}``.
:class:`ScriptProvider` resolves these from the tool results in the request it receives, so a
script replays against whatever the tools answer now. Call ids are deterministic
(``s<turn>-<step>-<n>``), so a trajectory recorded from a script is byte-stable.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from morrow.agent.messages import (
    ModelRequest,
    ModelResponse,
    Part,
    TextPart,
    ToolCallPart,
    Usage,
)
from morrow.agent.providers.function import CallInfo, FunctionProvider

_TEMPLATE = re.compile(r"\{\{\s*([A-Za-z_]\w*)((?:\[\*\]|\[\d+\]|\.\w+)*)\s*\}\}")
_PATH_PART = re.compile(r"\[\*\]|\[(\d+)\]|\.(\w+)")
STEP_USAGE = Usage(input_tokens=0, output_tokens=0)


class ScriptError(AssertionError):
    """The script cannot go on: an unknown alias, a path that is not there, no step left."""


class ScriptedCall(BaseModel):
    """One tool call of a scripted step.

    Attributes:
        name: the tool.
        arguments: its arguments; strings may hold ``{{alias.path}}`` templates.
        as_: an alias (written ``as``) later steps use to read this call's result.
        for_each: a ``{{alias[*].path}}`` template; the call repeats for each value.
    """

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    name: str
    arguments: dict[str, Any] = Field(default_factory=dict)
    as_: str | None = Field(default=None, alias="as")
    for_each: str | None = None


class ScriptedStep(BaseModel):
    """One scripted model step: tool calls (optionally after some text), or a final text."""

    model_config = ConfigDict(extra="forbid")

    calls: list[ScriptedCall] = Field(default_factory=list)
    say: str = ""
    text: str | None = None


class ScriptProvider(FunctionProvider):
    """A Provider that plays a case's scripted steps, turn by turn.

    Answering, streaming and the request log are :class:`FunctionProvider`'s; this class only
    picks the next step and fills in its templates.

    Args:
        turns: the scripted steps of each user turn.
        name: the provider name recorded in trajectories.
        model: the model name recorded in trajectories.
    """

    def __init__(
        self,
        turns: Sequence[Sequence[ScriptedStep]],
        *,
        name: str = "script",
        model: str = "reference",
    ) -> None:
        super().__init__(self._next, name=name, model=model)
        self._turns = [list(steps) for steps in turns]
        self._turn = -1
        self._step = 0
        self._aliases: dict[str, list[str]] = {}

    def assert_done(self) -> None:
        """Fail if scripted steps were left unused."""
        left = sum(len(t) for t in self._turns[self._turn + 1 :])
        if self._turn >= 0:
            left += len(self._turns[self._turn]) - self._step
        if left:
            raise ScriptError(f"{left} scripted step(s) were never asked for")

    def _next(self, request: ModelRequest, info: CallInfo) -> ModelResponse:
        if request.messages and request.messages[-1].role == "user":
            self._turn, self._step = self._turn + 1, 0
        results = _results_by_id(request)
        while True:
            step = self._take()
            if step.text is not None:
                return info.response([TextPart(text=step.text)], "end_turn", STEP_USAGE)
            expanded = self._expand(step.calls, results)
            if expanded:  # a for_each over nothing leaves no call: go on to the next step
                break
        parts: list[Part] = [TextPart(text=step.say)] if step.say else []
        for n, call in enumerate(expanded):
            call_id = f"s{self._turn + 1}-{self._step}-{n + 1}"
            if call.provider_details:  # the alias, kept here until the id is known
                self._aliases.setdefault(call.provider_details["alias"], []).append(call_id)
            parts.append(call.model_copy(update={"id": call_id, "provider_details": None}))
        return info.response(parts, "tool_use", STEP_USAGE)

    def _take(self) -> ScriptedStep:
        if self._turn >= len(self._turns) or self._step >= len(self._turns[self._turn]):
            raise ScriptError(f"the script has no step {self._step + 1} for turn {self._turn + 1}")
        step = self._turns[self._turn][self._step]
        self._step += 1
        return step

    def _expand(self, calls: list[ScriptedCall], results: dict[str, Any]) -> list[ToolCallPart]:
        out: list[ToolCallPart] = []
        for call in calls:
            items: list[Any] = [None]
            if call.for_each is not None:
                items = _as_list(self._resolve(call.for_each, results, None))
            for item in items:
                arguments = self._resolve(call.arguments, results, item)
                details = {"alias": call.as_} if call.as_ else None
                out.append(
                    ToolCallPart(
                        id="", name=call.name, arguments=arguments, provider_details=details
                    )
                )
        return out

    def _resolve(self, value: Any, results: dict[str, Any], item: Any) -> Any:
        if isinstance(value, dict):
            return {k: self._resolve(v, results, item) for k, v in value.items()}
        if isinstance(value, list):
            return [self._resolve(v, results, item) for v in value]
        if not isinstance(value, str) or "{{" not in value:
            return value
        whole = _TEMPLATE.fullmatch(value.strip())
        if whole:
            return self._lookup(whole.group(1), whole.group(2), results, item)
        return _TEMPLATE.sub(
            lambda m: str(self._lookup(m.group(1), m.group(2), results, item)), value
        )

    def _lookup(self, alias: str, path: str, results: dict[str, Any], item: Any) -> Any:
        if alias == "item":
            return _walk(item, path, alias)
        ids = self._aliases.get(alias)
        if not ids:
            raise ScriptError(f"no earlier call is named {alias!r}")
        if ids[-1] not in results:
            raise ScriptError(f"the result of {alias!r} is not in the history")
        return _walk(results[ids[-1]], path, alias)


def _results_by_id(request: ModelRequest) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for message in request.messages:
        for result in message.tool_results:
            try:
                out[result.call_id] = json.loads(result.content)
            except (json.JSONDecodeError, ValueError):
                out[result.call_id] = result.content
    return out


def _walk(value: Any, path: str, alias: str) -> Any:
    for match in _PATH_PART.finditer(path):
        if match.group(0) == "[*]":
            rest = path[match.end() :]
            return [_walk(v, rest, alias) for v in _as_list(value)]
        try:
            value = value[int(match.group(1))] if match.group(1) else value[match.group(2)]
        except (KeyError, IndexError, TypeError):
            raise ScriptError(
                f"{{{{{alias}{path}}}}}: no {match.group(0)!r} in the result"
            ) from None
    return value


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]
