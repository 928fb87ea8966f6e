"""The ADE's forgetting page: what was forgotten from an agent, and a form to forget more.

Each view parses input, calls one service and renders; for an htmx request it returns
the partial that the page itself includes.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from agents import services as agent_services
from agents.models import Agent
from agents.views.access import agent_or_404
from config.errors import InvalidRequest, NotFound
from config.htmx import vary_on_htmx, wants_partial
from forgetting import services
from forgetting.forms import ForgetForm, ForgetToolForm
from forgetting.models import ForgetJob

FORGET_PARTIAL = "forgetting/partials/_forget.html"
LOG_PARTIAL = "forgetting/partials/_log.html"
# The page lists this many of each; older records stay readable through the API.
LOG_LIMIT = 50


def _context(agent: Agent, form: ForgetForm, **extra: Any) -> dict[str, Any]:
    jobs = list(services.list_jobs(agent)[:LOG_LIMIT])
    return {
        "agent": agent,
        "form": form,
        "jobs": jobs,
        # While a job works, the log refreshes itself until it ends.
        "polling": any(job.is_active for job in jobs),
        "tombstones": list(services.list_tombstones(agent)[:LOG_LIMIT]),
        "tool_enabled": services.FORGET_REQUEST_TOOL in agent.tools,
        **extra,
    }


@login_required
@require_http_methods(["GET", "POST"])
def forget_page(request: HttpRequest, agent_id: str) -> HttpResponse:
    agent = agent_or_404(request, agent_id)
    form = ForgetForm(request.POST or None)
    done = None
    if request.method == "POST" and form.is_valid():
        try:
            done = services.forget(agent, form.to_spec(), who=services.who_for_user(request.user))
        except (InvalidRequest, NotFound) as error:
            form.add_error(None, error.message)
        else:
            if not wants_partial(request):
                what = "queued" if isinstance(done, ForgetJob) else "done"
                messages.success(request, f"Forgetting {what}.")
                return redirect("forgetting:page", agent_id=agent.id)
            form = ForgetForm()
    status = 400 if form.errors else 200
    if wants_partial(request):
        template = LOG_PARTIAL if request.method == "GET" else FORGET_PARTIAL
        extra = {"done": done is not None, "queued": isinstance(done, ForgetJob)}
        response = render(request, template, _context(agent, form, **extra), status=status)
    else:
        response = render(request, "forgetting/page.html", _context(agent, form), status=status)
    # One URL answers with a fragment or a page; caches must keep them apart.
    vary_on_htmx(response)
    return response


@login_required
@require_POST
def forget_tool(request: HttpRequest, agent_id: str) -> HttpResponse:
    """Give the agent the `forget` tool, or take it away."""
    agent = agent_or_404(request, agent_id)
    form = ForgetToolForm(request.POST)
    enabled = form.is_valid() and form.cleaned_data["enabled"]
    tools = [name for name in agent.tools if name != services.FORGET_REQUEST_TOOL]
    if enabled:
        tools.append(services.FORGET_REQUEST_TOOL)
    agent_services.update_agent(agent, {"tools": tools}, user=request.user)
    state = "can now" if enabled else "can no longer"
    messages.success(request, f"{agent.name} {state} be asked to forget.")
    return redirect("forgetting:page", agent_id=agent.id)
