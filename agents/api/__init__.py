"""The agents app's routers: agents (with messages, memory and insights), Agent Files,
conversations, groups, messages, runs, tools, and the governance of background work
(ledger, spend, budgets)."""

from __future__ import annotations

from agents.api.agentfiles import router as agentfiles_router
from agents.api.agents import router
from agents.api.blocks import block_agents_router
from agents.api.conversations import conversations_router
from agents.api.governance import agent_governance_router, organization_router, spend_router
from agents.api.groups import groups_router
from agents.api.messages import messages_router
from agents.api.runs import runs_router
from agents.api.tools import tools_router

__all__ = [
    "agent_governance_router",
    "agentfiles_router",
    "block_agents_router",
    "conversations_router",
    "groups_router",
    "messages_router",
    "organization_router",
    "router",
    "runs_router",
    "spend_router",
    "tools_router",
]
