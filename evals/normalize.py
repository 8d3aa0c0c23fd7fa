"""What a replay compares, and what it deliberately leaves out (docs/evals.md, "Replay").

A replay checks that morrow sends the model what it sent when the trajectory was recorded.
Compared: the system prompt (with the time of day on its "Now:" line masked), the tool names and
their argument schemas, and every message of the history: user text, the model's text and tool calls
(name, id, arguments), and every tool result (content and error flag).

Left out, because they change without changing what the model is asked:

- the time of day on the "Now: ..." line of the system prompt (replays run at the recorded
  time; its date, zone and UTC offset are compared);
- descriptions in tool specs (tool-level and per-argument): they are product copy, edited
  often, and a recorded response cannot react to them anyway;
- ``provider_details`` of tool calls (a provider's echo, such as Gemini's thought signature);
- ``max_tokens`` and ``temperature`` (settings, not content);
- ids that an effect minted during the run (new event UIDs, new message ids): the replay maps
  the recorded ids onto the ones the replayed run minted (see :class:`IdMap`).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Sequence
from typing import Any

from morrow.agent.messages import (
    DataPart,
    Message,
    TextPart,
    ToolCallPart,
    ToolResultPart,
    ToolSpec,
)

_NOW_TIME = re.compile(r"^(Now: .*?)(?<![+-])\b\d{1,2}:\d{2}\b", re.MULTILINE)
"""The clock time of the "Now:" line (not the UTC offset after it, which starts with + or -)."""
_FACTS_HEADING = "The user told you before (remembered from their own words):"
# Keys whose values, in the result of a write or send, are ids the backend chose freshly.
MINTED_KEYS = frozenset(
    {"id", "event_id", "email_id", "draft_id", "thread_id", "message_id", "uid", "date"}
)
_MIN_ID_LENGTH = 4  # shorter values are too likely to occur by accident in other text


def normalize_system(system: str) -> str:
    """The system prompt with the time of day on its "Now:" line masked.

    Only the hours and minutes: the weekday, the date, the zone and the UTC offset stay, so a
    prompt that tells the model the wrong zone or offset is a divergence.
    """
    return _NOW_TIME.sub(r"\1<time>", system)


def recorded_facts(system: str) -> tuple[str, ...]:
    """The remembered facts a recorded system prompt listed (a replay shows the same ones)."""
    lines = system.splitlines()
    if _FACTS_HEADING not in lines:
        return ()
    facts = []
    for line in lines[lines.index(_FACTS_HEADING) + 1 :]:
        if not line.startswith("- "):
            break
        facts.append(line[2:])
    return tuple(facts)


def normalize_tools(specs: Iterable[ToolSpec]) -> list[dict[str, Any]]:
    """Tool specs as compared: names and argument schemas, descriptions removed."""
    return [{"name": s.name, "parameters": _strip_descriptions(s.parameters)} for s in specs]


def tools_digest(specs: Iterable[ToolSpec]) -> str:
    """A short stable digest of :func:`normalize_tools` (kept in every recorded step)."""
    text = json.dumps(normalize_tools(specs), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _strip_descriptions(node: Any) -> Any:
    if isinstance(node, dict):
        return {
            k: _strip_descriptions(v)
            for k, v in node.items()
            if not (k == "description" and isinstance(v, str))
        }
    if isinstance(node, list):
        return [_strip_descriptions(v) for v in node]
    return node


def render_messages(messages: Sequence[Message]) -> list[str]:
    """A readable line rendering of a history, the text a divergence diff is made of."""
    lines: list[str] = []
    for index, message in enumerate(messages):
        lines.append(f"--- message {index} ({message.role})")
        for part in message.parts:
            lines += _render_part(part)
    return lines


def _render_part(part: TextPart | DataPart | ToolCallPart | ToolResultPart) -> list[str]:
    if isinstance(part, TextPart):
        return ["text:", *part.text.splitlines()]
    if isinstance(part, DataPart):
        return [f"data ({part.source}):", *part.text.splitlines()]
    if isinstance(part, ToolCallPart):
        args = json.dumps(part.arguments, sort_keys=True, ensure_ascii=False)
        raw = f" raw={part.raw_arguments!r}" if part.raw_arguments is not None else ""
        return [f"call {part.name} id={part.id} {args}{raw}"]
    flag = " ERROR" if part.is_error else ""
    return [f"result {part.name} for {part.call_id}{flag}:", *_pretty(part.content)]


def _pretty(content: str) -> list[str]:
    """JSON results spread over lines, so a diff points at the field that changed."""
    try:
        value = json.loads(content)
    except (json.JSONDecodeError, ValueError):
        return content.splitlines() or [""]
    if not isinstance(value, dict | list):
        return content.splitlines() or [""]
    return json.dumps(value, indent=1, ensure_ascii=False).splitlines()


class IdMap:
    """Recorded ids mapped onto the ids the replayed run minted for the same effects.

    Learned from the results of write and send tools only (a read returning another id is a
    real divergence, not a fresh id), by walking the recorded and the replayed JSON result in
    parallel and pairing the values under :data:`MINTED_KEYS` that differ.
    """

    def __init__(self) -> None:
        self.mapping: dict[str, str] = {}

    def learn(self, recorded: str, replayed: str) -> None:
        """Pair the minted ids of one effect's recorded and replayed result."""
        try:
            self._walk(json.loads(recorded), json.loads(replayed))
        except (json.JSONDecodeError, ValueError):
            return

    def _walk(self, old: Any, new: Any) -> None:
        if isinstance(old, dict) and isinstance(new, dict):
            for key, value in old.items():
                if key not in new:
                    continue
                if key in MINTED_KEYS and isinstance(value, str) and isinstance(new[key], str):
                    if value != new[key] and len(value) >= _MIN_ID_LENGTH:
                        self.mapping.setdefault(value, new[key])
                else:
                    self._walk(value, new[key])
        elif isinstance(old, list) and isinstance(new, list):
            for a, b in zip(old, new, strict=False):
                self._walk(a, b)

    def apply(self, text: str) -> str:
        """``text`` with every recorded id replaced by its replayed counterpart."""
        for old in sorted(self.mapping, key=len, reverse=True):
            text = text.replace(old, self.mapping[old])
        return text

    def apply_value(self, value: Any) -> Any:
        """The same replacement inside a JSON-like value (tool call arguments)."""
        if isinstance(value, str):
            return self.apply(value)
        if isinstance(value, dict):
            return {k: self.apply_value(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self.apply_value(v) for v in value]
        return value

    def apply_message(self, message: Message) -> Message:
        """A recorded message with recorded ids replaced (for comparison)."""
        if not self.mapping:
            return message
        return Message.model_validate_json(self.apply(message.model_dump_json()))
