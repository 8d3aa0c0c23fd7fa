"""agent/mcp: morrow as an MCP server, and external MCP servers as tools."""
