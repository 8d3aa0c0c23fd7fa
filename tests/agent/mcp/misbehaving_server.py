"""An MCP server that misbehaves on request, for tests/agent/mcp (run as a script).

Written on the SDK's low-level server, like any third-party server. It writes its process id
to ``$MISBEHAVING_PID_FILE`` when it starts. Tools:

- ``echo`` (read-only): returns its text;
- ``crash``: the process exits in the middle of the call;
- ``hang``: never answers (it waits on an event nothing sets);
- ``huge``: returns ``size`` characters;
- ``poke``: no annotations at all (so morrow must treat it as a send);
- ``env`` (read-only): the names of the environment variables it was started with.

With ``$MISBEHAVING_MUTE`` set it reads its input and answers nothing, ``initialize`` neither,
until the input ends.
"""

import os
import sys

import anyio
import mcp_types as types
from mcp.server.lowlevel import Server
from mcp.server.stdio import stdio_server

READ = types.ToolAnnotations(read_only_hint=True, open_world_hint=False)
OBJECT = {"type": "object", "properties": {"text": {"type": "string"}, "size": {"type": "integer"}}}


async def list_tools(ctx, params):
    return types.ListToolsResult(
        tools=[
            types.Tool(
                name="echo", description="Echo text.", input_schema=OBJECT, annotations=READ
            ),
            types.Tool(name="crash", description="Crash.", input_schema=OBJECT, annotations=READ),
            types.Tool(name="hang", description="Hang.", input_schema=OBJECT, annotations=READ),
            types.Tool(name="huge", description="Huge.", input_schema=OBJECT, annotations=READ),
            types.Tool(name="poke", description="Poke someone.", input_schema=OBJECT),
            types.Tool(name="env", description="Env.", input_schema=OBJECT, annotations=READ),
            types.Tool(name="bad.name", description="Unusable name.", input_schema=OBJECT),
        ]
    )


async def call_tool(ctx, params):
    args = params.arguments or {}
    if params.name == "crash":
        os._exit(3)
    if params.name == "hang":
        await anyio.Event().wait()
    if params.name == "huge":
        return types.CallToolResult(content=[types.TextContent(text="x" * int(args["size"]))])
    if params.name == "env":
        return types.CallToolResult(content=[types.TextContent(text=" ".join(sorted(os.environ)))])
    if params.name == "poke":
        return types.CallToolResult(content=[types.TextContent(text="poked")])
    return types.CallToolResult(content=[types.TextContent(text=str(args.get("text", "")))])


def note_pid():
    pid_file = os.environ.get("MISBEHAVING_PID_FILE")
    if pid_file:
        with open(pid_file, "a", encoding="utf-8") as out:
            out.write(f"{os.getpid()}\n")


async def main():
    server = Server("misbehaving", version="1", on_list_tools=list_tools, on_call_tool=call_tool)
    async with stdio_server() as (read, write):
        await server.run(read, write, server.create_initialization_options())


if __name__ == "__main__":
    note_pid()
    if os.environ.get("MISBEHAVING_MUTE"):
        sys.stdin.read()
        sys.exit(0)
    anyio.run(main)
    sys.exit(0)
