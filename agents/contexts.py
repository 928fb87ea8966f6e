"""What the parts of an agent's pages show that their websocket (config/consumers.py)
renders again when they change: both render the same partials from these."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypedDict

from django.db.models import F

from agents.forms import AgentConfigForm, embedding_suggestions, model_suggestions
from agents.models import Agent
from agents.tools import TOOLS
from memory import proposals
from memory.models import Proposal, ProposalStatus


def config_context(
    agent: Agent, form: AgentConfigForm | None = None, *, saved: bool = False
) -> dict[str, Any]:
    """What `_config.html` shows: the facts, or the form when one is given."""
    return {
        "agent": agent,
        "tools": [(name, TOOLS[name].description if name in TOOLS else "") for name in agent.tools],
        "config_form": form,
        "config_saved": saved,
        "config_models": model_suggestions() if form is not None else [],
        "config_embeddings": embedding_suggestions() if form is not None else [],
    }


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
