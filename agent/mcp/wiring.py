"""The config glue: ``[[mcp.servers]]`` to running servers, their tools to the registry.

The only module of ``agent/mcp`` that reads the configuration (``morrow.agent.config``'s
``McpConfig``); the App asks it for the external tools, ``doctor`` for a check of each server.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from morrow.agent.mcp.client import McpHub, ServerSpec

if TYPE_CHECKING:
    from morrow.agent.config import Config, Paths
    from morrow.tools.base import Tool


def server_specs(config: Config, paths: Paths) -> list[ServerSpec]:
    """One spec per ``[[mcp.servers]]`` entry (its ``secret_env`` variables read now).

    Raises:
        ConfigError: an env value names a variable that is not set.
    """
    specs = []
    for index, server in enumerate(config.mcp.servers):
        specs.append(
            ServerSpec(
                name=server.name,
                command=server.command,
                args=tuple(server.args),
                url=server.url,
                env=server.process_env(str(paths.config), index),
                cwd=str(paths.resolve_path(server.cwd)) if server.cwd else None,
                allow=frozenset(server.tools) if server.tools is not None else None,
                start_timeout=server.start_timeout_seconds,
                call_timeout=server.call_timeout_seconds,
                max_result_chars=server.max_result_chars,
                errlog=paths.logs / f"mcp-{server.name}.log",
            )
        )
    return specs


def open_hub(config: Config, paths: Paths) -> McpHub | None:
    """The hub of the configured servers (none started yet), or None without any."""
    if not config.mcp.servers:
        return None
    return McpHub(server_specs(config, paths))


def external_tools(hub: McpHub) -> list[Tool]:
    """The allowed tools of every server that starts, named ``<server>.<tool>``."""
    from morrow.agent.mcp.bridge import external_tool

    return [external_tool(remote, hub.call) for remote in hub.listing()]


def check_servers(hub: McpHub) -> list[tuple[str, str | None]]:
    """For ``doctor``: each server with a line about its tools, or its problem (None: ok)."""
    tools = hub.listing()
    lines: list[tuple[str, str | None]] = []
    for name, spec in hub.specs.items():
        if name in hub.problems:
            lines.append((f"mcp {name}: FAILED: {hub.problems[name]}", hub.problems[name]))
            continue
        mine = [t for t in tools if t.server == name]
        reads = sum(t.read_only for t in mine)
        shown = ", ".join(t.name for t in mine[:6]) + (" ..." if len(mine) > 6 else "")
        lines.append(
            (
                f"mcp {name}: {spec.where}; {len(mine)} tools ({reads} read-only): {shown}",
                None,
            )
        )
    return lines
