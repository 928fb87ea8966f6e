"""`/v1/blocks/{block_id}/agents`: the agents that share a block (the blocks themselves
are the memory app's, memory/api.py)."""

from __future__ import annotations

from typing import Literal

from ninja import Query, Router

from agents.models import Agent
from agents.schemas import AgentStateOut, agent_states
from config.pagination import cursor_page
from config.requests import ApiRequest
from memory import services as memory_services

block_agents_router = Router(tags=["blocks"])


@block_agents_router.get("/{block_id}/agents", response=list[AgentStateOut])
def block_agents(
    request: ApiRequest,
    block_id: str,
    after: str | None = None,
    before: str | None = None,
    limit: int = Query(50, ge=1, le=1000),
    order: Literal["asc", "desc"] = "asc",
) -> list[Agent]:
    block = memory_services.get_block_for_user(request.auth, block_id)
    agents = Agent.objects.filter(block_links__block=block)
    page = cursor_page(agents, after=after, before=before, limit=limit, ascending=order == "asc")
    return agent_states(page)
