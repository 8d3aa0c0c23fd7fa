"""A scripted model server speaking the OpenAI Chat Completions and Anthropic Messages APIs.

Stdlib only, on 127.0.0.1, deterministic and with no latency unless asked. Used by the CLI
end-to-end tests (a real ``morrow`` process talks real HTTP to it) and by bench/ (the same task
through morrow and through a raw SDK loop).

Each scripted step is either ``Say(text)`` or ``Call(name, arguments)`` items; a step with calls
ends with ``tool_calls`` / ``tool_use``. The server answers streamed or not, as the client asks,
and records every request body it received.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True)
class Say:
    """Text in a scripted step."""

    text: str


@dataclass(frozen=True)
class Call:
    """A tool call in a scripted step."""

    name: str
    arguments: dict[str, Any]


Step = Sequence[Say | Call]


@dataclass
class FakeAPI:
    """The server state: the script, what was received, and (optionally) a repeating script."""

    script: list[Step] = field(default_factory=list)
    repeat: bool = False
    requests: list[dict[str, Any]] = field(default_factory=list)
    paths: list[str] = field(default_factory=list)
    _position: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def next_step(self, body: dict[str, Any], path: str) -> tuple[Step, int]:
        with self._lock:
            self.requests.append(body)
            self.paths.append(path)
            if self._position >= len(self.script):
                if not self.repeat or not self.script:
                    return [Say("(unscripted request)")], self._position
                self._position = 0
            index = self._position
            self._position += 1
            return self.script[index], index


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"
    # headers and body go out in separate writes: without TCP_NODELAY each response waits
    # ~40 ms for the client's delayed ACK (Nagle), which dominated every end-to-end test
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        return

    def do_POST(self) -> None:
        length = int(self.headers.get("content-length", "0"))
        body = json.loads(self.rfile.read(length) or b"{}")
        step, index = self.server.api.next_step(body, self.path)
        if self.path.endswith("/chat/completions"):
            chunks = _openai(step, index, body)
        elif self.path.endswith("/messages"):
            chunks = _anthropic(step, index, body)
        else:
            self._send(404, b'{"error": {"message": "no such route"}}', "application/json")
            return
        if body.get("stream"):
            payload = b"".join(chunks["stream"])
            self._send(200, payload, "text/event-stream")
        else:
            self._send(200, json.dumps(chunks["whole"]).encode(), "application/json")

    def _send(self, status: int, payload: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("content-type", content_type)
        self.send_header("content-length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    api: FakeAPI


def _openai(step: Step, index: int, body: dict[str, Any]) -> dict[str, Any]:
    text = "".join(item.text for item in step if isinstance(item, Say))
    calls = [item for item in step if isinstance(item, Call)]
    tool_calls = [
        {
            "id": f"call_{index}_{n}",
            "type": "function",
            "function": {"name": c.name, "arguments": json.dumps(c.arguments)},
        }
        for n, c in enumerate(calls)
    ]
    finish = "tool_calls" if calls else "stop"
    usage = {"prompt_tokens": 100, "completion_tokens": 20, "total_tokens": 120}
    whole = {
        "id": f"chatcmpl-{index}",
        "object": "chat.completion",
        "created": 0,
        "model": body.get("model", "fake"),
        "choices": [
            {
                "index": 0,
                "message": {
                    "role": "assistant",
                    "content": text or None,
                    **({"tool_calls": tool_calls} if tool_calls else {}),
                },
                "finish_reason": finish,
            }
        ],
        "usage": usage,
    }
    base = {
        "id": f"chatcmpl-{index}",
        "object": "chat.completion.chunk",
        "created": 0,
        "model": body.get("model", "fake"),
    }

    def chunk(delta: dict[str, Any], finish_reason: str | None = None) -> bytes:
        data = {**base, "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason}]}
        return f"data: {json.dumps(data)}\n\n".encode()

    stream = [chunk({"role": "assistant", "content": ""})]
    stream += [chunk({"content": piece}) for piece in _pieces(text)]
    for n, tc in enumerate(tool_calls):
        head = {
            "index": n,
            "id": tc["id"],
            "type": "function",
            "function": {"name": tc["function"]["name"], "arguments": ""},
        }
        stream.append(chunk({"tool_calls": [head]}))
        for piece in _pieces(tc["function"]["arguments"], 8):
            stream.append(chunk({"tool_calls": [{"index": n, "function": {"arguments": piece}}]}))
    stream.append(chunk({}, finish))
    stream.append(f"data: {json.dumps({**base, 'choices': [], 'usage': usage})}\n\n".encode())
    stream.append(b"data: [DONE]\n\n")
    return {"whole": whole, "stream": stream}


def _anthropic(step: Step, index: int, body: dict[str, Any]) -> dict[str, Any]:
    content: list[dict[str, Any]] = []
    for n, item in enumerate(step):
        if isinstance(item, Say):
            content.append({"type": "text", "text": item.text})
        else:
            content.append(
                {
                    "type": "tool_use",
                    "id": f"toolu_{index}_{n}",
                    "name": item.name,
                    "input": item.arguments,
                }
            )
    stop = "tool_use" if any(isinstance(i, Call) for i in step) else "end_turn"
    usage = {"input_tokens": 100, "output_tokens": 20}
    whole = {
        "id": f"msg_{index}",
        "type": "message",
        "role": "assistant",
        "model": body.get("model", "fake"),
        "content": content,
        "stop_reason": stop,
        "stop_sequence": None,
        "usage": usage,
    }

    def event(name: str, data: dict[str, Any]) -> bytes:
        return f"event: {name}\ndata: {json.dumps({'type': name, **data})}\n\n".encode()

    start = {
        **whole,
        "content": [],
        "stop_reason": None,
        "usage": {"input_tokens": 100, "output_tokens": 1},
    }
    stream = [event("message_start", {"message": start})]
    for n, block in enumerate(content):
        if block["type"] == "text":
            stream.append(
                event(
                    "content_block_start",
                    {"index": n, "content_block": {"type": "text", "text": ""}},
                )
            )
            for piece in _pieces(block["text"]):
                stream.append(
                    event(
                        "content_block_delta",
                        {"index": n, "delta": {"type": "text_delta", "text": piece}},
                    )
                )
        else:
            stream.append(
                event(
                    "content_block_start",
                    {
                        "index": n,
                        "content_block": {
                            "type": "tool_use",
                            "id": block["id"],
                            "name": block["name"],
                            "input": {},
                        },
                    },
                )
            )
            for piece in ["", *_pieces(json.dumps(block["input"]), 8)]:
                stream.append(
                    event(
                        "content_block_delta",
                        {"index": n, "delta": {"type": "input_json_delta", "partial_json": piece}},
                    )
                )
        stream.append(event("content_block_stop", {"index": n}))
    stream.append(
        event(
            "message_delta",
            {"delta": {"stop_reason": stop, "stop_sequence": None}, "usage": {"output_tokens": 20}},
        )
    )
    stream.append(event("message_stop", {}))
    return {"whole": whole, "stream": stream}


def _pieces(text: str, size: int = 12) -> Iterator[str]:
    for start in range(0, len(text), size):
        yield text[start : start + size]


class serve:  # lower case: used as a context manager, it reads like a function
    """Run a FakeAPI on 127.0.0.1 for the duration of a ``with`` block."""

    def __init__(self, script: list[Step], *, repeat: bool = False) -> None:
        self.api = FakeAPI(script=script, repeat=repeat)
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.api = self.api
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        """Base URL of the server (no path)."""
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> serve:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()
