"""The neutral vocabulary: messages, parts, requests, responses and stream events.

Everything the loop, the store and the evals see is expressed in these types. Each provider
adapter translates them to its wire format and back (``to_wire`` / ``from_wire``), so a
conversation started on one provider can continue on another, and a stored session replays
unchanged. Every part carries a ``kind`` literal, so a list of parts round-trips through JSON
without losing its types.
"""

from __future__ import annotations

import re
import secrets
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class TextPart(_Model):
    """Plain text written by the user or the model."""

    kind: Literal["text"] = "text"
    text: str


class DataPart(_Model):
    """Data morrow itself puts into a user message, never the user's own words.

    The briefing's gathered calendar and mail goes to the model this way: the model reads
    ``text`` (world-written parts inside ``<untrusted_content>`` blocks), while provenance and
    long-term memory know that nothing in it was typed by the user. ``source`` names it
    ("briefing-data").
    """

    kind: Literal["data"] = "data"
    source: str
    text: str


class ToolCallPart(_Model):
    """The model asks for a tool to run.

    ``id`` is morrow's own (:func:`new_call_id`, given by the adapters), unique across sessions,
    so two calls never share a result or a journal entry; ``wire_id`` is the id the provider
    gave the call, which the adapters send back in its place (None when the provider sent none,
    and for calls stored before morrow had ids of its own, whose ``id`` is the provider's).
    ``arguments`` is the parsed JSON object. When the model sent arguments that are not a JSON
    object, ``arguments`` is empty and ``raw_arguments`` keeps what it sent, so the loop can hand
    the mistake back to the model instead of running the tool. ``provider_details`` keeps what a
    provider needs echoed back on the next request (Gemini's thought signature), tagged with the
    provider kind that wrote it.
    """

    kind: Literal["tool_call"] = "tool_call"
    id: str
    name: str
    arguments: dict[str, Any] = Field(default_factory=dict)
    raw_arguments: str | None = None
    provider_details: dict[str, Any] | None = None
    wire_id: str | None = None


def new_call_id() -> str:
    """A tool call id of morrow's own: ``mc_`` and 16 random hex digits.

    Both APIs accept it as it is (letters, digits and ``_``, under 40 characters), and no
    provider's ids look like it, so it never matches a call of another session or process.
    """
    return f"mc_{secrets.token_hex(8)}"


class ToolResultPart(_Model):
    """The answer to one tool call, matched to it by ``call_id``."""

    kind: Literal["tool_result"] = "tool_result"
    call_id: str
    name: str
    content: str
    is_error: bool = False


Part = Annotated[TextPart | DataPart | ToolCallPart | ToolResultPart, Field(discriminator="kind")]
Role = Literal["user", "assistant", "tool"]


class Message(_Model):
    """One message of a conversation: who said it and what it is made of.

    ``user`` messages hold text (and data morrow gathered, :class:`DataPart`); ``assistant``
    messages hold text and tool calls; ``tool`` messages hold the results of the previous
    assistant message's tool calls.
    """

    role: Role
    parts: tuple[Part, ...]

    @classmethod
    def user(cls, text: str) -> Message:
        """A user message with one text part."""
        return cls(role="user", parts=(TextPart(text=text),))

    @property
    def text(self) -> str:
        """The text parts joined, ignoring data, tool calls and results."""
        return "".join(p.text for p in self.parts if isinstance(p, TextPart))

    @property
    def data(self) -> list[DataPart]:
        """The data parts morrow put into this message, in order."""
        return [p for p in self.parts if isinstance(p, DataPart)]

    @property
    def user_words(self) -> str:
        """What the user typed: a user message's text without data or untrusted blocks.

        Sessions stored by versions before :class:`DataPart` carried the briefing's data
        inline, inside an ``<untrusted_content>`` block of the text: that is left out too.
        """
        if self.role != "user":
            return ""
        return _UNTRUSTED_BLOCK.sub(" ", self.text)

    @property
    def tool_calls(self) -> list[ToolCallPart]:
        """The tool calls in this message, in order."""
        return [p for p in self.parts if isinstance(p, ToolCallPart)]

    @property
    def tool_results(self) -> list[ToolResultPart]:
        """The tool results in this message, in order."""
        return [p for p in self.parts if isinstance(p, ToolResultPart)]


_UNTRUSTED_BLOCK = re.compile(
    r"<untrusted_content\b[^>]*>.*?(?:</untrusted_content>|\Z)", re.DOTALL | re.IGNORECASE
)


class Usage(_Model):
    """Token counts of one model response (or a sum of several)."""

    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            input_tokens=self.input_tokens + other.input_tokens,
            output_tokens=self.output_tokens + other.output_tokens,
            cache_read_tokens=self.cache_read_tokens + other.cache_read_tokens,
            cache_write_tokens=self.cache_write_tokens + other.cache_write_tokens,
        )

    @property
    def total_tokens(self) -> int:
        """Every token counted, input (cached or not) and output."""
        return (
            self.input_tokens
            + self.output_tokens
            + self.cache_read_tokens
            + self.cache_write_tokens
        )


StopReason = Literal[
    "end_turn",
    "tool_use",
    "max_tokens",
    "refusal",
    "stop_sequence",
    "pause_turn",
    "context_window_exceeded",
    "other",
]
"""Why a model step ended.

``pause_turn``: the provider paused a long turn; sending the history back as it is lets the
model go on (the loop asks again). ``context_window_exceeded``: the model ran out of context
window mid-answer; like ``max_tokens``, what it wrote is cut short and its tool calls do not
run.
"""


class ModelResponse(_Model):
    """What one model step produced, in neutral form."""

    parts: tuple[Part, ...]
    stop_reason: StopReason
    usage: Usage = Usage()
    provider: str
    model: str
    provider_details: dict[str, Any] = Field(default_factory=dict)

    def to_message(self) -> Message:
        """The assistant message to append to the history."""
        return Message(role="assistant", parts=self.parts)

    @property
    def tool_calls(self) -> list[ToolCallPart]:
        """The tool calls the model asked for, in order."""
        return [p for p in self.parts if isinstance(p, ToolCallPart)]

    @property
    def text(self) -> str:
        """The text the model wrote."""
        return "".join(p.text for p in self.parts if isinstance(p, TextPart))


class ToolSpec(_Model):
    """A tool as the model sees it: name, description and JSON schema of its arguments."""

    name: str
    description: str
    parameters: dict[str, Any]


class ModelRequest(_Model):
    """Everything a provider needs for one model step."""

    system: str
    messages: tuple[Message, ...]
    tools: tuple[ToolSpec, ...] = ()
    max_tokens: int = 4096
    temperature: float | None = None


class TextDelta(_Model):
    """A piece of text as the model streams it."""

    kind: Literal["text_delta"] = "text_delta"
    text: str


class ToolCallStarted(_Model):
    """The model began a tool call (its arguments are still arriving)."""

    kind: Literal["tool_call_started"] = "tool_call_started"
    id: str
    name: str


class ResponseDone(_Model):
    """The stream ended; ``response`` holds the whole step, assembled."""

    kind: Literal["response_done"] = "response_done"
    response: ModelResponse


class StepRestarted(_Model):
    """The step starts over (a retry or a failover after events were already streamed).

    Everything streamed since the step began is void: a caller that showed text discards it;
    the step's events follow again from the start. Nothing of the abandoned attempt reaches
    the history, and no tool call of it runs (tools run only after ``ResponseDone``).
    """

    kind: Literal["step_restarted"] = "step_restarted"
    provider: str
    reason: str


StreamEvent = Annotated[
    TextDelta | ToolCallStarted | StepRestarted | ResponseDone, Field(discriminator="kind")
]

messages_adapter: TypeAdapter[list[Message]] = TypeAdapter(list[Message])


def dump_messages(messages: list[Message]) -> str:
    """Serialize a history to JSON (the form the store and trajectories keep)."""
    return messages_adapter.dump_json(messages).decode()


def load_messages(data: str | bytes) -> list[Message]:
    """Read back a history written by :func:`dump_messages`."""
    return messages_adapter.validate_json(data)


def dangling_tool_calls(messages: list[Message]) -> list[ToolCallPart]:
    """Tool calls in the history that are not answered by the message right after them.

    The loop keeps this empty at every exit; it is the invariant that keeps a history valid for
    every provider. The check is positional, not by id alone, because some servers reuse ids
    across steps (OpenRouter numbers its calls "0", "1", ... in every response).
    """
    missing: list[ToolCallPart] = []
    for index, message in enumerate(messages):
        if message.role != "assistant" or not message.tool_calls:
            continue
        following = messages[index + 1] if index + 1 < len(messages) else None
        answered = (
            {r.call_id for r in following.tool_results}
            if following is not None and following.role == "tool"
            else set()
        )
        missing += [c for c in message.tool_calls if c.id not in answered]
    return missing
