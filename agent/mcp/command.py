"""``morrow mcp serve``: serve morrow's tools over stdio (or streamable HTTP on 127.0.0.1).

Start-up matters (a client launches the server and waits for ``initialize``): this imports the
SDK's server and morrow's config only; tools, backends and the store are loaded by the first
call that needs them, and no provider SDK is imported at all.
"""

from __future__ import annotations

import argparse
from typing import Any

DEFAULT_PORT = 8765


def register(commands: Any) -> None:
    """Add ``mcp serve`` to the command tree."""
    mcp = commands.add_parser("mcp", help="serve morrow's tools to MCP clients")
    actions = mcp.add_subparsers(dest="mcp_command", metavar="ACTION", required=True)
    serve = actions.add_parser(
        "serve", help="serve the calendar, email and memory tools (stdio by default)"
    )
    serve.add_argument(
        "--http",
        action="store_true",
        help="serve streamable HTTP on 127.0.0.1 instead of stdio (at /mcp)",
    )
    serve.add_argument(
        "--port",
        type=int,
        default=DEFAULT_PORT,
        help="HTTP port (with --http; 0: any free port, said on stderr)",
    )
    serve.add_argument(
        "--record", metavar="FILE", help="record the calls as a trajectory (replay it offline)"
    )

    def handler(args: argparse.Namespace) -> int:
        return run_serve(args)

    serve.set_defaults(handler=handler)


def run_serve(args: argparse.Namespace) -> int:
    """Serve until the client goes away (stdio) or Ctrl-C (HTTP)."""
    import anyio

    from morrow.agent.app import App
    from morrow.agent.mcp.server import MorrowServer

    app = App.load(home=args.home, config=args.config)
    recording = None
    if args.record:
        from morrow.agent.mcp.recording import start_recording

        recording = start_recording(app, args.record)
    server = MorrowServer(app, version=_version(), recording=recording).build()
    try:
        if args.http:
            _serve_http(server, args.port)
        else:
            anyio.run(_serve_stdio, server)
    finally:
        app.close()
    return 0


async def _serve_stdio(server: Any) -> None:
    from mcp.server.stdio import stdio_server

    async with stdio_server() as (read, write):
        await server.run(read, write, server.create_initialization_options())


def _serve_http(server: Any, port: int) -> None:
    """Streamable HTTP at ``http://127.0.0.1:PORT/mcp`` (port 0: any free one), said on stderr."""
    import socket
    import sys

    import uvicorn

    from morrow.agent.errors import UsageError

    if not 0 <= port < 65536:
        raise UsageError(f"--port {port}: not a TCP port")
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        listener.bind(("127.0.0.1", port))
    except OSError as exc:
        listener.close()
        raise UsageError(f"--port {port}: cannot listen on 127.0.0.1: {exc.strerror}") from None
    # Listening before the address is said: a client that connects at once is queued by the
    # kernel until the server accepts, never refused.
    listener.listen(128)
    bound = listener.getsockname()[1]
    asgi = server.streamable_http_app(host="127.0.0.1")
    config = uvicorn.Config(asgi, host="127.0.0.1", port=bound, log_level="warning")
    print(f"morrow: serving MCP at http://127.0.0.1:{bound}/mcp", file=sys.stderr, flush=True)
    uvicorn.Server(config).run(sockets=[listener])


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("morrow")
    except PackageNotFoundError:
        return "unknown"
