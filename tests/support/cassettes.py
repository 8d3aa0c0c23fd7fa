"""Read VCR.py cassettes (tests/data/provider-recordings) into plain interactions.

Two body encodings occur (see tests/data/provider-recordings/README.md):

- raw VCR.py: ``body.string`` holds the body as received; with ``Content-Encoding: gzip`` it is
  a YAML ``!!binary`` (base64) of the gzip-compressed bytes;
- pydantic-ai's serializer: JSON bodies stored already parsed under ``parsed_body``.

An :class:`Interaction` holds the decoded bytes, so the headers that described the transfer
(``Content-Encoding``, ``Content-Length``, ``Transfer-Encoding``) are dropped: serving decoded
bytes under ``Content-Encoding: gzip`` would make the client try to gunzip them again.
"""

from __future__ import annotations

import gzip
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx2
import yaml

_GZIP_MAGIC = b"\x1f\x8b"
_TRANSFER_HEADERS = frozenset({"content-encoding", "content-length", "transfer-encoding"})


@dataclass(frozen=True)
class Interaction:
    """One recorded HTTP exchange, decoded."""

    method: str
    uri: str
    request_body: bytes
    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""

    @property
    def request_json(self) -> Any:
        """The request body parsed as JSON (None when there was no body)."""
        return json.loads(self.request_body) if self.request_body else None

    @property
    def json(self) -> Any:
        """The response body parsed as JSON."""
        return json.loads(self.body)

    @property
    def text(self) -> str:
        """The response body as text (an SSE stream, for instance)."""
        return self.body.decode("utf-8")

    def response(self) -> httpx2.Response:
        """An httpx2 response serving the recorded status, headers and decoded body."""
        return httpx2.Response(self.status, headers=self.headers, content=self.body)


def load_cassette(path: str | Path) -> list[Interaction]:
    """The interactions of a VCR.py cassette, in the order they were recorded."""
    document = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    return [_interaction(item) for item in document["interactions"]]


def _interaction(item: dict[str, Any]) -> Interaction:
    request, response = item["request"], item["response"]
    raw_headers = _headers(response.get("headers"))
    return Interaction(
        method=request.get("method", "POST"),
        uri=request.get("uri", ""),
        request_body=_body(request),
        status=int(response["status"]["code"]),
        headers={k: v for k, v in raw_headers.items() if k not in _TRANSFER_HEADERS},
        body=_body(response),
    )


def _headers(raw: dict[str, Any] | None) -> dict[str, str]:
    """VCR keeps each header as a list of values; keep the last, with the name lowercased."""
    headers: dict[str, str] = {}
    for name, value in (raw or {}).items():
        values = value if isinstance(value, list) else [value]
        if values:
            headers[name.lower()] = str(values[-1])
    return headers


def _body(part: dict[str, Any]) -> bytes:
    """The body as bytes: parsed_body re-serialized, or the raw string, gunzipped if it was."""
    if "parsed_body" in part:
        return json.dumps(part["parsed_body"]).encode()
    body = part.get("body")
    if isinstance(body, dict):
        body = body.get("string")
    if body is None:
        return b""
    data = body if isinstance(body, bytes) else str(body).encode("utf-8")
    if data[:2] == _GZIP_MAGIC:
        data = gzip.decompress(data)
    return data


def provider_ids(parts: Any) -> list[Any]:
    """``parts`` with each tool call's id the provider's again (as before morrow had its own).

    Checks on the way that the adapter gave each call an id of morrow's own (``mc_...``),
    distinct from every other, so a test can compare parts with the ids the recording holds.
    """
    from morrow.agent.messages import ToolCallPart

    calls = [p for p in parts if isinstance(p, ToolCallPart)]
    assert all(c.id.startswith("mc_") and len(c.id) == 19 for c in calls), calls
    assert len({c.id for c in calls}) == len(calls), calls
    return [
        p.model_copy(update={"id": p.wire_id, "wire_id": None})
        if isinstance(p, ToolCallPart)
        else p
        for p in parts
    ]
