"""The review queue of an agent: the edits its sleep-time agents proposed, hunk by hunk,
for a person to accept or reject (memory/proposals.py decides; these views ask).

A decision answers htmx with the queue as it now is and a line saying what happened,
which sits outside the queue: the websocket re-renders the queue when the proposal
changes (config/consumers.py), and must not wipe the answer away. A plain form post is
redirected back to the page, the line travelling as a message.
"""

from __future__ import annotations

import time
from typing import Literal

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from accounts.access import access_for
from agents.contexts import review_context
from agents.forms import DecisionForm
from agents.models import Agent
from agents.views.access import agent_or_404
from config.errors import Conflict, InvalidRequest, NotFound
from config.htmx import HtmxHttpRequest, wants_partial
from memory import proposals
from memory.models import Proposal

Decision = Literal["accept", "reject"]


def _can_decide(request: HttpRequest) -> bool:
    # Viewers read the queue; AccessMiddleware refuses their posts whatever the page shows.
    return access_for(request.user).can_edit


def _proposal_or_404(request: HttpRequest, agent: Agent, proposal_id: str) -> Proposal:
    try:
        proposal = proposals.get_proposal_for_user(request.user, proposal_id)
    except NotFound:
        raise Http404("Proposal not found") from None
    if proposal.agent_id != agent.id:  # another agent's: not on this page
        raise Http404("Proposal not found")
    return proposal


@login_required
@require_GET
def review(request: HttpRequest, agent_id: str) -> HttpResponse:
    agent = agent_or_404(request, agent_id)
    context = {
        **review_context(agent, can_decide=_can_decide(request)),
        # The page's moment, so its websocket sends the queue again only if it changed.
        "rendered_at": time.time(),
    }
    return render(request, "agents/review.html", context)


def _what(decision: Decision, hunk: int | None, proposal: Proposal) -> str:
    verb = "Accepted" if decision == "accept" else "Rejected"
    if hunk is None:
        return f"{verb} the changes to {proposal.label} that were waiting."
    return f"{verb} change {hunk + 1} to {proposal.label}."


def _decide(
    request: HtmxHttpRequest, agent_id: str, proposal_id: str, decision: Decision
) -> HttpResponse:
    agent = agent_or_404(request, agent_id)
    proposal = _proposal_or_404(request, agent, proposal_id)
    form = DecisionForm(request.POST)
    error = ""
    done = ""
    if not form.is_valid():
        error = "Choose a change to decide on, or all of them."
    else:
        hunk = form.cleaned_data["hunk"]
        indices = None if hunk is None else [hunk]
        decide = proposals.accept if decision == "accept" else proposals.reject
        try:
            decide(proposal.id, request.user, indices)
        except NotFound:
            raise Http404("Proposal not found") from None
        except (Conflict, InvalidRequest) as refused:
            # A conflict leaves the proposal marked as one; the queue shows it so, with
            # the block's text as it is now.
            error = refused.message
        else:
            done = _what(decision, hunk, proposal)
    if not wants_partial(request):
        if error:
            messages.error(request, error)
        else:
            messages.success(request, done)
        return redirect(reverse("agents:review", args=[agent.id]) + f"#proposal-{proposal.id}")
    context = {
        **review_context(agent, can_decide=_can_decide(request)),
        "feedback": error or done,
        "feedback_error": bool(error),
    }
    return render(request, "agents/partials/_review_answer.html", context)


@login_required
@require_POST
def proposal_accept(request: HtmxHttpRequest, agent_id: str, proposal_id: str) -> HttpResponse:
    """Accept one hunk (`hunk`, its index) or every hunk that waits; the block takes them."""
    return _decide(request, agent_id, proposal_id, "accept")


@login_required
@require_POST
def proposal_reject(request: HtmxHttpRequest, agent_id: str, proposal_id: str) -> HttpResponse:
    """Reject one hunk or every hunk that waits; the block is left as it is."""
    return _decide(request, agent_id, proposal_id, "reject")
