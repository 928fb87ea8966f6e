"""Use cases for an organization's MCP servers: register, change, remove, list their tools,
and make those tools Tool rows agents can be given. Talking to the servers goes through
`toolbox.mcp`; network calls happen outside transactions.

Credentials (an auth token, custom headers, a stdio command's environment) are sealed at
rest and never shown back: `credentials_shown` names the keys that are set and masks their
values. A client that sends a masked value back (a read-modify-write) keeps the stored one.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any, TypedDict, cast
from urllib.parse import urlsplit

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import QuerySet

from accounts.access import organization_of
from config.errors import Conflict, InvalidRequest, NotFound
from config.secrets import seal, unseal
from toolbox import mcp
from toolbox.models import McpServer, McpServerType, Tool, ToolType

# What a client sees in place of a secret; sent back, it means "keep what is stored".
MASK = "********"
SERVER_NAME = re.compile(r"^[A-Za-z0-9_. -]{1,200}$")
# The names model providers accept for a function (OpenAI's rule, the strictest).
TOOL_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
HEADER_NAME = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]{1,200}$")
ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")

# Names no MCP tool may take: the built-in tools'. toolbox sits below agents and cannot
# import its registry, so agents hands the names over at start-up.
# The built-in tools' names, given by the agents app when it starts (a live view of its
# table: feature apps add tools to it after).
_reserved_tool_names: list[Collection[str]] = []


def reserve_tool_names(names: Collection[str]) -> None:
    """Keep MCP tools from taking these names (the built-in tools')."""
    _reserved_tool_names.append(names)


class Credentials(TypedDict, total=False):
    auth_header: str
    auth_token: str
    custom_headers: dict[str, str]
    env: dict[str, str]


@dataclass
class ServerConfig:
    """A server's address and credentials as a client gave them; None leaves a stored
    value as it is (on update)."""

    server_type: str | None = None
    server_url: str | None = None
    command: str | None = None
    args: list[str] | None = None
    auth_header: str | None = None
    auth_token: str | None = None
    custom_headers: dict[str, str] | None = None
    env: dict[str, str] | None = None


@dataclass
class RefreshSummary:
    updated: list[str] = field(default_factory=list)
    added: list[str] = field(default_factory=list)
    # Attached tools the server no longer offers: kept (agents may name them), their
    # calls fail with the server's answer.
    missing: list[str] = field(default_factory=list)
    skipped: list[dict[str, str]] = field(default_factory=list)


# --- Reading ----------------------------------------------------------------------------


def list_mcp_servers(user: Any) -> QuerySet[McpServer]:
    return McpServer.objects.for_user(user)


def get_mcp_server_for_user(user: Any, server_id: str) -> McpServer:
    server = McpServer.objects.for_user(user).filter(pk=server_id).first()
    if server is None:
        raise NotFound(f"MCP server '{server_id}' not found")
    return server


def get_mcp_server_by_name(user: Any, server_name: str) -> McpServer:
    server = McpServer.objects.for_user(user).filter(server_name=server_name).first()
    if server is None:
        raise NotFound(f"No MCP server named '{server_name}'")
    return server


def credentials_shown(server: McpServer) -> Credentials:
    """Which credentials are set, values masked; the auth header's name is not a secret."""
    stored = _credentials(server)
    shown: Credentials = {}
    if stored.get("auth_header"):
        shown["auth_header"] = stored["auth_header"]
    if stored.get("auth_token"):
        shown["auth_token"] = MASK
    if stored.get("custom_headers"):
        shown["custom_headers"] = {name: MASK for name in stored["custom_headers"]}
    if stored.get("env"):
        shown["env"] = {name: MASK for name in stored["env"]}
    return shown


def get_server_tool(server: McpServer, tool_id: str) -> Tool:
    tool = server.tools.filter(pk=tool_id).first()
    if tool is None:
        raise NotFound(f"Tool '{tool_id}' not found on MCP server '{server.server_name}'")
    return tool


# --- Writing ----------------------------------------------------------------------------


def create_mcp_server(owner: Any, server_name: str, config: ServerConfig) -> McpServer:
    """Register a server (not contacted yet). 400 for a bad address or a stdio server
    where those are not allowed, 409 for a name the organization already uses."""
    server = McpServer(owner=owner, organization=organization_of(owner))
    _apply(server, server_name, config, creating=True)
    try:
        with transaction.atomic():
            server.save()
    except IntegrityError:
        raise Conflict(f"An MCP server named '{server_name}' already exists.") from None
    return server


def register_mcp_server(
    owner: Any, server_name: str, config: ServerConfig, *, add_tools: bool
) -> McpServer:
    """Register a server that answers now, with its tools (`add_tools`, as Letta 1.x
    does) or without (the ADE adds them one by one). One that cannot be reached is
    removed again and McpError raised, so a typo in a URL shows where it was typed. The
    server is asked outside any transaction: meanwhile, its name is taken."""
    server = create_mcp_server(owner, server_name, config)
    try:
        if add_tools:
            sync_mcp_tools(server, owner, add_new=True)
        else:
            list_server_tools(server)
    except mcp.McpError:
        delete_mcp_server(server)
        raise
    return server


def update_mcp_server(
    server: McpServer, server_name: str | None, config: ServerConfig
) -> McpServer:
    """Change what is given; masked credential values keep the stored ones."""
    _apply(server, server_name or server.server_name, config, creating=False)
    try:
        with transaction.atomic():
            server.save()
    except IntegrityError:
        raise Conflict(f"An MCP server named '{server_name}' already exists.") from None
    return server


def delete_mcp_server(server: McpServer) -> None:
    """Remove the server and the Tool rows of its tools."""
    server.delete()


def _apply(server: McpServer, server_name: str, config: ServerConfig, *, creating: bool) -> None:
    if not SERVER_NAME.match(server_name or ""):
        raise InvalidRequest(
            "An MCP server name has 1 to 200 letters, digits, spaces, '_', '-' or '.'."
        )
    server.server_name = server_name
    server_type = config.server_type or server.server_type
    if server_type not in McpServerType.values:
        raise InvalidRequest(
            f"mcp_server_type must be one of {', '.join(McpServerType.values)}, "
            f"not {server_type!r}."
        )
    server.server_type = server_type
    stored = {} if creating else _credentials(server)
    if server_type == McpServerType.STDIO:
        if not settings.MCP_ALLOW_STDIO:
            raise InvalidRequest(
                "stdio MCP servers run a local command on this server, and this deployment "
                "does not allow that (MCP_ALLOW_STDIO is off). Use a streamable_http or sse "
                "server instead."
            )
        if config.command is not None:
            server.command = config.command.strip()
        if config.args is not None:
            server.args = [str(arg) for arg in config.args]
        if not server.command:
            raise InvalidRequest("A stdio MCP server needs a command.")
        server.server_url = ""
        credentials: Credentials = {}
        env = _merged(config.env, stored.get("env"), ENV_NAME, "environment variable")
        if env:
            credentials["env"] = env
    else:
        if config.server_url is not None:
            server.server_url = config.server_url.strip()
        _check_url(server.server_url)
        server.command, server.args = "", []
        credentials = {}
        headers = _merged(
            config.custom_headers, stored.get("custom_headers"), HEADER_NAME, "header"
        )
        if headers:
            credentials["custom_headers"] = headers
        header = config.auth_header if config.auth_header is not None else stored.get("auth_header")
        if header:
            if not HEADER_NAME.match(header):
                raise InvalidRequest(f"auth_header {header!r} is not a valid HTTP header name.")
            credentials["auth_header"] = header
        token = config.auth_token
        if token is None or token == MASK:
            token = stored.get("auth_token")
        if token:
            credentials["auth_token"] = token
    server.credentials = seal(credentials)


def _merged(
    given: dict[str, str] | None,
    stored: dict[str, str] | None,
    pattern: re.Pattern[str],
    what: str,
) -> dict[str, str]:
    """`given` replaces `stored` as a whole, except that a masked value keeps the stored
    value of its key."""
    if given is None:
        return dict(stored or {})
    merged = {}
    for name, value in given.items():
        if not pattern.match(name):
            raise InvalidRequest(f"{name!r} is not a valid {what} name.")
        if value == MASK:
            if stored and name in stored:
                merged[name] = stored[name]
            continue
        merged[name] = "" if value is None else str(value)
    return merged


def _check_url(url: str) -> None:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidRequest(f"server_url must be an http:// or https:// address, not {url!r}.")


def _credentials(server: McpServer) -> Credentials:
    return cast(Credentials, unseal(server.credentials, default={}) or {})


# --- Tools ------------------------------------------------------------------------------


def list_server_tools(server: McpServer) -> list[mcp.McpToolSpec]:
    """The tools the server offers now (asks it). Raises McpError (502)."""
    return mcp.list_tools(server)


def attach_mcp_tool(
    server: McpServer, tool_name: str, user: Any, *, reserved: Collection[str] | None = None
) -> Tool:
    """Make one of the server's tools a Tool row of the organization (or bring the row up
    to date): its name, description and input schema as the server says now. 404 when
    the server does not offer it, 409 when another tool (or a built-in) has the name."""
    spec = next((tool for tool in mcp.list_tools(server) if tool.name == tool_name), None)
    if spec is None:
        raise NotFound(f"MCP server '{server.server_name}' has no tool named '{tool_name}'")
    with transaction.atomic():
        return _save_tool(server, spec, user, _reserved(reserved))


def sync_mcp_tools(
    server: McpServer,
    user: Any,
    *,
    add_new: bool,
    reserved: Collection[str] | None = None,
) -> RefreshSummary:
    """Read the server's tools again and update the Tool rows of those attached; with
    `add_new`, attach the others too (skipping, with the reason, a tool whose name is
    taken or cannot be offered to a model). Raises McpError (502)."""
    specs = mcp.list_tools(server)
    names = _reserved(reserved)
    summary = RefreshSummary()
    with transaction.atomic():
        attached = {tool.name: tool for tool in server.tools.select_for_update()}
        for spec in specs:
            if spec.name not in attached and not add_new:
                continue
            try:
                _save_tool(server, spec, user, names)
            except (Conflict, InvalidRequest) as error:
                summary.skipped.append({"name": spec.name, "reason": error.message})
                continue
            (summary.updated if spec.name in attached else summary.added).append(spec.name)
        offered = {spec.name for spec in specs}
        summary.missing = sorted(name for name in attached if name not in offered)
    return summary


def call_server_tool(
    server: McpServer, tool_name: str, arguments: dict[str, Any]
) -> tuple[bool, str]:
    """Run one tool: `(ok, text)`; a failure is a result, not an exception."""
    return mcp.call_tool(server, tool_name, arguments)


def _save_tool(server: McpServer, spec: mcp.McpToolSpec, user: Any, reserved: set[str]) -> Tool:
    if not TOOL_NAME.match(spec.name):
        raise InvalidRequest(
            f"The MCP tool name {spec.name!r} cannot be offered to a model: a tool name "
            "has 1 to 64 letters, digits, '_' or '-'."
        )
    if spec.name in reserved:
        raise Conflict(f"'{spec.name}' is the name of a built-in tool.")
    tool = (
        Tool.objects.select_for_update()
        .filter(organization=server.organization_id, name=spec.name)
        .first()
    )
    if tool is not None and tool.mcp_server_id != server.id:
        raise Conflict(
            f"The organization already has a tool named '{spec.name}'"
            + (" from another MCP server." if tool.mcp_server_id else ".")
        )
    if tool is None:
        tool = Tool(owner=user, organization_id=server.organization_id, name=spec.name)
    tool.tool_type = ToolType.MCP
    tool.mcp_server = server
    tool.description = spec.description
    tool.json_schema = {
        "name": spec.name,
        "description": spec.description,
        "parameters": spec.input_schema,
    }
    tool.tags = [f"mcp:{server.server_name}"]
    tool.metadata = {"mcp": {"server_name": server.server_name, "server_id": server.id}}
    tool.save()
    return tool


def _reserved(reserved: Collection[str] | None) -> set[str]:
    if reserved is not None:
        return set(reserved)
    return {name for names in _reserved_tool_names for name in names}
