"""A small MCP server of the suite's own, built with the MCP SDK's server API.

Run as `python tests/toolbox/mcp_server.py stdio` (the command of a stdio server), or
`... streamable-http PORT` / `... sse PORT` to serve on loopback. Its tools prove what the
client did: `echo_headers` answers with the headers it received (so credentials were
sent), `echo_env` with an environment variable (a stdio server's credentials), `fail`
with an error result and `slow` with a wait.
"""

from __future__ import annotations

import os
import sys

import anyio
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError

server = MCPServer("reverie-test")


@server.tool()
def add(a: int, b: int) -> int:
    """Add two whole numbers."""
    return a + b


@server.tool()
def echo_headers(ctx: Context) -> str:
    """The Authorization and X-Custom headers of the request, as received."""
    headers = ctx.headers or {}
    return (
        f"authorization={headers.get('authorization', '')}; x-custom={headers.get('x-custom', '')}"
    )


@server.tool()
def echo_env(name: str) -> str:
    """The value of one environment variable of this process."""
    return os.environ.get(name, "")


@server.tool()
def fail() -> str:
    """Always fails."""
    raise ToolError("the tool failed on purpose")


@server.tool()
async def slow(seconds: float) -> str:
    """Answers after `seconds`."""
    await anyio.sleep(seconds)
    return "done"


def main(argv: list[str]) -> None:
    transport = argv[1] if len(argv) > 1 else "stdio"
    if transport == "stdio":
        server.run("stdio")
    elif transport == "streamable-http":
        server.run("streamable-http", host="127.0.0.1", port=int(argv[2]))
    elif transport == "sse":
        server.run("sse", host="127.0.0.1", port=int(argv[2]))
    else:
        raise SystemExit(f"unknown transport {transport!r}: stdio, streamable-http or sse")


if __name__ == "__main__":
    main(sys.argv)
