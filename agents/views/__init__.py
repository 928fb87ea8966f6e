"""The ADE's agent views: `pages` (list, create, delete, the agent page and its panels),
`agentfiles` (importing and exporting Agent Files), `conversations` (the chat's threads
and approvals), `memory` (its archival passages and context window), `runs` (one
background run), `review` (the queue of proposed edits), `ledger` (every background run
and how it ended), `spend` (the sleep-time panel's chart and budgets, and the
organization's spend page), `tools` (the tool pages, and the agent's tools panel) and
`mcp` (the MCP server pages);
`access` finds the agent a page is about."""

from __future__ import annotations

from agents.views.agentfiles import agent_export, agent_import
from agents.views.conversations import approval_answer, conversation_create
from agents.views.ledger import ledger
from agents.views.mcp import (
    mcp_server_delete,
    mcp_server_detail,
    mcp_server_list,
    mcp_server_refresh,
    mcp_server_tool_add,
)
from agents.views.memory import archival, context_window
from agents.views.pages import (
    agent_budget,
    agent_config,
    agent_create,
    agent_delete,
    agent_detail,
    agent_list,
    agent_pause,
    agent_send_message,
    agent_sleeptime,
    agent_sleeptime_run,
    insight_dismiss,
)
from agents.views.review import proposal_accept, proposal_reject, review
from agents.views.runs import run_detail, run_revert
from agents.views.spend import organization_spend
from agents.views.tools import (
    agent_tool_attach,
    agent_tool_detach,
    tool_create,
    tool_delete,
    tool_detail,
    tool_list,
)

__all__ = [
    "agent_budget",
    "agent_config",
    "agent_create",
    "agent_delete",
    "agent_detail",
    "agent_export",
    "agent_import",
    "agent_list",
    "agent_pause",
    "agent_send_message",
    "agent_sleeptime",
    "agent_sleeptime_run",
    "agent_tool_attach",
    "agent_tool_detach",
    "approval_answer",
    "archival",
    "context_window",
    "conversation_create",
    "insight_dismiss",
    "ledger",
    "mcp_server_delete",
    "mcp_server_detail",
    "mcp_server_list",
    "mcp_server_refresh",
    "mcp_server_tool_add",
    "organization_spend",
    "proposal_accept",
    "proposal_reject",
    "review",
    "run_detail",
    "run_revert",
    "tool_create",
    "tool_delete",
    "tool_detail",
    "tool_list",
]
