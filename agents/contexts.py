"""What the parts of an agent's pages show that their websocket (config/consumers.py)
renders again when they change: both render the same partials from these."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypedDict

from django.db.models import F, Q

from agents import services
from agents.forms import AgentConfigForm, embedding_suggestions, model_suggestions
from agents.models import Agent
from agents.tools import TOOLS
from memory import proposals
from memory.models import Proposal, ProposalStatus
from toolbox import services as toolbox_services
from toolbox.models import Tool, ToolType


def config_context(
    agent: Agent, form: AgentConfigForm | None = None, *, saved: bool = False
) -> dict[str, Any]:
    """What `_config.html` shows: the facts, or the form when one is given."""
    return {
        "agent": agent,
        "config_form": form,
        "config_saved": saved,
        "config_models": model_suggestions() if form is not None else [],
        "config_embeddings": embedding_suggestions() if form is not None else [],
    }


# --- Tools ---------------------------------------------------------------------------------


class ToolRow(TypedDict):
    id: str
    name: str
    tool_type: str
    description: str
    # The organization's custom tool, which has a page of its own (/tools/<id>/).
    editable: bool


def builtin_row(name: str) -> ToolRow:
    tool = TOOLS[name]
    return {
        "id": tool.id,
        "name": name,
        "tool_type": tool.tool_type,
        "description": tool.description,
        "editable": False,
    }


def stored_row(tool: Tool) -> ToolRow:
    return {
        "id": tool.id,
        "name": tool.name,
        "tool_type": tool.tool_type,
        "description": tool.description,
        "editable": tool.tool_type == ToolType.CUSTOM,
    }


def agent_tools_context(agent: Agent, user: Any, *, feedback: str = "") -> dict[str, Any]:
    """What `_agent_tools.html` shows: the agent's tools, and those it could be given:
    the built-ins it lacks, then the organization's (as `user` may see them)."""
    stored = {
        tool.name: tool
        for tool in toolbox_services.organization_tools(user).only(
            "id", "name", "tool_type", "description"
        )
    }
    # A name that is neither (its tool deleted meanwhile) offers nothing to show or detach.
    attached = [
        builtin_row(name) if name in TOOLS else stored_row(stored[name])
        for name in agent.tools
        if name in TOOLS or name in stored
    ]
    return {
        "agent": agent,
        "agent_tools": attached,
        "attachable_builtins": [builtin_row(name) for name in TOOLS if name not in agent.tools],
        "attachable_tools": [
            stored_row(tool) for name, tool in stored.items() if name not in agent.tools
        ],
        "tools_feedback": feedback,
    }


def agents_by_tool(user: Any, names: list[str]) -> dict[str, list[Agent]]:
    """The agents (as `user` may see them) that have each of the tools `names`, by name,
    in one query."""
    if not names:
        return {}
    any_of = Q()
    for name in names:
        any_of |= Q(tools__contains=[name])
    agents = services.list_agents(user, limit=None).filter(any_of).only("id", "name", "tools")
    having: dict[str, list[Agent]] = {name: [] for name in names}
    for agent in agents.order_by("name"):
        for name in agent.tools:
            if name in having:
                having[name].append(agent)
    return having


# Panels of the page that apps above this one show: the sources app adds its panel's
# context when it starts (sources/apps.py), as feature apps add their tools.
PAGE_PARTS: list[Callable[[Agent], dict[str, Any]]] = []


def register_page_part(part: Callable[[Agent], dict[str, Any]]) -> None:
    PAGE_PARTS.append(part)


def page_parts(agent: Agent) -> dict[str, Any]:
    """The context of every panel other apps contribute to `agent`'s page."""
    context: dict[str, Any] = {}
    for part in PAGE_PARTS:
        context.update(part(agent))
    return context


# --- The review queue ------------------------------------------------------------------------


class ReviewHunk(TypedDict):
    number: int  # 1-based, as the page names it ("Change 2")
    hunk: proposals.Hunk


class ReviewItem(TypedDict):
    proposal: Proposal
    status: str  # in words: "partially accepted"
    hunks: list[ReviewHunk]
    # The block changed since on the lines the proposal changes (or accepting it was
    # refused for that): the page shows the block as it is now beside it.
    conflicting: bool


OPEN_STATUSES = (ProposalStatus.PENDING, ProposalStatus.CONFLICT)
# The review page lists this many decided proposals, newest decision first.
DECIDED_SHOWN = 50


def status_text(proposal: Proposal) -> str:
    return str(proposal.status).replace("_", " ")


def _review_item(proposal: Proposal) -> ReviewItem:
    return {
        "proposal": proposal,
        "status": status_text(proposal),
        "hunks": [{"number": h["index"] + 1, "hunk": h} for h in proposals.hunks(proposal)],
        "conflicting": proposal.status == ProposalStatus.CONFLICT
        or proposals.conflicting(proposal, proposal.block),
    }


def review_context(agent: Agent, *, can_decide: bool) -> dict[str, Any]:
    """What `_review.html` shows: the agent's proposals that wait, oldest first, each
    with its hunks, and the latest decided ones. `can_decide`: the reader may accept and
    reject (the view and the websocket each decide it for their reader)."""
    mine = Proposal.objects.filter(agent_id=agent.id).select_related("block", "reviewed_by")
    waiting = mine.filter(status__in=OPEN_STATUSES).order_by("created_at", "id")
    # A withdrawn proposal (its run failed) was never reviewed: last, by when it went.
    decided = mine.exclude(status__in=OPEN_STATUSES).order_by(
        F("reviewed_at").desc(nulls_last=True), "-updated_at"
    )
    return {
        "agent": agent,
        "waiting": [_review_item(proposal) for proposal in waiting],
        "decided": [_review_item(proposal) for proposal in decided[:DECIDED_SHOWN]],
        "can_decide": can_decide,
    }


def review_link_context(agent: Agent, *, oob: bool = False) -> dict[str, Any]:
    """The agent page's link to its review queue, with the number of proposals waiting."""
    return {"agent": agent, "pending_count": proposals.pending_count(agent.id), "oob": oob}
