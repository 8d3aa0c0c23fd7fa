"""The Anthropic Messages adapter: neutral requests out, neutral responses and errors back in.

``to_wire`` turns a :class:`~morrow.agent.messages.ModelRequest` into the keyword arguments of
``messages.create``; ``from_wire`` turns the API's message into a
:class:`~morrow.agent.messages.ModelResponse`. Streaming rebuilds, from the raw events, the same
message the non-streamed API returns and hands it to the same ``from_wire``, so both paths give
identical parts. Every SDK or transport failure leaves as a
:class:`~morrow.agent.errors.ProviderError` (:func:`map_error`); the SDK never retries
(``max_retries=0``), ``resilience.py`` does.

The SDK sends ``anthropic-version: 2026-10-21``, which removed ``temperature`` (and ``top_p``,
``top_k``): a request's temperature is not sent. The key goes out as ``Authorization: Bearer``.

The SDK's own stream helper (``messages.stream``) is not used: it parses tool arguments with a
lenient partial-JSON parser, which raises mid-stream on invalid JSON and silently accepts JSON cut
short (at ``max_tokens``). Here the raw argument text is kept and parsed strictly at the end, so a
broken call reaches the loop as ``raw_arguments`` instead of running with half its arguments.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import AsyncIterator, Mapping
from typing import Any

import anthropic
import httpx2

from morrow.agent.errors import ProviderError, ProviderRejected, ProviderUnavailable
from morrow.agent.messages import (
    DataPart,
    Message,
    ModelRequest,
    ModelResponse,
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
from morrow.agent.providers import _failures
from morrow.agent.providers._names import from_wire_name, to_wire_name, wire_call_ids

_STOP_REASONS: dict[str, StopReason] = {
    "end_turn": "end_turn",
    "tool_use": "tool_use",
    "max_tokens": "max_tokens",
    "refusal": "refusal",
    "stop_sequence": "stop_sequence",
    "pause_turn": "pause_turn",
    "model_context_window_exceeded": "context_window_exceeded",
}

# An ``event: error`` inside a stream arrives with HTTP status 200; its ``type`` says what
# failed. These are the statuses the same types carry as plain HTTP errors.
_ERROR_TYPE_STATUS = {
    "invalid_request_error": 400,
    "authentication_error": 401,
    "billing_error": 402,
    "permission_error": 403,
    "not_found_error": 404,
    "request_too_large": 413,
    "rate_limit_error": 429,
    "api_error": 500,
    "timeout_error": 504,
    "overloaded_error": 529,
}

# What the SDK and its transport raise; anything else is a bug of ours and propagates.
_FAILURES = (anthropic.AnthropicError, httpx2.HTTPError, json.JSONDecodeError)

_VALID_ID = re.compile(r"^[a-zA-Z0-9_-]+$")


class AnthropicProvider:
    """A model served by the Anthropic Messages API.

    Attributes:
        name: the configured name of this provider.
        model: the model it asks.
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
    ) -> None:
        """Create the SDK client.

        Args:
            name: the configured name of this provider.
            model: the model to ask.
            api_key: the key; always passed, so the SDK never reads a profile from disk.
            base_url: another server speaking the Messages API.
            http_client: the HTTP client to send through (tests inject one); closed by
                :meth:`aclose`.
            timeout: seconds before a request counts as timed out.
        """
        self.name = name
        self.model = model
        self._api_key = api_key
        self._client = anthropic.AsyncAnthropic(
            api_key=api_key,
            base_url=base_url,
            max_retries=0,
            timeout=timeout,
            http_client=http_client,
        )

    async def complete(self, request: ModelRequest) -> ModelResponse:
        """One model step, answered whole."""
        wire = self.to_wire(request)
        try:
            message = await self._client.messages.create(**wire, stream=False)
        except _FAILURES as exc:
            raise self._error(exc) from exc
        return self._checked_from_wire(message.to_dict(warnings=False))

    async def stream(self, request: ModelRequest) -> AsyncIterator[StreamEvent]:
        """One model step, streamed: text deltas and tool-call starts, then ``ResponseDone``."""
        wire = self.to_wire(request)
        builder = _MessageBuilder()
        try:
            async with await self._client.messages.create(**wire, stream=True) as events:
                async for event in events:
                    for out in builder.add(event.to_dict(warnings=False)):
                        yield out
        except _FAILURES as exc:
            raise self._error(exc) from exc
        except (LookupError, TypeError, AttributeError) as exc:  # events out of order or shape
            raise _malformed(exc, self.name) from exc
        if not builder.finished:
            raise ProviderUnavailable("the stream ended before message_stop", provider=self.name)
        yield ResponseDone(response=self._checked_from_wire(builder.message))

    async def aclose(self) -> None:
        """Release the HTTP client (also an injected one)."""
        await self._client.close()

    def to_wire(self, request: ModelRequest) -> dict[str, Any]:
        """The keyword arguments of ``messages.create`` for a neutral request.

        Raises:
            ProviderRejected: a message holds a part this API cannot carry in that role.
        """
        ids = wire_call_ids(request.messages, wire_id)
        wire: dict[str, Any] = {
            "model": self.model,
            "max_tokens": request.max_tokens,
            "messages": _merge([self._message(m, ids) for m in request.messages]),
        }
        if request.system:
            wire["system"] = request.system
        if request.tools:
            wire["tools"] = [
                {
                    "name": to_wire_name(t.name),
                    "description": t.description,
                    "input_schema": t.parameters,
                }
                for t in request.tools
            ]
        # ``request.temperature`` is deliberately not sent: the SDK speaks API version
        # 2026-10-21, which removed the sampling parameters (``create`` has no such argument).
        return wire

    def from_wire(self, message: anthropic.types.Message | Mapping[str, Any]) -> ModelResponse:
        """The neutral response for an API message (the SDK object or its JSON form).

        Text and tool calls become parts, in order; other blocks (thinking, server tools) are
        kept in ``provider_details["blocks"]``. A tool call whose ``input`` is JSON text (as a
        stream delivers it) is parsed here; text that is not a JSON object ends up in
        ``raw_arguments``.
        """
        if not isinstance(message, Mapping):
            return self.from_wire(message.to_dict(warnings=False))
        data = message
        parts: list[TextPart | ToolCallPart] = []
        others: list[Any] = []
        for block in data.get("content") or ():
            if block.get("type") == "text":
                if block.get("text"):
                    parts.append(TextPart(text=block["text"]))
            elif block.get("type") == "tool_use":
                parts.append(_tool_call(block))
            else:
                others.append(block)
        raw_stop = data.get("stop_reason")
        details: dict[str, Any] = {"id": data.get("id"), "stop_reason": raw_stop}
        if data.get("stop_sequence") is not None:
            details["stop_sequence"] = data["stop_sequence"]
        if others:
            details["blocks"] = others
        return ModelResponse(
            parts=tuple(parts),
            stop_reason=_STOP_REASONS.get(raw_stop or "", "other"),
            usage=_usage(data.get("usage") or {}),
            provider=self.name,
            model=data.get("model") or self.model,
            provider_details=details,
        )

    def _message(self, message: Message, ids: Mapping[str, str]) -> dict[str, Any]:
        """One neutral message as one wire message (possibly with no content).

        ``ids`` gives the wire id of each tool call (:func:`wire_call_ids`).
        """
        role = "assistant" if message.role == "assistant" else "user"
        content: list[dict[str, Any]] = []
        for part in message.parts:
            if isinstance(part, TextPart) and message.role != "tool":
                if part.text:  # the API rejects empty text blocks
                    content.append({"type": "text", "text": part.text})
            elif isinstance(part, DataPart) and message.role == "user":
                if part.text:
                    content.append({"type": "text", "text": part.text})
            elif isinstance(part, ToolCallPart) and message.role == "assistant":
                content.append(
                    {
                        "type": "tool_use",
                        "id": ids.get(part.id) or wire_id(part.id),
                        "name": to_wire_name(part.name),
                        "input": part.arguments,
                    }
                )
            elif isinstance(part, ToolResultPart) and message.role == "tool":
                content.append(_tool_result(part, ids.get(part.call_id)))
            else:
                raise ProviderRejected(
                    f"cannot send a {part.kind} part in a {message.role} message",
                    provider=self.name,
                )
        return {"role": role, "content": content}

    def _checked_from_wire(self, data: Mapping[str, Any]) -> ModelResponse:
        try:
            return self.from_wire(data)
        except (LookupError, TypeError, AttributeError, ValueError) as exc:
            raise _malformed(exc, self.name) from exc

    def _error(self, exc: Exception) -> ProviderError:
        error = map_error(exc, provider=self.name)
        text = str(error.args[0]) if error.args else ""
        if self._api_key and self._api_key in text:
            error.args = (text.replace(self._api_key, "[redacted]"), *error.args[1:])
        return error


def map_error(exc: Exception, *, provider: str = "anthropic") -> ProviderError:
    """The :class:`~morrow.agent.errors.ProviderError` for an exception of the SDK or its transport.

    Args:
        exc: what ``messages.create`` or iterating its stream raised.
        provider: the configured provider name to report.

    Returns:
        ``ProviderUnavailable`` for what may pass (timeouts, connection trouble, 408/409/429,
        5xx, overloaded, a stream cut short), ``ProviderRejected`` for the rest.
    """
    if isinstance(exc, ProviderError):
        return exc
    if isinstance(exc, anthropic.APIStatusError):
        return _status_error(exc, provider)
    if isinstance(exc, anthropic.APITimeoutError | httpx2.TimeoutException):
        return ProviderUnavailable("the request timed out", provider=provider)
    if isinstance(exc, anthropic.APIConnectionError):
        cause = f": {exc.__cause__}" if exc.__cause__ else ""
        return ProviderUnavailable(f"connection failed{cause}", provider=provider)
    if isinstance(exc, httpx2.HTTPError):
        # a stream cut mid-way surfaces as a bare RemoteProtocolError, not wrapped by the SDK
        return ProviderUnavailable(f"connection lost: {exc}", provider=provider)
    if isinstance(exc, json.JSONDecodeError | anthropic.APIResponseValidationError):
        return ProviderRejected("malformed response", provider=provider)
    return ProviderRejected(f"{type(exc).__name__}: {exc}", provider=provider)


def _malformed(exc: Exception, provider: str) -> ProviderRejected:
    return ProviderRejected(f"malformed response ({type(exc).__name__})", provider=provider)


def _status_error(exc: anthropic.APIStatusError, provider: str) -> ProviderError:
    status = exc.status_code
    message = _failures.error_message(exc.body, exc.message[:300])
    if status < 400:
        # an error event inside a 200 stream: classify it by its type
        kind = _error_type(exc.body)
        return _failures.from_status(provider, _ERROR_TYPE_STATUS.get(kind, 500), message)
    return _failures.from_status(provider, status, message, exc.response.headers)


def _error_type(body: object) -> str:
    error = body.get("error") if isinstance(body, Mapping) else None
    kind = error.get("type") if isinstance(error, Mapping) else None
    return kind if isinstance(kind, str) else ""


def wire_id(call_id: str) -> str:
    """A tool call id Anthropic accepts (``^[a-zA-Z0-9_-]+$``).

    Ids from another provider (after a failover) may contain other characters; those are
    replaced and a short hash of the original is appended, so the translation is deterministic
    (a tool_use and its tool_result agree) and distinct ids stay distinct.
    """
    if _VALID_ID.match(call_id):
        return call_id
    digest = hashlib.sha256(call_id.encode()).hexdigest()[:10]
    return f"{re.sub(r'[^a-zA-Z0-9_-]', '_', call_id)}_{digest}"


def _tool_result(part: ToolResultPart, call_wire_id: str | None) -> dict[str, Any]:
    block: dict[str, Any] = {
        "type": "tool_result",
        "tool_use_id": call_wire_id or wire_id(part.call_id),
        "is_error": part.is_error,
    }
    if part.content:  # empty content is sent as no content
        block["content"] = part.content
    return block


def _merge(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Join consecutive messages of one role (the API wants user and assistant to alternate).

    Within a merged user message the tool results go first, as the API requires.
    """
    merged: list[dict[str, Any]] = []
    for message in messages:
        if not message["content"]:
            continue
        if merged and merged[-1]["role"] == message["role"]:
            merged[-1]["content"].extend(message["content"])
        else:
            merged.append({"role": message["role"], "content": list(message["content"])})
    for message in merged:
        message["content"].sort(key=lambda block: block["type"] != "tool_result")
    return merged


def _tool_call(block: Mapping[str, Any]) -> ToolCallPart:
    """A ``tool_use`` block as a call with morrow's own id (Anthropic's is its ``wire_id``)."""
    raw = block.get("input")
    parsed: Any = raw
    if isinstance(raw, str):
        try:
            parsed = json.loads(raw) if raw.strip() else {}
        except ValueError:
            parsed = None
    ids = {"id": new_call_id(), "wire_id": str(block["id"]) or None}
    name = from_wire_name(block["name"])
    if isinstance(parsed, dict):
        return ToolCallPart(**ids, name=name, arguments=parsed)
    text = raw if isinstance(raw, str) else json.dumps(raw)
    return ToolCallPart(**ids, name=name, arguments={}, raw_arguments=text)


def _usage(usage: Mapping[str, Any]) -> Usage:
    return Usage(
        input_tokens=usage.get("input_tokens") or 0,
        output_tokens=usage.get("output_tokens") or 0,
        cache_read_tokens=usage.get("cache_read_input_tokens") or 0,
        cache_write_tokens=usage.get("cache_creation_input_tokens") or 0,
    )


class _MessageBuilder:
    """Rebuilds, from raw stream events, the message JSON the non-streamed API would return.

    Tool arguments stay the JSON text the deltas spelled (``from_wire`` parses it), so a call
    whose text is broken or cut short is reported, not guessed at.
    """

    def __init__(self) -> None:
        self.message: dict[str, Any] = {"content": []}
        self.finished = False
        self._json: dict[int, list[str]] = {}

    def add(self, event: Mapping[str, Any]) -> list[StreamEvent]:
        """Take one event; return the neutral events it yields to the caller."""
        kind = event.get("type")
        if kind == "message_start":
            self.message = {**event["message"], "content": []}
        elif kind == "content_block_start":
            block = dict(event["content_block"])
            self.message["content"].append(block)
            if "input" in block:
                self._json[event["index"]] = []
            if block["type"] == "tool_use":
                return [ToolCallStarted(id=block["id"], name=from_wire_name(block["name"]))]
        elif kind == "content_block_delta":
            return self._delta(event["index"], event["delta"])
        elif kind == "content_block_stop":
            self._stop(event["index"])
        elif kind == "message_delta":
            self.message.update(event.get("delta") or {})
            usage = {k: v for k, v in (event.get("usage") or {}).items() if v is not None}
            self.message["usage"] = {**(self.message.get("usage") or {}), **usage}
        elif kind == "message_stop":
            self.finished = True
        return []

    def _delta(self, index: int, delta: Mapping[str, Any]) -> list[StreamEvent]:
        block = self.message["content"][index]
        kind = delta.get("type")
        if kind == "text_delta":
            block["text"] = block.get("text", "") + delta["text"]
            return [TextDelta(text=delta["text"])] if delta["text"] else []
        if kind == "input_json_delta" and index in self._json:
            self._json[index].append(delta["partial_json"])
        elif kind == "thinking_delta":
            block["thinking"] = block.get("thinking", "") + delta["thinking"]
        elif kind == "signature_delta":
            block["signature"] = delta["signature"]
        elif kind == "citations_delta":
            block["citations"] = [*(block.get("citations") or []), delta["citation"]]
        return []

    def _stop(self, index: int) -> None:
        text = "".join(self._json.pop(index, []))
        if text:
            self.message["content"][index]["input"] = text
