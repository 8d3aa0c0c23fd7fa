"""External MCP servers: started on first use, spoken to on the official ``mcp`` SDK's client.

:class:`McpHub` owns every configured server. Its connections live on an event loop of their
own, in a daemon thread: the SDK's client is an async context manager bound to the task that
entered it, while morrow's callers come and go (one ``asyncio.run`` per ``ask``, a REPL, a
synchronous ``tools list``). Callers reach it through :meth:`McpHub.listing` (blocking) and
:meth:`McpHub.call` (awaitable from any loop).

Failure is contained per server, one line each: a server that cannot start, does not answer
``initialize`` within ``start_timeout_seconds``, does not answer a call within
``call_timeout_seconds``, or dies mid-call is reported as a :class:`McpServerError` (a tool
error for the model, a line for ``doctor``), and the others keep working. A server that died
is started again by the next call. Output is text: content blocks joined, cut at
``max_result_chars`` with a note. Processes are stopped when the hub closes (``atexit`` too),
by the SDK (stdin closed, then SIGTERM, then SIGKILL of the process group); a morrow killed
outright closes their stdin, and a stdio server ends on EOF.
"""

from __future__ import annotations

import asyncio
import atexit
import concurrent.futures
import contextlib
import json
import os
import re
import threading
from collections.abc import AsyncIterator, Coroutine, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO, TypeVar

import structlog

from morrow.tools.errors import ToolError

log = structlog.get_logger("morrow.mcp")
_USABLE_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")
T = TypeVar("T")


class McpServerError(ToolError):
    """An external MCP server could not do what was asked (start, answer, stay alive).

    Attributes:
        sent: whether the call had reached the server (then it may have run there).
    """

    def __init__(self, message: str, *, sent: bool = False) -> None:
        super().__init__(message)
        self.sent = sent


@dataclass(frozen=True)
class ServerSpec:
    """How to reach one external server (built from ``[[mcp.servers]]``).

    Attributes:
        name: the prefix of its tools (``time`` -> ``time.get_current_time``).
        command: the program of a stdio server (None for a URL).
        args: its arguments.
        url: a streamable HTTP endpoint (None for stdio).
        env: extra environment of the process, resolved.
        cwd: its working directory.
        allow: the tools morrow may use (None: all it lists).
        start_timeout: seconds to start and answer ``initialize`` and ``tools/list``.
        call_timeout: seconds one call may take.
        max_result_chars: longer output is cut.
        errlog: where the process's stderr goes (None: discarded).
    """

    name: str
    command: str | None = None
    args: tuple[str, ...] = ()
    url: str | None = None
    env: dict[str, str] = field(default_factory=dict)
    cwd: str | None = None
    allow: frozenset[str] | None = None
    start_timeout: float = 10.0
    call_timeout: float = 30.0
    max_result_chars: int = 20_000
    errlog: Path | None = None

    @property
    def where(self) -> str:
        """The command line or URL, for messages."""
        return self.url or " ".join([self.command or "", *self.args])


@dataclass(frozen=True)
class RemoteTool:
    """A tool an external server lists, as morrow needs it.

    Attributes:
        server: the server's name.
        name: the tool's own name on that server.
        description: its description.
        input_schema: the JSON schema of its arguments.
        read_only: ``readOnlyHint`` (absent means false).
        open_world: ``openWorldHint`` (absent means true).
        destructive: ``destructiveHint`` (absent means true).
    """

    server: str
    name: str
    description: str
    input_schema: dict[str, Any]
    read_only: bool = False
    open_world: bool = True
    destructive: bool = True


@dataclass(frozen=True)
class RemoteResult:
    """What a call returned: its text and whether the server marked it an error."""

    text: str
    is_error: bool = False


@dataclass
class _Connection:
    spec: ServerSpec
    client: Any = None
    tools: list[RemoteTool] = field(default_factory=list)
    task: asyncio.Task[None] | None = None
    stop: asyncio.Event = field(default_factory=asyncio.Event)
    starting: asyncio.Future[None] | None = None


class McpHub:
    """Every configured external server, each started when first needed."""

    def __init__(self, specs: Sequence[ServerSpec]) -> None:
        self.specs = {spec.name: spec for spec in specs}
        self.problems: dict[str, str] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._connections: dict[str, _Connection] = {}
        self._lock = threading.Lock()

    # -- what callers use --------------------------------------------------------------------

    def listing(self) -> list[RemoteTool]:
        """The allowed tools of every server that starts (one log line per one that does not)."""
        return self._run(self._list_all())

    async def call(self, server: str, tool: str, arguments: dict[str, Any]) -> RemoteResult:
        """Call ``server``'s ``tool``; awaitable from any event loop.

        Raises:
            McpServerError: the server could not be started, did not answer in time, or died.
        """
        future = self._submit(self._call(server, tool, arguments))
        return await asyncio.wrap_future(future)

    def close(self) -> None:
        """Stop every server and the hub's loop (idempotent; also run at exit)."""
        with self._lock:
            loop, thread, self._loop = self._loop, self._thread, None
        if loop is None or thread is None:
            return
        future = asyncio.run_coroutine_threadsafe(self._stop_all(), loop)
        try:
            future.result(timeout=10)
        except (concurrent.futures.TimeoutError, RuntimeError):  # pragma: no cover - last resort
            log.warning("mcp_stop_timeout")
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=5)
        if not thread.is_alive():
            loop.close()

    # -- the hub's own loop ------------------------------------------------------------------

    def _submit(self, coro: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
        with self._lock:
            if self._loop is None:
                self._loop = asyncio.new_event_loop()
                self._thread = threading.Thread(
                    target=self._loop.run_forever, name="morrow-mcp", daemon=True
                )
                self._thread.start()
                atexit.register(self.close)
            return asyncio.run_coroutine_threadsafe(coro, self._loop)

    def _run(self, coro: Coroutine[Any, Any, T]) -> T:
        return self._submit(coro).result()

    async def _list_all(self) -> list[RemoteTool]:
        names = list(self.specs)
        results = await asyncio.gather(*(self._started(n) for n in names), return_exceptions=True)
        tools: list[RemoteTool] = []
        for name, result in zip(names, results, strict=True):
            if isinstance(result, BaseException):
                self.problems[name] = str(result)
                log.warning("mcp_server_unavailable", server=name, error=str(result))
            else:
                self.problems.pop(name, None)
                tools += result.tools
        return tools

    async def _started(self, name: str) -> _Connection:
        """The running connection to ``name``, started (or started again) when needed."""
        connection = self._connections.get(name)
        if connection is not None and connection.task is not None and not connection.task.done():
            assert connection.starting is not None
            await asyncio.shield(connection.starting)
            return connection
        connection = _Connection(self.specs[name])
        connection.starting = asyncio.get_running_loop().create_future()
        connection.task = asyncio.create_task(self._hold(connection))
        self._connections[name] = connection
        spec = connection.spec
        try:
            await asyncio.wait_for(asyncio.shield(connection.starting), spec.start_timeout)
        except TimeoutError:
            await self._stop(connection)
            raise McpServerError(
                f"MCP server {name!r} ({spec.where}) did not start within {spec.start_timeout:g} s"
            ) from None
        return connection

    async def _hold(self, connection: _Connection) -> None:
        """Keep one connection open until asked to stop; its start is reported on ``starting``."""
        spec, starting = connection.spec, connection.starting
        assert starting is not None
        try:
            async with open_client(spec) as client:
                connection.client = client
                connection.tools = await _list_tools(client, spec)
                starting.set_result(None)
                await connection.stop.wait()
        except BaseException as exc:  # any failure of the server ends this connection only
            if not starting.done():
                starting.set_exception(_start_error(spec, exc))
            else:
                log.warning("mcp_server_ended", server=spec.name, error=_describe(exc))
            if isinstance(exc, asyncio.CancelledError):
                raise
        finally:
            connection.client = None

    async def _call(self, server: str, tool: str, arguments: dict[str, Any]) -> RemoteResult:
        if server not in self.specs:
            raise McpServerError(f"no MCP server named {server!r} is configured")
        connection = await self._started(server)
        spec = connection.spec
        client = connection.client
        if client is None or connection.task is None or connection.task.done():
            raise McpServerError(f"MCP server {server!r} stopped before the call")
        call = asyncio.ensure_future(client.call_tool(tool, arguments))
        ended = asyncio.ensure_future(asyncio.shield(connection.task))
        try:
            done, _ = await asyncio.wait(
                {call, ended}, timeout=spec.call_timeout, return_when="FIRST_COMPLETED"
            )
        finally:
            ended.cancel()
        if call not in done:
            call.cancel()
            if not done:
                # a server that hangs is stopped; the next call starts it again
                await self._stop(connection)
                raise McpServerError(
                    f"MCP server {server!r} did not answer {tool} within {spec.call_timeout:g} s "
                    "(stopped; it starts again on the next call)",
                    sent=True,
                )
            await self._stop(connection)
            raise McpServerError(
                f"MCP server {server!r} ended during the call to {tool}", sent=True
            )
        try:
            result = call.result()
        except Exception as exc:  # a protocol error, or the connection lost mid-call
            if _connection_lost(exc):  # the process is gone: the next call starts it again
                await self._stop(connection)
                raise McpServerError(
                    f"MCP server {server!r} ended during the call to {tool}", sent=True
                ) from None
            raise McpServerError(
                f"MCP server {server!r}: {tool} failed: {_describe(exc)}", sent=True
            ) from None
        return result_text(result, spec.max_result_chars)

    async def _stop(self, connection: _Connection) -> None:
        """End one connection; the SDK stops its process (stdin closed, SIGTERM, SIGKILL)."""
        connection.stop.set()
        task = connection.task
        if task is not None and not task.done():
            if connection.starting is None or not connection.starting.done():
                task.cancel()  # still starting: it is not waiting for ``stop``
            with contextlib.suppress(asyncio.CancelledError, TimeoutError):
                await asyncio.wait_for(asyncio.shield(task), 15)
        starting = connection.starting
        if starting is not None and starting.done() and not starting.cancelled():
            starting.exception()  # reported already (or by whoever awaited it): mark it read
        if self._connections.get(connection.spec.name) is connection:
            del self._connections[connection.spec.name]

    async def _stop_all(self) -> None:
        await asyncio.gather(*(self._stop(c) for c in list(self._connections.values())))


@asynccontextmanager
async def open_client(spec: ServerSpec) -> AsyncIterator[Any]:
    """The SDK's client for one server, entered (initialized); the process ends on exit."""
    from mcp import Client, StdioServerParameters

    if spec.url is not None:
        async with Client(spec.url, mode="auto") as client:
            yield client
        return
    assert spec.command is not None
    params = StdioServerParameters(
        command=spec.command, args=list(spec.args), env=spec.env or None, cwd=spec.cwd
    )
    with _errlog(spec) as errlog:
        from mcp.client.stdio import stdio_client

        async with Client(stdio_client(params, errlog=errlog), mode="auto") as client:
            yield client


@contextmanager
def _errlog(spec: ServerSpec) -> Iterator[TextIO]:
    """Where the server's stderr goes: its log file, or nowhere (never morrow's terminal)."""
    if spec.errlog is None:
        with open(os.devnull, "w", encoding="utf-8") as sink:
            yield sink
        return
    spec.errlog.parent.mkdir(parents=True, exist_ok=True)
    with spec.errlog.open("a", encoding="utf-8") as sink:
        yield sink


async def _list_tools(client: Any, spec: ServerSpec) -> list[RemoteTool]:
    listed: list[RemoteTool] = []
    cursor = None
    for _ in range(100):  # a server whose pages never end cannot hang the start
        page = await client.list_tools(cursor=cursor)
        for tool in page.tools:
            if not _USABLE_NAME.fullmatch(tool.name):  # the model APIs would refuse the name
                log.warning("mcp_tool_skipped", server=spec.name, tool=tool.name)
            elif spec.allow is None or tool.name in spec.allow:
                listed.append(_remote(spec.name, tool))
        cursor = page.next_cursor
        if not cursor:
            break
    return listed


def _remote(server: str, tool: Any) -> RemoteTool:
    hints = tool.annotations
    return RemoteTool(
        server=server,
        name=tool.name,
        description=tool.description or "",
        input_schema=dict(tool.input_schema),
        read_only=bool(hints and hints.read_only_hint),
        open_world=not (hints and hints.open_world_hint is False),
        destructive=not (hints and hints.destructive_hint is False),
    )


def result_text(result: Any, limit: int) -> RemoteResult:
    """A ``CallToolResult`` as text: text blocks as they are, other blocks described, cut."""
    pieces: list[str] = []
    for block in result.content:
        kind = getattr(block, "type", "")
        if kind == "text":
            pieces.append(block.text)
        elif kind in ("image", "audio"):
            pieces.append(
                f"[{kind} {block.mime_type}, {len(block.data)} base64 characters, not shown]"
            )
        elif kind == "resource_link":
            pieces.append(f"[resource {block.uri}]")
        elif kind == "resource":
            inner = block.resource
            pieces.append(getattr(inner, "text", None) or f"[resource {inner.uri}, binary]")
        else:
            pieces.append(f"[{kind or 'unknown'} content, not shown]")
    if not pieces and result.structured_content is not None:
        pieces.append(json.dumps(result.structured_content, ensure_ascii=False))
    text = "\n".join(pieces)
    if len(text) > limit:
        cut = len(text) - limit
        text = f"{text[:limit]}\n[cut: {cut} more characters of output were left out]"
    return RemoteResult(text=text, is_error=bool(result.is_error))


def _connection_lost(exc: BaseException) -> bool:
    from mcp_types import CONNECTION_CLOSED

    return getattr(exc, "code", None) == CONNECTION_CLOSED or isinstance(
        exc, ConnectionError | EOFError
    )


def _start_error(spec: ServerSpec, exc: BaseException) -> McpServerError:
    return McpServerError(
        f"MCP server {spec.name!r} ({spec.where}) failed to start: {_describe(exc)}"
    )


def _describe(exc: BaseException) -> str:
    """One line for an exception, also for the task groups' exception groups."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
