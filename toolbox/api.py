"""`/v1/mcp-servers` (the 1.x SDK's `mcp_servers`) and, for the 0.1.x SDK, the MCP routes
it has under `/v1/tools/mcp/servers` (`mcp_legacy_router`, mounted at `/tools`).

As in Letta 1.x, registering a server attaches its tools (Tool rows with ids), so the
server must answer at that moment; `refresh` reads them again. The 0.1.x routes register
without contacting the server and attach tools one by one, as that SDK does.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from ninja import Router

from config.requests import ApiRequest
from toolbox import mcp_servers as services
from toolbox.schemas import (
    LegacyMcpToolOut,
    LegacyServerIn,
    LegacyServerOut,
    McpServerCreateIn,
    McpServerOut,
    McpServerUpdateIn,
    RefreshOut,
    ToolExecutionOut,
    ToolOut,
    ToolRunIn,
    legacy_server_out,
    server_out,
    tool_out,
)

router = Router(tags=["mcp-servers"])
mcp_legacy_router = Router(tags=["tools"])


@router.post("", response=McpServerOut)
def create_mcp_server(request: ApiRequest, payload: McpServerCreateIn) -> dict[str, Any]:
    # Letta 1.x registers a server with its tools or not at all.
    server = services.register_mcp_server(
        request.auth, payload.server_name, payload.config.server_config(), add_tools=True
    )
    return server_out(server)


@router.get("", response=list[McpServerOut])
def list_mcp_servers(request: ApiRequest) -> list[dict[str, Any]]:
    return [server_out(server) for server in services.list_mcp_servers(request.auth)]


@router.get("/{mcp_server_id}", response=McpServerOut)
def retrieve_mcp_server(request: ApiRequest, mcp_server_id: str) -> dict[str, Any]:
    return server_out(services.get_mcp_server_for_user(request.auth, mcp_server_id))


@router.patch("/{mcp_server_id}", response=McpServerOut)
def update_mcp_server(
    request: ApiRequest, mcp_server_id: str, payload: McpServerUpdateIn
) -> dict[str, Any]:
    server = services.get_mcp_server_for_user(request.auth, mcp_server_id)
    config = payload.config.server_config() if payload.config else services.ServerConfig()
    return server_out(services.update_mcp_server(server, payload.server_name, config))


@router.delete("/{mcp_server_id}", response={204: None})
def delete_mcp_server(request: ApiRequest, mcp_server_id: str) -> tuple[int, None]:
    services.delete_mcp_server(services.get_mcp_server_for_user(request.auth, mcp_server_id))
    return 204, None


@router.patch("/{mcp_server_id}/refresh", response=RefreshOut)
def refresh_mcp_server(
    request: ApiRequest, mcp_server_id: str, agent_id: str | None = None
) -> dict[str, Any]:
    """Read the server's tools again: update the attached ones, attach new ones. Tools the
    server no longer offers are kept and listed as `missing`. `agent_id` is accepted for
    Letta's SDK and not used."""
    server = services.get_mcp_server_for_user(request.auth, mcp_server_id)
    return asdict(services.sync_mcp_tools(server, request.auth, add_new=True))


@router.get("/{mcp_server_id}/tools", response=list[ToolOut], by_alias=True)
def list_mcp_server_tools(request: ApiRequest, mcp_server_id: str) -> list[dict[str, Any]]:
    server = services.get_mcp_server_for_user(request.auth, mcp_server_id)
    return [tool_out(tool) for tool in server.tools.all()]


@router.get("/{mcp_server_id}/tools/{tool_id}", response=ToolOut, by_alias=True)
def retrieve_mcp_server_tool(
    request: ApiRequest, mcp_server_id: str, tool_id: str
) -> dict[str, Any]:
    server = services.get_mcp_server_for_user(request.auth, mcp_server_id)
    return tool_out(services.get_server_tool(server, tool_id))


@router.post("/{mcp_server_id}/tools/{tool_id}/run", response=ToolExecutionOut)
def run_mcp_server_tool(
    request: ApiRequest, mcp_server_id: str, tool_id: str, payload: ToolRunIn
) -> dict[str, Any]:
    """Call the tool now. A failure (the server down, slow, or the tool's own error) is an
    answer with status "error" and the reason in `func_return`, not an HTTP error."""
    server = services.get_mcp_server_for_user(request.auth, mcp_server_id)
    tool = services.get_server_tool(server, tool_id)
    ok, text = services.call_server_tool(server, tool.name, payload.args)
    return {
        "status": "success" if ok else "error",
        "func_return": text,
        "stdout": [],
        "stderr": [] if ok else [text],
    }


# --- The 0.1.x SDK: /v1/tools/mcp/servers -----------------------------------------------


def _legacy_all(request: ApiRequest) -> list[dict[str, Any]]:
    return [legacy_server_out(server) for server in services.list_mcp_servers(request.auth)]


@mcp_legacy_router.get("/mcp/servers", response=dict[str, LegacyServerOut])
def legacy_list_mcp_servers(request: ApiRequest) -> dict[str, dict[str, Any]]:
    return {server["server_name"]: server for server in _legacy_all(request)}


@mcp_legacy_router.put("/mcp/servers", response=list[LegacyServerOut])
def legacy_add_mcp_server(request: ApiRequest, payload: LegacyServerIn) -> list[dict[str, Any]]:
    services.create_mcp_server(request.auth, payload.server_name, payload.config().server_config())
    return _legacy_all(request)


@mcp_legacy_router.get("/mcp/servers/{mcp_server_name}/tools", response=list[LegacyMcpToolOut])
def legacy_list_mcp_tools(request: ApiRequest, mcp_server_name: str) -> list[dict[str, Any]]:
    """The tools the server offers now (it is asked)."""
    server = services.get_mcp_server_by_name(request.auth, mcp_server_name)
    return [
        {"name": spec.name, "description": spec.description, "inputSchema": spec.input_schema}
        for spec in services.list_server_tools(server)
    ]


@mcp_legacy_router.post(
    "/mcp/servers/{mcp_server_name}/{mcp_tool_name}", response=ToolOut, by_alias=True
)
def legacy_add_mcp_tool(
    request: ApiRequest, mcp_server_name: str, mcp_tool_name: str
) -> dict[str, Any]:
    server = services.get_mcp_server_by_name(request.auth, mcp_server_name)
    return tool_out(services.attach_mcp_tool(server, mcp_tool_name, request.auth))


@mcp_legacy_router.delete("/mcp/servers/{mcp_server_name}", response=list[LegacyServerOut])
def legacy_delete_mcp_server(request: ApiRequest, mcp_server_name: str) -> list[dict[str, Any]]:
    services.delete_mcp_server(services.get_mcp_server_by_name(request.auth, mcp_server_name))
    return _legacy_all(request)
