"""``morrow mcp serve`` driven by the mcp SDK's own client, over stdio, as a real process.

Both protocol eras: ``mode="auto"`` negotiates 2026-07-28 (an approval is an
``InputRequiredResult`` the client answers and retries), ``mode="legacy"`` the handshake era
of today's desktop clients (an ``elicitation/create`` request during the call).
"""

import asyncio
import json
import os
import sys
from pathlib import Path

import pytest

from morrow.tools.demo import main as make_demo


@pytest.fixture
def home(tmp_path) -> Path:
    folder = tmp_path / "demo"
    make_demo([str(folder)])
    return folder


def drafts(home: Path) -> int:
    return sum(1 for _ in (home / "Mail" / ".Drafts" / "cur").glob("*")) + sum(
        1 for _ in (home / "Mail" / ".Drafts" / "new").glob("*")
    )


def serve(home: Path, mode: str = "ask"):
    from mcp import StdioServerParameters

    config = home / "config.toml"
    text = config.read_text(encoding="utf-8").split("\n[approvals]")[0]
    config.write_text(f'{text}\n[approvals]\nmode = "{mode}"\n', encoding="utf-8")
    return StdioServerParameters(
        command=sys.executable,
        args=["-m", "morrow.agent.cli", "mcp", "serve"],
        env={"MORROW_HOME": str(home), "PATH": os.environ.get("PATH", "")},
        cwd=str(home),
    )


def session(home, *, mode="ask", era="auto", answer=None, asked=None):
    """Run ``body(client)`` against a served morrow; ``answer`` approves or refuses."""
    import mcp_types as types
    from mcp import Client

    async def elicit(context, params):
        asked.append(params.message)
        return types.ElicitResult(action="accept", content={"approve": answer})

    callback = elicit if answer is not None else None

    def run(body):
        async def main():
            async with Client(serve(home, mode), mode=era, elicitation_callback=callback) as c:
                return await body(c)

        return asyncio.run(main())

    return run


def test_tools_are_listed_with_annotations_a_read_runs_and_an_effect_is_refused(home):
    """A client that cannot elicit: reads run, an effect is refused with a clear error."""

    async def body(client):
        listed = {t.name: t for t in (await client.list_tools()).tools}
        found = await client.call_tool("search_emails", {"limit": 2})
        refused = await client.call_tool(
            "draft_email", {"to": ["alex@example.com"], "subject": "Note", "body": "hi"}
        )
        return listed, found, refused

    listed, found, refused = session(home)(body)
    assert refused.is_error
    assert "not approved: draft_email has a write effect" in refused.content[0].text
    assert drafts(home) == 0
    assert "time.get_current_time" not in listed and len(listed) == 19
    assert listed["list_events"].annotations.read_only_hint is True
    send = listed["send_email"].annotations
    assert (send.read_only_hint, send.open_world_hint, send.destructive_hint) == (False, True, True)
    draft = listed["draft_email"].annotations
    assert (draft.read_only_hint, draft.open_world_hint) == (False, False)
    assert listed["draft_email"].input_schema["required"] == ["to", "subject", "body"]
    assert not found.is_error
    first = json.loads(found.content[0].text)[0]
    assert first["content"].startswith('<untrusted_content source="email:')  # still labelled


@pytest.mark.parametrize("era", ["auto", "legacy"])
def test_an_effect_approved_by_elicitation_runs_and_a_no_does_nothing(home, era):
    asked: list[str] = []
    arguments = {"to": ["sam@northwind.example"], "subject": "Rollout", "body": "Tuesday works."}

    async def body(client):
        return await client.call_tool("draft_email", arguments)

    done = session(home, era=era, answer=True, asked=asked)(body)
    assert not done.is_error, done.content[0].text
    assert json.loads(done.content[0].text)["subject"] == "Rollout"
    assert drafts(home) == 1
    (question,) = asked
    assert "draft_email (write: can be undone)" in question
    assert "to: sam@northwind.example" in question and "Tuesday works." in question

    asked.clear()
    again = {**arguments, "subject": "Other"}

    async def refuse(client):
        return await client.call_tool("draft_email", again)

    no = session(home, era=era, answer=False, asked=asked)(refuse)
    assert no.is_error and "the user answered no in the MCP client" in no.content[0].text
    assert drafts(home) == 1 and len(asked) == 1


def test_allow_mode_runs_effects_but_an_address_from_mail_still_needs_the_user(home):
    asked: list[str] = []

    async def body(client):
        mine = await client.call_tool(
            "draft_email", {"to": ["alex@example.com"], "subject": "Self", "body": "note"}
        )
        found = await client.call_tool("search_emails", {"limit": 10})
        strange = await client.call_tool(
            "send_email", {"to": ["sam@northwind.example"], "subject": "x", "body": "y"}
        )
        return mine, found, strange

    mine, found, strange = session(home, mode="allow", answer=False, asked=asked)(body)
    assert not mine.is_error and drafts(home) == 1  # allowed by the mode, nobody asked first
    assert "sam@northwind.example" in found.content[0].text
    assert strange.is_error
    (question,) = asked  # only the send to an address seen in mail was asked
    assert "untrusted address sam@northwind.example" in question
    assert "appears only in the text of email" in question


def test_the_server_imports_no_provider_sdk(tmp_path):
    """`morrow mcp serve` answers initialize without anthropic, openai or google's client."""
    import subprocess

    code = (
        "import sys, anyio\n"
        "from morrow.agent.cli import main\n"
        "sys.argv = ['morrow', 'mcp', 'serve']\n"
        "code = main(['mcp', 'serve'])\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('anthropic', 'openai', 'googleapiclient', 'google')), file=sys.stderr)\n"
    )
    request = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {
            "protocolVersion": "2025-11-25",
            "capabilities": {},
            "clientInfo": {"name": "test", "version": "1"},
        },
    }
    done = subprocess.run(
        [sys.executable, "-c", code],
        input=json.dumps(request) + "\n",
        capture_output=True,
        text=True,
        env={"MORROW_HOME": str(tmp_path), "PATH": "/usr/bin:/bin"},
        cwd=tmp_path,
        timeout=120,
        check=True,
    )
    answer = json.loads(done.stdout.splitlines()[0])
    assert answer["result"]["serverInfo"]["name"] == "morrow"
    assert done.stderr.strip().splitlines()[-1] == "[]"


def test_a_served_session_is_recorded_and_replays_offline(home, tmp_path, era="auto"):
    from mcp import Client

    from morrow.evals.replay import replay
    from morrow.evals.trajectory import ReplayDivergence, load_trajectory

    record = tmp_path / "served.json"
    params = serve(home)
    params = params.model_copy(update={"args": [*params.args, "--record", str(record)]})
    asked: list[str] = []

    async def elicit(context, request):
        import mcp_types as types

        asked.append(request.message)
        return types.ElicitResult(action="accept", content={"approve": True})

    async def main():
        async with Client(params, mode=era, elicitation_callback=elicit) as client:
            found = await client.call_tool("search_emails", {"limit": 3})
            draft = await client.call_tool(
                "draft_email", {"to": ["sam@northwind.example"], "subject": "Re", "body": "Yes."}
            )
            refused = await client.call_tool("send_draft", {"draft_id": "Drafts/nope"})
            return found, draft, refused

    found, draft, missing = asyncio.run(main())
    assert not found.is_error and not draft.is_error and len(asked) == 2
    assert missing.is_error  # approved, then the draft did not exist
    trajectory = load_trajectory(record)
    assert [t.user for t in trajectory.turns] == ["(MCP call 1)", "(MCP call 2)", "(MCP call 3)"]
    assert trajectory.metadata.provider == "mcp-client"
    assert [a.tool for t in trajectory.turns for a in t.approvals] == ["draft_email", "send_draft"]
    assert trajectory.final_world is not None

    replayed = asyncio.run(replay(trajectory))  # offline: the tools run again, nobody is asked
    assert replayed.provider.served == 6

    tampered = trajectory.model_copy(deep=True)
    tampered.turns[1].approvals[0].approved = False  # had the person said no, it would differ
    with pytest.raises(ReplayDivergence, match=r"model step 4 .*MCP call 2.*the history sent"):
        asyncio.run(replay(tampered))


def test_streamable_http_on_127_0_0_1(home):
    """`--http --port 0`: the server picks a free port itself and says which (no race)."""
    import subprocess

    from mcp import Client

    process = subprocess.Popen(
        [sys.executable, "-m", "morrow.agent.cli", "mcp", "serve", "--http", "--port", "0"],
        env={"MORROW_HOME": str(home), "PATH": os.environ.get("PATH", "")},
        cwd=home,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        line = process.stderr.readline()
        assert line.startswith("morrow: serving MCP at http://127.0.0.1:"), line
        url = line.split(" at ")[1].strip()

        async def main():
            async with Client(url) as client:
                tools = (await client.list_tools()).tools
                found = await client.call_tool(
                    "list_events",
                    {"start": "2026-01-01T00:00:00+00:00", "end": "2026-01-02T00:00:00+00:00"},
                )
                return tools, found

        tools, found = asyncio.run(main())
        assert len(tools) == 19 and not found.is_error
    finally:
        process.terminate()
        process.wait(timeout=30)
        process.stderr.close()
