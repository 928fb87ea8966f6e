"""The agents app's routers: agents (with messages, memory and insights), groups, runs,
tools."""

from __future__ import annotations

from agents.api.agents import router
from agents.api.blocks import block_agents_router
from agents.api.groups import groups_router
from agents.api.runs import runs_router
from agents.api.tools import tools_router

__all__ = ["block_agents_router", "groups_router", "router", "runs_router", "tools_router"]
