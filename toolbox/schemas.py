"""Request and answer shapes of the MCP server routes, as Letta's SDKs send and read them:
the 1.x SDK's `mcp_servers` (a `config` per `mcp_server_type`) and the 0.1.x SDK's
`tools.*_mcp_*` (one flat config with `type`)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from ninja import Field, Schema

from config.schemas import In
from toolbox import mcp_servers
from toolbox.models import McpServer, McpServerType, Tool

ServerType = Literal["streamable_http", "sse", "stdio"]
# toolbox.mcp_servers.SERVER_NAME, spelled for JSON Schema too.
SERVER_NAME_PATTERN = r"^[A-Za-z0-9_. -]{1,200}$"


class McpServerConfigIn(In):
    """One shape for the three kinds; the fields of the other kinds are ignored. Without
    `mcp_server_type`, a command means stdio, and a URL ending in /sse means SSE, any
    other URL streamable HTTP."""

    mcp_server_type: ServerType | None = None
    server_url: str | None = None
    auth_header: str | None = None
    auth_token: str | None = None
    custom_headers: dict[str, str | None] | None = None
    command: str | None = None
    args: list[str] | None = None
    env: dict[str, str | None] | None = None

    def server_config(self, server_type: str | None = None) -> mcp_servers.ServerConfig:
        return mcp_servers.ServerConfig(
            server_type=server_type or self.mcp_server_type or self._implied_type(),
            server_url=self.server_url,
            command=self.command,
            args=self.args,
            auth_header=self.auth_header,
            auth_token=self.auth_token,
            custom_headers=_texts(self.custom_headers),
            env=_texts(self.env),
        )

    def _implied_type(self) -> str | None:
        if self.command:
            return McpServerType.STDIO
        if self.server_url:
            path = self.server_url.split("?", 1)[0].rstrip("/")
            return McpServerType.SSE if path.endswith("/sse") else McpServerType.STREAMABLE_HTTP
        return None


class McpServerCreateIn(In):
    server_name: str = Field(pattern=SERVER_NAME_PATTERN)
    config: McpServerConfigIn


class McpServerUpdateIn(In):
    server_name: str | None = Field(None, pattern=SERVER_NAME_PATTERN)
    config: McpServerConfigIn | None = None


class McpServerOut(Schema):
    """A server as the 1.x SDK reads it; credentials masked (toolbox.mcp_servers.MASK)."""

    id: str
    server_name: str
    mcp_server_type: ServerType
    server_url: str | None = None
    auth_header: str | None = None
    auth_token: str | None = None
    custom_headers: dict[str, str] | None = None
    command: str | None = None
    args: list[str] | None = None
    env: dict[str, str] | None = None
    created_at: datetime
    updated_at: datetime


def server_out(server: McpServer) -> dict[str, Any]:
    shown = mcp_servers.credentials_shown(server)
    out: dict[str, Any] = {
        "id": server.id,
        "server_name": server.server_name,
        "mcp_server_type": server.server_type,
        "created_at": server.created_at,
        "updated_at": server.updated_at,
    }
    if server.server_type == McpServerType.STDIO:
        out.update(command=server.command, args=list(server.args or []), env=shown.get("env"))
    else:
        out.update(
            server_url=server.server_url,
            auth_header=shown.get("auth_header"),
            auth_token=shown.get("auth_token"),
            custom_headers=shown.get("custom_headers"),
        )
    return out


class ToolRunIn(In):
    args: dict[str, Any] = Field(default_factory=dict)


class ToolExecutionOut(Schema):
    status: Literal["success", "error"]
    func_return: str
    stdout: list[str]
    stderr: list[str]


class RefreshOut(Schema):
    updated: list[str]
    added: list[str]
    missing: list[str]
    skipped: list[dict[str, str]]


class ToolOut(Schema):
    """A Tool row as Letta's SDKs read it (both generations)."""

    id: str
    name: str
    description: str
    tool_type: str
    source_type: str
    source_code: str | None = None
    # Named apart from ninja's Schema.json_schema, which the wire name would shadow; the
    # routes answer by alias.
    function_schema: dict[str, Any] = Field(alias="json_schema")
    args_json_schema: dict[str, Any] | None = None
    tags: list[str]
    return_char_limit: int
    default_requires_approval: bool
    metadata_: dict[str, Any]
    created_by_id: str | None = None


def tool_out(tool: Tool) -> dict[str, Any]:
    return {
        "id": tool.id,
        "name": tool.name,
        "description": tool.description,
        "tool_type": tool.tool_type,
        "source_type": tool.source_type,
        "source_code": tool.source_code or None,
        "json_schema": tool.json_schema,
        "args_json_schema": tool.args_json_schema,
        "tags": list(tool.tags or []),
        "return_char_limit": tool.return_char_limit,
        "default_requires_approval": tool.default_requires_approval,
        "metadata_": dict(tool.metadata or {}),
        "created_by_id": str(tool.owner_id) if tool.owner_id else None,
    }


# --- The 0.1.x SDK --------------------------------------------------------------------


class LegacyServerIn(In):
    """`PUT /v1/tools/mcp/servers`: the 0.1.x SDK's Stdio/SSE/StreamableHttpServerConfig."""

    server_name: str = Field(pattern=SERVER_NAME_PATTERN)
    # The 0.1.x SDK leaves it out for a streamable HTTP server (its config's default).
    type: ServerType | None = None
    server_url: str | None = None
    auth_header: str | None = None
    auth_token: str | None = None
    custom_headers: dict[str, str | None] | None = None
    command: str | None = None
    args: list[str] | None = None
    env: dict[str, str | None] | None = None

    def config(self) -> McpServerConfigIn:
        fields = self.model_dump(exclude={"server_name", "type"})
        return McpServerConfigIn(mcp_server_type=self.type, **fields)


class LegacyServerOut(Schema):
    server_name: str
    type: ServerType
    server_url: str | None = None
    auth_header: str | None = None
    auth_token: str | None = None
    custom_headers: dict[str, str] | None = None
    command: str | None = None
    args: list[str] | None = None
    env: dict[str, str] | None = None


def legacy_server_out(server: McpServer) -> dict[str, Any]:
    out = server_out(server)
    out["type"] = out.pop("mcp_server_type")
    for key in ("id", "created_at", "updated_at"):
        out.pop(key)
    return out


class LegacyMcpToolOut(Schema):
    name: str
    description: str | None = None
    inputSchema: dict[str, Any]  # the wire name


def _texts(values: dict[str, str | None] | None) -> dict[str, str] | None:
    if values is None:
        return None
    return {name: "" if value is None else value for name, value in values.items()}
