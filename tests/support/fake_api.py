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
from collections.abc import Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from support import wire


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
    calls = [(f"call_{index}_{n}", c.name, c.arguments) for n, c in enumerate(_calls(step))]
    return _answer("openai", step, calls, f"chatcmpl-{index}", body)


def _anthropic(step: Step, index: int, body: dict[str, Any]) -> dict[str, Any]:
    calls = [(f"toolu_{index}_{n}", c.name, c.arguments) for n, c in enumerate(_calls(step))]
    return _answer("anthropic", step, calls, f"msg_{index}", body)


def _answer(
    kind: str, step: Step, calls: list[wire.CallSpec], ident: str, body: dict[str, Any]
) -> dict[str, Any]:
    """The step's whole answer and its stream (text in pieces of 12, arguments of 8)."""
    text = "".join(item.text for item in step if isinstance(item, Say))
    whole = wire.message(
        kind, text, calls, model=body.get("model", "fake"), id=ident, usage=(100, 20)
    )
    return {"whole": whole, "stream": wire.stream_of(kind, whole, text_size=12, args_size=8)}


def _calls(step: Step) -> list[Call]:
    return [item for item in step if isinstance(item, Call)]


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
