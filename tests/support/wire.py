"""The wire bodies of both APIs, built in one place: whole answers, their streams, errors.

Every fake model that speaks HTTP (the scripted server of the CLI tests, respx answers of the
adapter and resilience tests) builds an answer the same way: first the whole message
(:func:`message`: Anthropic Messages or OpenAI Chat Completions), then, for a streamed
request, that message re-expressed as the events the API sends (:func:`stream_of`), text and
tool arguments cut into pieces. The shapes follow the recorded traffic in
tests/data/provider-recordings (its event names, chunk fields and stop reasons).

A call is ``(id, name, arguments)``; arguments are a dict (sent as JSON).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

import httpx2

CallSpec = tuple[str, str, dict[str, Any]]
ANTHROPIC_ERRORS = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    429: "rate_limit_error",
    529: "overloaded_error",
}


def message(
    kind: str,
    text: str = "",
    calls: Sequence[CallSpec] = (),
    *,
    model: str = "fake",
    id: str = "msg_1",
    usage: tuple[int, int] = (20, 5),
) -> dict[str, Any]:
    """The whole answer of one step: ``text`` then ``calls``, in ``kind``'s shape."""
    if kind == "anthropic":
        return _anthropic_message(text, calls, model=model, id=id, usage=usage)
    return _openai_completion(text, calls, model=model, id=id, usage=usage)


def _anthropic_message(
    text: str, calls: Sequence[CallSpec], *, model: str, id: str, usage: tuple[int, int]
) -> dict[str, Any]:
    content: list[dict[str, Any]] = [{"type": "text", "text": text}] if text else []
    content += [{"type": "tool_use", "id": i, "name": n, "input": a} for i, n, a in calls]
    return {
        "id": id,
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": "tool_use" if calls else "end_turn",
        "stop_sequence": None,
        "usage": {"input_tokens": usage[0], "output_tokens": usage[1]},
    }


def _openai_completion(
    text: str, calls: Sequence[CallSpec], *, model: str, id: str, usage: tuple[int, int]
) -> dict[str, Any]:
    tool_calls = [
        {"id": i, "type": "function", "function": {"name": n, "arguments": json.dumps(a)}}
        for i, n, a in calls
    ]
    reply: dict[str, Any] = {"role": "assistant", "content": text or None}
    if tool_calls:
        reply["tool_calls"] = tool_calls
    return {
        "id": id,
        "object": "chat.completion",
        "created": 0,
        "model": model,
        "choices": [
            {"index": 0, "message": reply, "finish_reason": "tool_calls" if calls else "stop"}
        ],
        "usage": {
            "prompt_tokens": usage[0],
            "completion_tokens": usage[1],
            "total_tokens": sum(usage),
        },
    }


def stream_of(
    kind: str, whole: dict[str, Any], *, text_size: int = 5, args_size: int = 5
) -> list[bytes]:
    """``whole`` (a message of :func:`message`, or a recorded one) as the API streams it.

    One ``bytes`` per event (or chunk), so a test can cut the stream between any two. Text
    comes in pieces of ``text_size`` characters, tool arguments in pieces of ``args_size``.
    """
    if kind == "anthropic":
        return [sse_event(e) for e in anthropic_events(whole, text_size, args_size)]
    chunks = openai_chunks(whole, text_size, args_size)
    return [f"data: {json.dumps(c)}\n\n".encode() for c in chunks] + [b"data: [DONE]\n\n"]


def anthropic_events(whole: dict[str, Any], text_size: int, args_size: int) -> list[dict[str, Any]]:
    """The events of a Messages stream for the complete message ``whole``."""
    usage = whole["usage"]
    start = {**whole, "content": [], "stop_reason": None, "stop_sequence": None}
    start["usage"] = {**usage, "output_tokens": 1}
    events: list[dict[str, Any]] = [{"type": "message_start", "message": start}]
    for index, block in enumerate(whole["content"]):
        if block["type"] == "tool_use":
            head = {"type": "tool_use", "id": block["id"], "name": block["name"], "input": {}}
            pieces = ["", *_pieces(json.dumps(block["input"]), args_size)]
            deltas = [{"type": "input_json_delta", "partial_json": p} for p in pieces]
        else:
            head = {"type": "text", "text": ""}
            deltas = [{"type": "text_delta", "text": p} for p in _pieces(block["text"], text_size)]
        events.append({"type": "content_block_start", "index": index, "content_block": head})
        events += [{"type": "content_block_delta", "index": index, "delta": d} for d in deltas]
        events.append({"type": "content_block_stop", "index": index})
    events.append(
        {
            "type": "message_delta",
            "delta": {"stop_reason": whole["stop_reason"], "stop_sequence": None},
            "usage": {"output_tokens": usage["output_tokens"]},
        }
    )
    events.append({"type": "message_stop"})
    return events


def openai_chunks(whole: dict[str, Any], text_size: int, args_size: int) -> list[dict[str, Any]]:
    """The chunks of a Chat Completions stream for the complete answer ``whole``."""
    choice = whole["choices"][0]
    reply = choice["message"]
    base = {"id": whole["id"], "object": "chat.completion.chunk", "created": 0}
    base["model"] = whole["model"]

    def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        return {**base, "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}

    out = [chunk({"role": "assistant", "content": ""})]
    out += [chunk({"content": p}) for p in _pieces(reply.get("content") or "", text_size)]
    for n, call in enumerate(reply.get("tool_calls") or []):
        head = {"index": n, "id": call["id"], "type": "function"}
        named = {**head, "function": {"name": call["function"]["name"], "arguments": ""}}
        out.append(chunk({"tool_calls": [named]}))
        for piece in _pieces(call["function"]["arguments"], args_size):
            out.append(chunk({"tool_calls": [{"index": n, "function": {"arguments": piece}}]}))
    out.append(chunk({}, choice["finish_reason"]))
    out.append({**base, "choices": [], "usage": whole["usage"]})
    return out


def sse_event(event: dict[str, Any]) -> bytes:
    """One Anthropic server-sent event (its ``type`` is also the event name)."""
    return f"event: {event['type']}\ndata: {json.dumps(event)}\n\n".encode()


def error_body(kind: str, status: int, text: str | None = None) -> dict[str, Any]:
    """An error answer in the API's own shape."""
    text = text or f"status {status}"
    if kind == "anthropic":
        kind_of = ANTHROPIC_ERRORS.get(status, "api_error")
        return {"type": "error", "error": {"type": kind_of, "message": text}}
    return {"error": {"message": text, "type": "error", "code": None}}


def streamed(events: Iterable[bytes] | bytes) -> httpx2.Response:
    """A 200 answer carrying the server-sent events ``events``."""
    body = events if isinstance(events, bytes) else b"".join(events)
    return httpx2.Response(200, headers={"content-type": "text/event-stream"}, content=body)


def _pieces(text: str, size: int) -> list[str]:
    return [text[start : start + size] for start in range(0, len(text), size)]
