"""`/v1/tools`: the built-in tools, and the organization's own: custom Python tools (run
in the sandbox, toolbox/sandbox.py) and the tools of its MCP servers."""

from __future__ import annotations

from operator import itemgetter
from typing import Any, Literal

from ninja import Query, Router

from agents import services
from agents.schemas import ToolCreateIn, ToolUpdateIn, stored_tool_out, tool_out
from agents.tools import TOOLS
from config.errors import NotFound
from config.pagination import list_page
from config.requests import ApiRequest
from memory.schemas import MessageOut
from toolbox import services as toolbox_services

tools_router = Router(tags=["tools"])


@tools_router.get("", response=list[dict[str, Any]])
def list_tools(
    request: ApiRequest,
    name: str | None = None,
    names: list[str] = Query(None),
    tool_ids: list[str] = Query(None),
    search: str | None = None,
    tool_types: list[str] = Query(None),
    exclude_tool_types: list[str] = Query(None),
    return_only_letta_tools: bool = False,
    after: str | None = None,
    before: str | None = None,
    limit: int = Query(50, ge=1, le=1000),
    order: Literal["asc", "desc"] = "asc",
) -> list[dict[str, Any]]:
    """The built-in tools, then the organization's in the order they were made; cursors
    are tool ids. Filters as Letta's: a name, names, ids, a part of the name, tool types
    (each list repeated or comma-separated)."""
    tools = [tool_out(tool_name) for tool_name in TOOLS]
    tools += [stored_tool_out(tool) for tool in toolbox_services.organization_tools(request.auth)]
    wanted_names = _split(names) | ({name} if name else set())
    if wanted_names:
        tools = [tool for tool in tools if tool["name"] in wanted_names]
    if tool_ids:
        tools = [tool for tool in tools if tool["id"] in _split(tool_ids)]
    if search:
        tools = [tool for tool in tools if search.lower() in tool["name"].lower()]
    if tool_types:
        tools = [tool for tool in tools if tool["tool_type"] in _split(tool_types)]
    if exclude_tool_types:
        tools = [tool for tool in tools if tool["tool_type"] not in _split(exclude_tool_types)]
    if return_only_letta_tools:
        tools = [tool for tool in tools if tool["tool_type"].startswith("letta_")]
    return list_page(
        tools, itemgetter("id"), after=after, before=before, limit=limit, ascending=order == "asc"
    )


@tools_router.post("", response=dict[str, Any])
def create_tool(request: ApiRequest, payload: ToolCreateIn) -> dict[str, Any]:
    """A custom tool from Python source. Its name is its function's; the schema the model
    sees is derived from the signature and docstring unless `json_schema` is given. 409
    if the organization has a tool of that name, or it is a built-in's."""
    tool = toolbox_services.create_tool(request.auth, _spec(payload), reserved=TOOLS)
    return stored_tool_out(tool)


@tools_router.put("", response=dict[str, Any])
def upsert_tool(request: ApiRequest, payload: ToolCreateIn) -> dict[str, Any]:
    """Create the custom tool, or replace the one of the same name (its function's)."""
    tool = toolbox_services.upsert_tool(request.auth, _spec(payload), reserved=TOOLS)
    return stored_tool_out(tool)


@tools_router.post("/add-base-tools", response=list[dict[str, Any]])
def add_base_tools(request: ApiRequest) -> list[dict[str, Any]]:
    """Letta's "upsert the base tools", answered with every built-in tool as
    `GET /v1/tools` shows it. Reverie's tools are built in, so there is nothing to add:
    Letta Code calls this at every start, and then creates its agent with tools that
    exist."""
    return [tool_out(tool_name) for tool_name in TOOLS]


@tools_router.get("/{tool_id}", response=dict[str, Any])
def retrieve_tool(request: ApiRequest, tool_id: str) -> dict[str, Any]:
    for built_in in TOOLS.values():
        if built_in.id == tool_id:
            return tool_out(built_in.name)
    return stored_tool_out(toolbox_services.get_tool(request.auth, tool_id))


@tools_router.patch("/{tool_id}", response=dict[str, Any])
def update_tool(request: ApiRequest, tool_id: str, payload: ToolUpdateIn) -> dict[str, Any]:
    """Change a custom tool; agents that have it keep it under its new name if its
    function was renamed. Built-in tools cannot be changed (404: not the
    organization's)."""
    tool = toolbox_services.get_tool(request.auth, tool_id)
    if payload.metadata_ is not None:
        tool.metadata = payload.metadata_
    return stored_tool_out(services.update_custom_tool(tool, _spec(payload)))


@tools_router.delete("/{tool_id}", response=MessageOut)
def delete_tool(request: ApiRequest, tool_id: str) -> dict[str, str]:
    """Delete the organization's tool; its agents lose it, with the rules naming it."""
    if any(built_in.id == tool_id for built_in in TOOLS.values()):
        raise NotFound(f"Tool {tool_id} is built in and cannot be deleted.")
    toolbox_services.delete_tool(toolbox_services.get_tool(request.auth, tool_id))
    return {"message": f"Tool id={tool_id} successfully deleted"}


def _spec(payload: ToolCreateIn | ToolUpdateIn) -> toolbox_services.ToolSpec:
    return toolbox_services.ToolSpec(
        source_code=payload.source_code,
        description=payload.description,
        tags=payload.tags,
        json_schema=payload.function_schema,
        args_json_schema=payload.args_json_schema,
        return_char_limit=payload.return_char_limit,
        pip_requirements=(
            [item.model_dump(exclude_none=True) for item in payload.pip_requirements]
            if payload.pip_requirements is not None
            else None
        ),
        environment=payload.environment,
        default_requires_approval=payload.default_requires_approval,
        source_type=payload.source_type,
    )


def _split(values: list[str] | None) -> set[str]:
    return {part.strip() for value in values or [] for part in value.split(",") if part.strip()}
