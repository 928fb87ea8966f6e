"""The boundary to MCP servers: a synchronous facade over the MCP SDK's async client.

The agent loop and the API handlers are synchronous Django code, in web processes and in
workers. Each call here opens one session (connect, handshake, one request, close) and
runs it to completion on an event loop of its own. That costs a handshake per call, which
is small beside the model call around it, and buys a lot: no background loop thread per
process, no session to keep alive or reconnect after a server restart, and a changed URL
or credential takes effect at the next call.

Every server-side failure (refused connection, timeout, an HTTP or protocol error, a
command that would not start) becomes `McpError` with one line saying what went wrong:
`list_tools` raises it; `call_tool` never raises for it and answers `(False, text)`
instead, as it does for a tool's own error result, so the caller records a failed tool
call the model can read.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import socket
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import urlsplit

from django.conf import settings

from config.errors import InvalidRequest, Unavailable
from config.secrets import SecretUnreadable, unseal
from toolbox.models import McpServer, McpServerType

if TYPE_CHECKING:
    from mcp import Client
    from mcp_types import CallToolResult

# The MCP SDK is imported where a server is reached, not with this module: it adds about
# 0.6 s to the start of every process, which most never reach a server.

T = TypeVar("T")

# An SSE stream stays open between events; it is allowed to idle this long past the
# call's own timeout before the read fails (the timeout around the call ends it first).
_SSE_IDLE_MARGIN_SECONDS = 5


class McpError(Unavailable):
    """An MCP server could not be reached or did not answer as MCP says (502: the request
    itself was fine). `message` is one line, fit for a person or a model to read."""


@dataclass(frozen=True)
class McpToolSpec:
    name: str
    description: str
    input_schema: dict[str, Any]


@dataclass(frozen=True)
class Connection:
    """How to reach one server, credentials unsealed; built for one call, never stored."""

    name: str
    server_type: str
    url: str = ""
    command: str = ""
    args: list[str] = field(default_factory=list)
    headers: dict[str, str] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=dict)


def connection_for(server: McpServer) -> Connection:
    """The server's address and unsealed credentials. Raises McpError when its stored
    credentials cannot be read (SECRET_KEY changed), or for stdio where not allowed."""
    try:
        credentials = unseal(server.credentials, default={}) or {}
    except SecretUnreadable as error:
        raise McpError(f"MCP server '{server.server_name}': {error}") from None
    if server.server_type == McpServerType.STDIO:
        if not settings.MCP_ALLOW_STDIO:
            raise McpError(
                f"MCP server '{server.server_name}' is a local command (stdio), and this "
                "deployment does not run those (MCP_ALLOW_STDIO is off)."
            )
        return Connection(
            name=server.server_name,
            server_type=server.server_type,
            command=server.command,
            args=list(server.args or []),
            env=dict(credentials.get("env") or {}),
        )
    if not settings.MCP_ALLOW_PRIVATE_NETWORK:
        _check_public(server.server_name, server.server_url)
    return Connection(
        name=server.server_name,
        server_type=server.server_type,
        url=server.server_url,
        headers=request_headers(credentials),
    )


def _check_public(name: str, url: str) -> None:
    """Where MCP_ALLOW_PRIVATE_NETWORK is off: the server's host must resolve to public
    addresses only, so that nobody who may register a server can make this one reach
    the deployment's own network (its database, Redis, a cloud's metadata address).
    Checked before every connection, as the name may resolve differently later."""
    host = urlsplit(url).hostname or ""
    try:
        found = {str(info[4][0]) for info in socket.getaddrinfo(host, None)}
    except OSError as error:
        raise McpError(f"MCP server '{name}': cannot resolve {host!r}: {error}") from None
    private = sorted(
        address for address in found if not ipaddress.ip_address(address.split("%")[0]).is_global
    )
    if private:
        raise McpError(
            f"MCP server '{name}': {host} is a private address ({', '.join(private)}), and "
            "this deployment reaches public MCP servers only (MCP_ALLOW_PRIVATE_NETWORK is off)."
        )


def request_headers(credentials: dict[str, Any]) -> dict[str, str]:
    """The HTTP headers credentials stand for: the custom headers, then the auth header.
    A token given without a header name goes in `Authorization`; a bare token there (no
    scheme before it) is sent as a bearer token, as MCP servers expect."""
    headers = {str(k): str(v) for k, v in (credentials.get("custom_headers") or {}).items()}
    token = credentials.get("auth_token")
    if token:
        header = credentials.get("auth_header") or "Authorization"
        if header.lower() == "authorization" and " " not in token.strip():
            token = f"Bearer {token.strip()}"
        headers[header] = token
    return headers


def list_tools(server: McpServer) -> list[McpToolSpec]:
    """The tools the server offers now, every page of them. Raises McpError."""
    return list_tools_at(connection_for(server))


def call_tool(server: McpServer, tool_name: str, arguments: dict[str, Any]) -> tuple[bool, str]:
    """Call one tool: `(True, its text)` or `(False, one line on what failed)`; the tool's
    own error result is a failure too. Never raises for a server-side problem."""
    try:
        return call_tool_at(connection_for(server), tool_name, arguments)
    except McpError as error:
        return False, error.message


def list_tools_at(connection: Connection) -> list[McpToolSpec]:
    async def listing(client: Client) -> list[McpToolSpec]:
        specs: list[McpToolSpec] = []
        cursor: str | None = None
        # A server that hands out cursors forever is cut off rather than followed.
        for _ in range(100):
            page = await client.list_tools(cursor=cursor)
            specs.extend(
                McpToolSpec(
                    name=tool.name,
                    description=tool.description or "",
                    input_schema=dict(tool.input_schema or {"type": "object", "properties": {}}),
                )
                for tool in page.tools
            )
            cursor = page.next_cursor
            if not cursor:
                break
        return specs

    return _session(connection, listing)


def call_tool_at(
    connection: Connection, tool_name: str, arguments: dict[str, Any]
) -> tuple[bool, str]:
    async def calling(client: Client) -> CallToolResult:
        return await client.call_tool(tool_name, arguments)

    try:
        result = _session(connection, calling)
    except McpError as error:
        return False, error.message
    text = result_text(result)
    if result.is_error:
        return False, text or f"The MCP tool '{tool_name}' reported an error without a message."
    return True, text


def result_text(result: CallToolResult) -> str:
    """A tool result as text: its text parts, other parts named, or else its structured
    content as JSON."""
    from mcp_types import TextContent

    parts = [
        block.text if isinstance(block, TextContent) else f"[{block.type} content]"
        for block in result.content
    ]
    if not parts and result.structured_content is not None:
        return json.dumps(result.structured_content)
    return "\n".join(parts)


# --- One session --------------------------------------------------------------------------


def _session(connection: Connection, work: Callable[[Client], Awaitable[T]]) -> T:
    """Connect, do `work`, disconnect, all within MCP_TIMEOUT_SECONDS; failures become
    McpError."""
    import anyio
    from mcp import Client

    timeout = float(settings.MCP_TIMEOUT_SECONDS)

    async def run() -> T:
        with anyio.fail_after(timeout):
            async with AsyncExitStack() as stack:
                transport = await _transport(connection, stack, timeout)
                client = await stack.enter_async_context(
                    Client(transport, read_timeout_seconds=timeout, cache=None)
                )
                return await work(client)

    try:
        return _run_sync(run)
    except McpError:
        raise
    except BaseException as error:  # every failure is said, not thrown
        if isinstance(error, KeyboardInterrupt | SystemExit):
            raise
        raise McpError(f"MCP server '{connection.name}': {describe(error, timeout)}") from None


async def _transport(connection: Connection, stack: AsyncExitStack, timeout: float) -> Any:
    import httpx2
    from mcp import StdioServerParameters
    from mcp.client.sse import sse_client
    from mcp.client.streamable_http import streamable_http_client

    if connection.server_type == McpServerType.STREAMABLE_HTTP:
        http = await stack.enter_async_context(
            httpx2.AsyncClient(headers=connection.headers, timeout=httpx2.Timeout(timeout))
        )
        return streamable_http_client(connection.url, http_client=http)
    if connection.server_type == McpServerType.SSE:
        return sse_client(
            connection.url,
            headers=connection.headers,
            timeout=timeout,
            sse_read_timeout=timeout + _SSE_IDLE_MARGIN_SECONDS,
        )
    if connection.server_type == McpServerType.STDIO:
        if not settings.MCP_ALLOW_STDIO:
            raise McpError(f"MCP server '{connection.name}': stdio servers are not allowed here.")
        return StdioServerParameters(
            command=connection.command, args=connection.args, env=connection.env or None
        )
    raise InvalidRequest(f"Unknown MCP server type {connection.server_type!r}.")


def _run_sync(run: Callable[[], Awaitable[T]]) -> T:
    """Run a coroutine function to completion from synchronous code. In a thread that
    already runs an event loop (an async caller), on a thread of its own: a loop cannot
    be started inside another."""
    import anyio

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return anyio.run(run)
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(anyio.run, run).result()


def describe(error: BaseException, timeout: float) -> str:
    """One line on what went wrong, from the innermost cause (task groups wrap it)."""
    import httpx2
    from mcp import MCPError

    error = _innermost(error)
    if isinstance(error, TimeoutError | httpx2.TimeoutException):
        return f"no answer within {timeout:g} seconds (MCP_TIMEOUT_SECONDS)."
    if isinstance(error, httpx2.HTTPStatusError):
        status = error.response.status_code
        if status in (401, 403):
            return f"the server refused the credentials (HTTP {status})."
        return f"the server answered HTTP {status} at {error.request.url}."
    if isinstance(error, httpx2.ConnectError):
        return f"could not connect ({_first_line(error) or 'connection refused'})."
    if isinstance(error, httpx2.HTTPError):
        return f"the HTTP request failed: {_first_line(error) or type(error).__name__}."
    if isinstance(error, MCPError):
        return f"MCP error {error.code}: {_first_line(error.message)}"
    if isinstance(error, FileNotFoundError):
        return f"the command could not be started: {error.filename or error} was not found."
    if isinstance(error, OSError):
        return f"the command could not be started: {_first_line(error)}"
    if isinstance(error, McpError):
        return error.message
    return f"{type(error).__name__}: {_first_line(error) or 'no details'}"


def _innermost(error: BaseException) -> BaseException:
    while isinstance(error, BaseExceptionGroup) and error.exceptions:
        # A cancellation beside the real failure is its consequence, not its cause.
        causes = [e for e in error.exceptions if not isinstance(e, asyncio.CancelledError)]
        error = (causes or list(error.exceptions))[0]
    return error


def _first_line(error: BaseException | str) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else ""
