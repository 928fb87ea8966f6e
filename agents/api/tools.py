"""`/v1/tools`: the built-in tools agents can be given (Reverie has no custom tools)."""

from __future__ import annotations

from operator import itemgetter
from typing import Any, Literal

from ninja import Query, Router

from agents.schemas import tool_out
from agents.tools import TOOLS
from config.pagination import list_page
from config.requests import ApiRequest

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
    """The tools in the order they were registered (the built-ins first); cursors are tool
    ids. Filters as Letta's: a name, names, ids, a part of the name, tool types (each
    list repeated or comma-separated)."""
    tools = [tool_out(tool_name) for tool_name in TOOLS]
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


@tools_router.post("/add-base-tools", response=list[dict[str, Any]])
def add_base_tools(request: ApiRequest) -> list[dict[str, Any]]:
    """Letta's "upsert the base tools", answered with every built-in tool as
    `GET /v1/tools` shows it. Reverie's tools are built in, so there is nothing to add:
    Letta Code calls this at every start, and then creates its agent with tools that
    exist."""
    return [tool_out(tool_name) for tool_name in TOOLS]


def _split(values: list[str] | None) -> set[str]:
    return {part.strip() for value in values or [] for part in value.split(",") if part.strip()}
