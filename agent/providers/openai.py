"""The OpenAI Chat Completions adapter: OpenAI, Gemini's OpenAI-compatible endpoint, local servers.

One class, :class:`OpenAIProvider`, serves ``kind = "openai"``, ``kind = "gemini"`` (through
``https://generativelanguage.googleapis.com/v1beta/openai/``) and any server that speaks Chat
Completions behind ``base_url`` (Ollama, vLLM, llama.cpp, OpenRouter).

- ``to_wire`` maps a :class:`~morrow.agent.messages.ModelRequest` to the keyword arguments of
  ``chat.completions.create``; a part it cannot send raises instead of being dropped.
- ``from_wire`` maps a completion (the SDK object or the same shape as plain dicts) back to a
  :class:`~morrow.agent.messages.ModelResponse`. The streamed path assembles its chunks into that
  shape first, so one function produces the parts either way.
- ``map_error`` turns what the SDK (or httpx2 underneath it) raises into a ``ProviderError``.

The SDK parses responses without validating them, so everything read back is treated as
untrusted JSON: missing or mistyped fields become ``ProviderRejected("malformed response")``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import AsyncIterator, Mapping
from typing import Any

import httpx2
import openai
import pydantic
from openai._streaming import ServerSentEvent

from morrow.agent.errors import ConfigError, ProviderError, ProviderRejected, ProviderUnavailable
from morrow.agent.messages import (
    DataPart,
    Message,
    ModelRequest,
    ModelResponse,
    Part,
    ResponseDone,
    StopReason,
    StreamEvent,
    TextDelta,
    TextPart,
    ToolCallPart,
    ToolCallStarted,
    ToolResultPart,
    Usage,
    new_call_id,
)
from morrow.agent.providers._failures import error_message, from_status, is_retryable_status
from morrow.agent.providers._names import from_wire_name, to_wire_name, wire_call_ids

OPENAI_BASE_URL = "https://api.openai.com/v1"
_PATH = "/chat/completions"
_OPTIONS: Any = {"security": {"bearer_auth": True}}  # what ``create`` asks for: the API key
GEMINI_BASE_URL = "https://generativelanguage.googleapis.com/v1beta/openai/"
MAX_TOOL_CALL_ID = 40  # OpenAI rejects longer ids with "string_above_max_length"

_FINISH_REASONS: dict[str, StopReason] = {
    "stop": "end_turn",
    "tool_calls": "tool_use",
    "function_call": "tool_use",
    "length": "max_tokens",
    "content_filter": "refusal",
}
_RETRYABLE_WORDS = (
    "overloaded", "rate limit", "rate_limit", "rate-limit", "server_error", "server error",
    "internal error", "internal_error", "unavailable", "timeout", "timed out",
)  # fmt: skip
# What the SDK and the transport under it raise; anything else is a bug and propagates.
_FAILURES = (
    openai.OpenAIError,
    httpx2.TransportError,
    json.JSONDecodeError,
    pydantic.ValidationError,
)
Wire = dict[str, Any]
_ROLE_PARTS: dict[str, tuple[type, ...]] = {
    "user": (TextPart, DataPart),
    "assistant": (TextPart, ToolCallPart),
    "tool": (ToolResultPart,),
}


class OpenAIProvider:
    """A model behind the Chat Completions API.

    Attributes:
        name: the configured name of this provider.
        model: the model it asks.
        kind: ``openai``, ``gemini`` or another OpenAI-compatible flavour; it picks the default
            base URL, the max-tokens parameter, and tags the provider details it keeps.
        base_url: where requests go.
    """

    def __init__(
        self,
        *,
        name: str,
        model: str,
        api_key: str,
        base_url: str | None = None,
        http_client: httpx2.AsyncClient | None = None,
        timeout: float = 60.0,
        kind: str = "openai",
    ) -> None:
        """Create the SDK client (SDK retries off: ``resilience.py`` owns retrying).

        Args:
            name: the configured provider name, used in errors.
            model: the model to ask.
            api_key: the key; local servers ignore it, but it must not be empty (any placeholder).
            base_url: the endpoint; defaults to OpenAI's, or Gemini's for ``kind = "gemini"``.
            http_client: an injected client (tests, shared pools); the caller keeps ownership.
            timeout: seconds before a request counts as timed out.
            kind: the provider kind from the configuration.

        Raises:
            ConfigError: the key is empty.
        """
        if not api_key:
            raise ConfigError(f"{name}: empty api_key (a local server accepts any placeholder)")
        self.name = name
        self.model = model
        self.kind = kind
        self.base_url = base_url or (GEMINI_BASE_URL if kind == "gemini" else OPENAI_BASE_URL)
        self._api_key = api_key
        # OpenAI deprecated max_tokens (its reasoning models refuse it); Gemini and local servers
        # behind a base_url know only max_tokens (Ollama silently ignores max_completion_tokens).
        on_openai = kind == "openai" and httpx2.URL(self.base_url).host == "api.openai.com"
        self._limit_key = "max_completion_tokens" if on_openai else "max_tokens"
        self._owns_http_client = http_client is None
        self._client = openai.AsyncOpenAI(
            api_key=api_key,
            base_url=self.base_url,
            max_retries=0,
            timeout=timeout,
            http_client=http_client,
        )

    async def aclose(self) -> None:
        """Close the HTTP client, unless it was injected (then its owner closes it)."""
        if self._owns_http_client:
            await self._client.close()

    # Requests go through the client's generic ``post`` with the body ``to_wire`` built and
    # ``cast_to=object``, which hands back the JSON as it came. ``chat.completions.create``
    # would walk the whole body (every tool schema) through its request transform only to
    # return it unchanged, and build a pydantic object of each streamed chunk that this
    # adapter would read back as a dict: together the largest part of the adapter's cost per
    # step. The SDK still owns the HTTP, authentication, SSE decoding, error events and errors.

    async def complete(self, request: ModelRequest) -> ModelResponse:
        """One model step, answered whole."""
        try:
            completion = await self._client.post(
                _PATH, body=self.to_wire(request), cast_to=object, options=_OPTIONS
            )
            if isinstance(completion, str):  # JSON sent without a JSON content type
                completion = json.loads(completion)
        except _FAILURES as exc:
            raise self.map_error(exc) from exc
        return self.from_wire(completion)

    async def stream(self, request: ModelRequest) -> AsyncIterator[StreamEvent]:
        """One model step, streamed: text deltas and tool-call starts, then ``ResponseDone``."""
        assembler = _ChunkAssembler()
        body = {**self.to_wire(request), "stream": True, "stream_options": {"include_usage": True}}
        try:
            chunks = await self._client.post(
                _PATH,
                body=body,
                cast_to=object,
                options=_OPTIONS,
                stream=True,
                stream_cls=_EndAwareStream,
            )
            async with chunks:
                async for chunk in chunks:
                    for event in assembler.add(_as_dict(chunk) or {}):
                        yield event
        except _FAILURES as exc:
            raise self.map_error(exc) from exc
        if assembler.finish_reason is None and not chunks.ended:
            # A proxy or server that closes the body cleanly mid-answer: the text so far is
            # not an answer. Retried, or failed over, like any stream cut short.
            raise ProviderUnavailable(
                "the stream ended without a finish_reason or [DONE]", provider=self.name
            )
        yield ResponseDone(response=self.from_wire(assembler.completion()))

    # -- out -------------------------------------------------------------------------------------

    def to_wire(self, request: ModelRequest) -> Wire:
        """The keyword arguments of ``chat.completions.create`` for a request.

        Raises:
            ProviderRejected: a message holds a part its role cannot carry on this API.
        """
        messages: list[Wire] = (
            [{"role": "system", "content": request.system}] if request.system else []
        )
        ids = wire_call_ids(request.messages, wire_tool_call_id)
        for message in request.messages:
            messages.extend(self._message_to_wire(message, ids))
        wire: Wire = {"model": self.model, "messages": messages}
        wire[self._limit_key] = request.max_tokens
        if request.tools:
            wire["tools"] = [
                {
                    "type": "function",
                    "function": {**spec.model_dump(mode="json"), "name": to_wire_name(spec.name)},
                }
                for spec in request.tools
            ]
        if request.temperature is not None:
            wire["temperature"] = request.temperature
        return wire

    def _message_to_wire(self, message: Message, ids: Mapping[str, str]) -> list[Wire]:
        for part in message.parts:
            if not isinstance(part, _ROLE_PARTS[message.role]):
                raise ProviderRejected(
                    f"cannot send a {part.kind} part in a {message.role} message",
                    provider=self.name,
                )
        texts = [p.text for p in message.parts if isinstance(p, TextPart | DataPart)]
        if message.role == "user":
            return [{"role": "user", "content": "\n".join(texts)}]
        if message.role == "tool":
            return [self._result_to_wire(p, ids) for p in message.tool_results]
        wire: Wire = {"role": "assistant", "content": "\n".join(texts) if texts else None}
        if message.tool_calls:
            wire["tool_calls"] = [self._call_to_wire(call, ids) for call in message.tool_calls]
        elif not texts:
            wire["content"] = ""  # an empty turn still needs a content field
        return [wire]

    def _call_to_wire(self, call: ToolCallPart, ids: Mapping[str, str]) -> Wire:
        arguments = (
            call.raw_arguments if call.raw_arguments is not None else json.dumps(call.arguments)
        )
        wire: Wire = {
            "id": ids.get(call.id) or wire_tool_call_id(call.id),
            "type": "function",
            "function": {"name": to_wire_name(call.name), "arguments": arguments},
        }
        details = call.provider_details or {}
        # Gemini's thought signature: echo it only to the kind of provider that wrote it.
        if details.get("provider_kind") == self.kind and details.get("extra_content"):
            wire["extra_content"] = details["extra_content"]
        return wire

    @staticmethod
    def _result_to_wire(result: ToolResultPart, ids: Mapping[str, str]) -> Wire:
        # The API has no error flag on a tool message; say it in the content.
        content = f"Error: {result.content}" if result.is_error else result.content
        return {
            "role": "tool",
            "tool_call_id": ids.get(result.call_id) or wire_tool_call_id(result.call_id),
            "content": content,
        }

    # -- in --------------------------------------------------------------------------------------

    def from_wire(self, completion: object) -> ModelResponse:
        """The neutral response for a completion (SDK object or plain dict of the same shape).

        Raises:
            ProviderRejected: the body is not a usable completion.
            ProviderUnavailable: the body is an error object that says to try again later.
        """
        data = _as_dict(completion)
        if data is None:
            raise self._malformed("the body is not a JSON object")
        choices = data.get("choices")
        if not choices and data.get("error"):  # some proxies answer 200 with an error object
            raise self._error_object(data["error"], "error in response body")
        if not isinstance(choices, list) or not choices or not isinstance(choices[0], Mapping):
            raise self._malformed("no choices")
        choice = choices[0]
        message = choice.get("message")
        if not isinstance(message, Mapping):
            raise self._malformed("no message")
        text = _text(message.get("content"))
        parts: list[Part] = [TextPart(text=text)] if text else []
        refusal = message.get("refusal")
        if isinstance(refusal, str) and refusal:
            parts.append(TextPart(text=refusal))
        raw_calls = message.get("tool_calls") or []
        if not isinstance(raw_calls, list):
            raise self._malformed("tool_calls is not a list")
        calls = [self._tool_call(raw) for raw in raw_calls]
        finish = choice.get("finish_reason")
        details = {"id": data.get("id"), "model": data.get("model"), "finish_reason": finish}
        return ModelResponse(
            parts=(*parts, *calls),
            stop_reason=_stop_reason(finish, has_calls=bool(calls), refused=bool(refusal)),
            usage=_usage(data.get("usage")),
            provider=self.name,
            model=self.model,
            provider_details={k: v for k, v in details.items() if v is not None},
        )

    def _tool_call(self, raw: object) -> ToolCallPart:
        function = raw.get("function") if isinstance(raw, Mapping) else None
        if not isinstance(raw, Mapping) or not isinstance(function, Mapping):
            raise self._malformed("a tool call has no function")
        name = function.get("name")
        if not isinstance(name, str) or not name:
            raise self._malformed("a tool call has no name")
        name = from_wire_name(name)
        arguments, raw_arguments = _parse_arguments(function.get("arguments"))
        extra = raw.get("extra_content")  # Gemini's thought signature rides here
        details = {"provider_kind": self.kind, "extra_content": extra} if extra else None
        return ToolCallPart(
            id=new_call_id(),  # morrow's own: local servers send no id, or call_0 every time
            wire_id=str(raw["id"]) if raw.get("id") else None,
            name=name,
            arguments=arguments,
            raw_arguments=raw_arguments,
            provider_details=details,
        )

    # -- errors ----------------------------------------------------------------------------------

    def map_error(self, exc: BaseException) -> ProviderError:
        """The ProviderError for what the SDK or the transport raised."""
        if isinstance(exc, openai.APIStatusError):
            status = exc.status_code
            message = self._scrub(error_message(exc.body, f"HTTP {status}"))
            return from_status(self.name, status, message, exc.response.headers)
        if isinstance(exc, openai.APITimeoutError | httpx2.TimeoutException):
            return ProviderUnavailable("request timed out", provider=self.name)
        if isinstance(exc, openai.APIConnectionError | httpx2.TransportError):
            cause = exc.__cause__ or exc
            return ProviderUnavailable(
                self._scrub(f"connection failed: {type(cause).__name__}: {cause}"),
                provider=self.name,
            )
        if isinstance(exc, openai.APIResponseValidationError):
            return self._malformed(exc.message)
        if isinstance(exc, openai.APIError):  # a `data: {"error": ...}` event inside a stream
            return self._error_object(exc.body, exc.message)
        if isinstance(exc, json.JSONDecodeError | pydantic.ValidationError):
            return self._malformed(type(exc).__name__)
        return ProviderRejected(self._scrub(f"{type(exc).__name__}: {exc}"), provider=self.name)

    def _error_object(self, body: object, fallback: str) -> ProviderError:
        """Classify an error sent as data (no HTTP status) by its code and wording."""
        message = self._scrub(error_message(body, fallback))
        code = body.get("code") if isinstance(body, Mapping) else None
        status = int(code) if isinstance(code, int | str) and str(code).isdigit() else None
        lowered = message.lower()
        if (status is not None and is_retryable_status(status)) or any(
            word in lowered for word in _RETRYABLE_WORDS
        ):
            return ProviderUnavailable(message, provider=self.name, status=status)
        return ProviderRejected(message, provider=self.name, status=status)

    def _malformed(self, detail: str) -> ProviderRejected:
        return ProviderRejected(self._scrub(f"malformed response: {detail}"), provider=self.name)

    def _scrub(self, text: str) -> str:
        # A placeholder key ("x", "ollama") is no secret, and replacing it would garble the text.
        if len(self._api_key) >= 8:
            return text.replace(self._api_key, "<api key>")
        return text


def wire_tool_call_id(call_id: str) -> str:
    """The id sent for a tool call and its result: unchanged, or a stable hash when too long.

    Ids from other providers (Anthropic's ``toolu_...``) fit; longer ones are shortened the
    same way wherever they appear, so a call and its result still match.
    """
    if len(call_id) <= MAX_TOOL_CALL_ID:
        return call_id
    return "call_" + hashlib.sha256(call_id.encode()).hexdigest()[: MAX_TOOL_CALL_ID - 5]


class _EndAwareStream(openai.AsyncStream[object]):
    """The SDK's stream, noting whether the server ended it with ``data: [DONE]``.

    The SDK stops at ``[DONE]`` and at the end of the body alike; only the first is an end.
    """

    ended = False

    async def _iter_events(self) -> AsyncIterator[ServerSentEvent]:
        async for event in super()._iter_events():
            if event.data.startswith("[DONE]"):
                self.ended = True
            yield event


class _ChunkAssembler:
    """Folds streamed chunks into a completion-shaped dict, for :meth:`OpenAIProvider.from_wire`.

    Tool calls are matched by ``index`` (id and name come first, argument fragments after). A
    chunk that repeats a call's id restates it: its arguments replace what came before when they
    extend it into valid JSON (OpenRouter sends id ``"0"`` with ``""`` and again with ``"{}"``).
    """

    def __init__(self) -> None:
        self.meta: Wire = {}
        self.text: list[str] = []
        self.refusal: list[str] = []
        self.calls: list[Wire] = []
        self.finish_reason: object = None
        self.usage: object = None
        self.saw_choice = False

    def add(self, chunk: Mapping[str, Any]) -> list[StreamEvent]:
        """Take one chunk; return the events it produced."""
        for key in ("id", "model"):
            if chunk.get(key) and key not in self.meta:
                self.meta[key] = chunk[key]
        if chunk.get("usage"):  # a chunk of its own (empty choices), or riding on the last one
            self.usage = chunk["usage"]
        events: list[StreamEvent] = []
        for choice in chunk.get("choices") or []:
            if isinstance(choice, Mapping) and choice.get("index", 0) == 0:
                events += self._add_choice(choice)
        return events

    def _add_choice(self, choice: Mapping[str, Any]) -> list[StreamEvent]:
        self.saw_choice = True
        self.finish_reason = choice.get("finish_reason") or self.finish_reason
        delta = _mapping(choice.get("delta"))
        events: list[StreamEvent] = []
        content, refusal = delta.get("content"), delta.get("refusal")
        if isinstance(content, str) and content:
            self.text.append(content)
            events.append(TextDelta(text=content))
        if isinstance(refusal, str) and refusal:
            self.refusal.append(refusal)
        for raw in delta.get("tool_calls") or []:
            if isinstance(raw, Mapping) and (started := self._merge_call(raw)):
                events.append(started)
        return events

    def _merge_call(self, raw: Mapping[str, Any]) -> ToolCallStarted | None:
        entry = self._entry_for(raw)
        function = entry["function"]
        was_started = bool(entry["id"] and function["name"])
        new_id, delta = raw.get("id"), _mapping(raw.get("function"))
        restated = bool(new_id) and new_id == entry["id"]
        entry["id"] = new_id or entry["id"]
        name, arguments = delta.get("name"), delta.get("arguments")
        if isinstance(name, str) and name and name != function["name"]:
            function["name"] = name if restated else function["name"] + name
        if isinstance(arguments, Mapping):  # some servers send the object itself
            function["arguments"] = json.dumps(arguments)
        elif isinstance(arguments, str) and arguments:
            so_far = function["arguments"]
            replaces = restated and arguments.startswith(so_far) and _is_json(arguments)
            function["arguments"] = arguments if replaces else so_far + arguments
        if raw.get("extra_content"):
            entry["extra_content"] = raw["extra_content"]
        if not was_started and entry["id"] and function["name"]:
            return ToolCallStarted(id=entry["id"], name=from_wire_name(function["name"]))
        return None

    def _entry_for(self, raw: Mapping[str, Any]) -> Wire:
        index, call_id = raw.get("index"), raw.get("id")
        for known in reversed(self.calls):
            same_slot = known["index"] == index if index is not None else known["id"] == call_id
            # a new id in a used slot is a new call (servers that number every call 0)
            if same_slot and not (call_id and known["id"] and call_id != known["id"]):
                return known
        if index is None and not call_id and self.calls:
            return self.calls[-1]
        entry: Wire = {"index": index, "id": "", "type": "function"}
        entry["function"] = {"name": "", "arguments": ""}
        self.calls.append(entry)
        return entry

    def completion(self) -> Wire:
        """What was streamed, in the shape of a non-streamed completion."""
        message: Wire = {"role": "assistant", "content": "".join(self.text) or None}
        if self.refusal:
            message["refusal"] = "".join(self.refusal)
        if self.calls:
            message["tool_calls"] = [
                {k: v for k, v in c.items() if k != "index"} for c in self.calls
            ]
        choice = {"index": 0, "message": message, "finish_reason": self.finish_reason}
        return {**self.meta, "choices": [choice] if self.saw_choice else [], "usage": self.usage}


def _as_dict(value: object) -> Mapping[str, Any] | None:
    """SDK models as plain data (they are built unvalidated, so any field may be off)."""
    if isinstance(value, pydantic.BaseModel):
        value = value.model_dump(exclude_unset=True, warnings=False)
    return value if isinstance(value, Mapping) else None


def _mapping(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _text(content: object) -> str:
    """Message content: a string, or (some servers) a list of text parts."""
    if isinstance(content, list):
        return "".join(
            p["text"] for p in content if isinstance(p, Mapping) and isinstance(p.get("text"), str)
        )
    return content if isinstance(content, str) else ""


def _parse_arguments(raw: object) -> tuple[dict[str, Any], str | None]:
    """Parsed arguments, and the raw text when it is not a JSON object (for the model to fix)."""
    if isinstance(raw, Mapping):
        return dict(raw), None
    text = raw if isinstance(raw, str) else ""
    if not text.strip():  # no arguments at all: a tool without parameters
        return {}, None
    try:
        value = json.loads(text)
    except ValueError:
        return {}, text
    return (value, None) if isinstance(value, dict) else ({}, text)


def _is_json(text: str) -> bool:
    try:
        json.loads(text)
    except ValueError:
        return False
    return True


def _stop_reason(finish: object, *, has_calls: bool, refused: bool) -> StopReason:
    if refused:
        return "refusal"
    reason = _FINISH_REASONS.get(finish, "other") if isinstance(finish, str) else "other"
    # Some local servers say "stop" (or nothing) after tool calls.
    return "tool_use" if has_calls and reason in ("end_turn", "other") else reason


def _usage(raw: object) -> Usage:
    if not isinstance(raw, Mapping):
        return Usage()
    details = raw.get("prompt_tokens_details")
    cached = _count(details.get("cached_tokens")) if isinstance(details, Mapping) else 0
    return Usage(
        input_tokens=max(0, _count(raw.get("prompt_tokens")) - cached),
        output_tokens=_count(raw.get("completion_tokens")),
        cache_read_tokens=cached,
    )


def _count(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0
