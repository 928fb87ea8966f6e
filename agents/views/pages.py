"""The ADE's agent pages: list, create, delete, and the agent's own page with its chat,
configuration and sleep-time controls.

Each view parses input, calls one service and renders; for an htmx request it returns
the partial that the page itself includes.
"""

from __future__ import annotations

import time
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db import transaction
from django.db.models import Count, Exists, OuterRef
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.http import reswap, retarget

from agents import chat, governor, services, sleeptime
from agents.contexts import (
    agent_tools_context,
    config_context,
    page_parts,
    review_link_context,
)
from agents.forms import (
    AgentConfigForm,
    AgentCreateForm,
    AgentFileImportForm,
    BudgetForm,
    MessageForm,
    SleeptimeForm,
    embedding_suggestions,
    model_suggestions,
)
from agents.loop import InputMessage
from agents.models import ACTIVE_RUN_STATUSES, Agent, AgentType, Conversation, Group, Message, Run
from agents.views.access import agent_or_404
from agents.views.conversations import chat_url, conversation_list, conversation_or_404
from agents.views.spend import spend_context
from config.env import configured_providers
from config.errors import InvalidRequest, NotFound
from config.htmx import HtmxHttpRequest, vary_on_htmx, wants_partial
from memory import services as memory_services
from toolbox import services as toolbox_services

# The list is not paginated yet; past this many rows the search narrows it down.
LIST_LIMIT = 200


# --- List ----------------------------------------------------------------------------------


@login_required
@require_GET
def agent_list(request: HtmxHttpRequest) -> HttpResponse:
    query = request.GET.get("q", "").strip()
    context = list_context(request, query)
    template = "agents/partials/_agent_rows.html" if wants_partial(request) else "agents/list.html"
    response = render(request, template, context)
    # One URL answers with a fragment or a page; caches must keep them apart.
    vary_on_htmx(response)
    return response


def list_context(request: HttpRequest, query: str = "") -> dict[str, Any]:
    """The agent list page's rows (and its import form, empty)."""
    agents = (
        services.list_agents(request.user, query_text=query or None, limit=None, ascending=False)
        # Sleep-time agents are listed on their primary's page, not beside it.
        .exclude(agent_type=AgentType.SLEEPTIME)
        # The system prompt and summary are long and the list never shows them.
        .only("id", "name", "llm_handle", "enable_sleeptime", "created_at")
        # Counted in the same query, so the page costs the same for 1 agent or 200.
        .annotate(
            block_count=Count("block_links", distinct=True),
            has_group=Exists(Group.objects.filter(manager_agent=OuterRef("pk"))),
        )
    )
    rows = list(agents[: LIST_LIMIT + 1])
    return {
        "agents": rows[:LIST_LIMIT],
        "truncated": len(rows) > LIST_LIMIT,
        "query": query,
        "import_form": AgentFileImportForm(),
    }


# --- Create and delete ---------------------------------------------------------------------


@login_required
@require_http_methods(["GET", "POST"])
def agent_create(request: HttpRequest) -> HttpResponse:
    form = AgentCreateForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            agent = services.create_agent(request.user, form.to_spec())
        except InvalidRequest as error:
            form.add_error(None, error.message)
        else:
            messages.success(request, f"Created agent {agent.name}.")
            return redirect("agents:detail", agent_id=agent.id)
    providers = configured_providers()
    context = {
        "form": form,
        "providers": providers,
        "model_suggestions": model_suggestions(providers),
        "embedding_suggestions": embedding_suggestions(providers),
    }
    return render(request, "agents/create.html", context, status=400 if form.errors else 200)


@login_required
@require_http_methods(["GET", "POST"])
def agent_delete(request: HttpRequest, agent_id: str) -> HttpResponse:
    agent = agent_or_404(request, agent_id)
    if request.method == "POST":
        name = agent.name
        services.delete_agent(agent)
        messages.success(request, f"Deleted agent {name}.")
        return redirect("agents:list")
    group = sleeptime.group_of(agent)
    context = {
        "agent": agent,
        "sleepers": sleeptime.sleeptime_agents(group) if group is not None else [],
    }
    return render(request, "agents/delete.html", context)


# --- The agent's page ----------------------------------------------------------------------


def _sleeptime_initial(agent: Agent, group: Group | None, sleepers: list[Agent]) -> dict[str, Any]:
    """The current settings; without a group yet, those a new pair starts with."""
    idle_default = Group._meta.get_field("sleeptime_idle_seconds").get_default()
    return {
        "enabled": bool(agent.enable_sleeptime),
        "frequency": group.sleeptime_agent_frequency if group else sleeptime.DEFAULT_FREQUENCY,
        "idle_seconds": group.sleeptime_idle_seconds if group else idle_default,
        "model": sleepers[0].llm_handle if sleepers else agent.llm_handle,
        "tail_turns": agent.context_tail_turns,
    }


def _budget_form(group: Group | None) -> BudgetForm:
    initial = (
        {
            "daily_token_budget": group.daily_token_budget,
            "monthly_token_budget": group.monthly_token_budget,
        }
        if group is not None
        else {}
    )
    return BudgetForm(initial=initial, auto_id="budget-%s")


def _sleeptime_context(
    agent: Agent,
    form: SleeptimeForm | None = None,
    *,
    queued: list[Run] | None = None,
    saved: bool = False,
    error: str = "",
    budget_form: BudgetForm | None = None,
    feedback: str = "",
) -> dict[str, Any]:
    """What `_sleeptime.html` shows: the pair, its settings form, the latest runs, and
    what background work spends, may spend, and whether it is paused or backing off."""
    group = sleeptime.group_of(agent)
    sleepers = sleeptime.sleeptime_agents(group) if group is not None else []
    primary_group = (
        Group.objects.filter(participants=agent).select_related("manager_agent").first()
        if agent.agent_type == AgentType.SLEEPTIME
        else None
    )
    primary = primary_group.manager_agent if primary_group is not None else None
    return {
        "agent": agent,
        "group": group,
        "sleepers": sleepers,
        "primary": primary,
        "sleeptime_form": form or SleeptimeForm(initial=_sleeptime_initial(agent, group, sleepers)),
        "sleeptime_models": model_suggestions(),
        # A sleep-time agent's runs (and their spend) are shown on its primary's page.
        "runs": chat.recent_runs(agent) if agent.agent_type != AgentType.SLEEPTIME else [],
        **(spend_context(agent, group) if agent.agent_type != AgentType.SLEEPTIME else {}),
        "budget_form": budget_form or _budget_form(group),
        "queued": queued or [],
        "saved": saved,
        "sleeptime_feedback": feedback,
        "sleeptime_error": error,
    }


def _detail_context(
    agent: Agent,
    user: Any,
    form: MessageForm,
    sleeptime_form: SleeptimeForm | None = None,
    config_form: AgentConfigForm | None = None,
    conversation: Conversation | None = None,
) -> dict[str, Any]:
    return {
        **_sleeptime_context(agent, sleeptime_form),
        **config_context(agent, config_form),
        **agent_tools_context(agent, user),
        "blocks": memory_services.agent_blocks(agent),
        "items": chat.chat_log(agent, conversation),
        "conversation": conversation,
        "conversations": conversation_list(agent),
        "form": form,
        "active_runs": list(
            Run.objects.background()
            .filter(primary_agent=agent, status__in=ACTIVE_RUN_STATUSES)
            .order_by("created_at")
        ),
        "insights": list(services.list_insights(agent)[:20]),
        **review_link_context(agent),
        **page_parts(agent),
    }


@login_required
@require_GET
def agent_detail(request: HttpRequest, agent_id: str) -> HttpResponse:
    agent = agent_or_404(request, agent_id)
    conversation = conversation_or_404(agent, request.GET.get("conversation"))
    context = _detail_context(agent, request.user, MessageForm(), conversation=conversation)
    # The page's state, so its websocket need not send it all again (config/consumers.py).
    context["rendered_at"] = time.time()
    context["blocks_fingerprint"] = memory_services.blocks_fingerprint(context["blocks"])
    return render(request, "agents/detail.html", context)


@login_required
@require_POST
def agent_send_message(request: HtmxHttpRequest, agent_id: str) -> HttpResponse:
    """Run one turn synchronously. htmx gets the new messages (and a fresh form, out of
    band); a plain form post is redirected back to the page."""
    agent = agent_or_404(request, agent_id)
    conversation = conversation_or_404(agent, request.POST.get("conversation"))
    form = MessageForm(request.POST)
    if form.is_valid():
        try:
            # The reply shows in the chat as the model writes it, through the page's socket.
            result = services.send_message(
                agent,
                [InputMessage(role="user", content=form.cleaned_data["text"])],
                conversation=conversation,
                owner_id=request.user.pk,
                stream_tokens=True,
            )
        except InvalidRequest as error:
            form.add_error(None, error.message)
        else:
            turn_error = result.error if result.stop_reason == "error" else None
            if not wants_partial(request):
                if turn_error:
                    messages.error(request, f"The turn ended with an error: {turn_error}")
                return redirect(chat_url(agent, conversation))
            # The turn's run wrote exactly its messages, the question included.
            new = list(Message.objects.filter(run_id=result.run_id).order_by("seq"))
            context = {
                "agent": agent,
                "conversation": conversation,
                "items": chat.chat_items(new, agent.tools),
                "turn_error": turn_error,
                "form": MessageForm(),
            }
            return render(request, "agents/partials/_message_sent.html", context)
    if wants_partial(request):
        # The form with its error replaces itself; the chat log stays as it is.
        context = {"agent": agent, "form": form, "conversation": conversation}
        response = render(request, "agents/partials/_message_form.html", context)
        return reswap(retarget(response, "#message-form"), "outerHTML")
    context = _detail_context(agent, request.user, form, conversation=conversation)
    return render(request, "agents/detail.html", context, status=400)


# --- Configuration -------------------------------------------------------------------------

CONFIG_PARTIAL = "agents/partials/_config.html"
AGENT_TOOLS_PARTIAL = "agents/partials/_agent_tools.html"


@login_required
@require_http_methods(["GET", "POST"])
def agent_config(request: HtmxHttpRequest, agent_id: str) -> HttpResponse:
    """GET shows the settings form; POST saves the fields that changed, all or nothing
    (`update_agent` is one transaction), and shows the facts again."""
    agent = agent_or_404(request, agent_id)
    form = AgentConfigForm.for_agent(
        agent,
        request.POST if request.method == "POST" else None,
        organization_tools=list(
            toolbox_services.organization_tools(request.user).values_list("name", flat=True)
        ),
    )
    if request.method == "POST" and form.is_valid():
        changes = form.changes(agent)
        try:
            updated = services.update_agent(agent, changes, user=request.user) if changes else agent
        except InvalidRequest as error:
            form.add_error(None, error.message)
        else:
            if not wants_partial(request):
                messages.success(request, "Saved the configuration.")
                return redirect(reverse("agents:detail", args=[agent.id]) + "#config")
            # The tools panel beside the form shows the tools too: it follows, out of band.
            context = {**agent_tools_context(updated, request.user), "oob": True}
            return HttpResponse(
                render_to_string(CONFIG_PARTIAL, config_context(updated, saved=True), request)
                + render_to_string(AGENT_TOOLS_PARTIAL, context, request)
            )
    if wants_partial(request):
        # 200 even with errors, as htmx swaps only 2xx answers.
        response = render(request, CONFIG_PARTIAL, config_context(agent, form))
    else:
        status = 400 if form.errors else 200
        context = _detail_context(agent, request.user, MessageForm(), config_form=form)
        response = render(request, "agents/detail.html", context, status=status)
    # One URL answers with a fragment or a page; caches must keep them apart.
    vary_on_htmx(response)
    return response


# --- Sleep-time controls and insights ------------------------------------------------------

SLEEPTIME_PARTIAL = "agents/partials/_sleeptime.html"


def _sleeptime_redirect(agent: Agent) -> HttpResponse:
    return redirect(reverse("agents:detail", args=[agent.id]) + "#sleeptime")


def _configure_sleeptime(agent: Agent, data: dict[str, Any], user: Any) -> Agent:
    """Switch sleep-time and apply its settings, all or nothing."""
    if agent.agent_type == AgentType.SLEEPTIME:
        raise InvalidRequest("A sleep-time agent has no sleep-time agent of its own.")
    # configure() checks before it writes, but switching on for the first time creates the
    # pair before configure() runs; the transaction takes the pair back if it refuses.
    with transaction.atomic():
        changes = {"enable_sleeptime": data["enabled"], "context_tail_turns": data["tail_turns"]}
        updated = services.update_agent(agent, changes, user=user)
        group = sleeptime.group_of(updated)
        if group is not None:
            sleeptime.configure(
                group,
                frequency=data["frequency"],
                idle_seconds=data["idle_seconds"],
                model=data["model"].strip() or None,
            )
    return updated


@login_required
@require_POST
def agent_sleeptime(request: HtmxHttpRequest, agent_id: str) -> HttpResponse:
    agent = agent_or_404(request, agent_id)
    form = SleeptimeForm(request.POST)
    if form.is_valid():
        try:
            updated = _configure_sleeptime(agent, form.cleaned_data, request.user)
        except InvalidRequest as error:
            form.add_error(None, error.message)
        else:
            if not wants_partial(request):
                messages.success(request, "Saved the sleep-time settings.")
                return _sleeptime_redirect(agent)
            return render(request, SLEEPTIME_PARTIAL, _sleeptime_context(updated, saved=True))
    if wants_partial(request):
        # 200, as htmx swaps only 2xx answers: the section shows the form with its errors.
        return render(request, SLEEPTIME_PARTIAL, _sleeptime_context(agent, form))
    return render(
        request,
        "agents/detail.html",
        _detail_context(agent, request.user, MessageForm(), form),
        status=400,
    )


@login_required
@require_POST
def agent_sleeptime_run(request: HtmxHttpRequest, agent_id: str) -> HttpResponse:
    """Consolidate now: queue a run of each sleep-time agent (or join the queued one)."""
    agent = agent_or_404(request, agent_id)
    group = sleeptime.group_of(agent)
    if group is None:
        error = "This agent has no sleep-time agent; turn sleep-time on first."
        if wants_partial(request):
            return render(request, SLEEPTIME_PARTIAL, _sleeptime_context(agent, error=error))
        messages.error(request, error)
        return _sleeptime_redirect(agent)
    queued = sleeptime.run_now(group)
    if wants_partial(request):
        return render(request, SLEEPTIME_PARTIAL, _sleeptime_context(agent, queued=queued))
    ids = ", ".join(run.id for run in queued)
    messages.success(request, f"Consolidation queued ({ids}).")
    return _sleeptime_redirect(agent)


def _group_or_answer(request: HtmxHttpRequest, agent: Agent) -> Group | HttpResponse:
    """The agent's sleep-time group, or the answer saying it has none."""
    group = sleeptime.group_of(agent)
    if group is not None:
        return group
    error = "This agent has no sleep-time agent; turn sleep-time on first."
    if wants_partial(request):
        return render(request, SLEEPTIME_PARTIAL, _sleeptime_context(agent, error=error))
    messages.error(request, error)
    return _sleeptime_redirect(agent)


@login_required
@require_POST
def agent_budget(request: HtmxHttpRequest, agent_id: str) -> HttpResponse:
    """Set the agent's token budgets for background work; blank fields remove a limit."""
    agent = agent_or_404(request, agent_id)
    group = _group_or_answer(request, agent)
    if isinstance(group, HttpResponse):
        return group
    form = BudgetForm(request.POST, auto_id="budget-%s")
    if form.is_valid():
        data = form.cleaned_data
        governor.set_group_budgets(
            group,
            {
                "daily_token_budget": data["daily_token_budget"],
                "monthly_token_budget": data["monthly_token_budget"],
            },
        )
        if not wants_partial(request):
            messages.success(request, "Saved the token budgets.")
            return _sleeptime_redirect(agent)
        context = _sleeptime_context(agent, feedback="Saved the token budgets.")
        return render(request, SLEEPTIME_PARTIAL, context)
    if wants_partial(request):
        # 200, as htmx swaps only 2xx answers: the section shows the form with its errors.
        return render(request, SLEEPTIME_PARTIAL, _sleeptime_context(agent, budget_form=form))
    context = {**_detail_context(agent, request.user, MessageForm()), "budget_form": form}
    return render(request, "agents/detail.html", context, status=400)


@login_required
@require_POST
def agent_pause(request: HtmxHttpRequest, agent_id: str) -> HttpResponse:
    """Pause (`paused=1`) or resume (`paused=0`) the agent's background runs."""
    agent = agent_or_404(request, agent_id)
    group = _group_or_answer(request, agent)
    if isinstance(group, HttpResponse):
        return group
    paused = request.POST.get("paused") == "1"
    sleeptime.set_paused(group, paused)
    done = (
        "Paused: triggers are recorded as skipped until you resume."
        if paused
        else "Resumed: the next trigger starts a run."
    )
    if wants_partial(request):
        return render(request, SLEEPTIME_PARTIAL, _sleeptime_context(agent, feedback=done))
    messages.success(request, done)
    return _sleeptime_redirect(agent)


@login_required
@require_POST
def insight_dismiss(request: HtmxHttpRequest, agent_id: str, insight_id: str) -> HttpResponse:
    agent = agent_or_404(request, agent_id)
    try:
        services.dismiss_insight(agent, insight_id)
    except NotFound:
        raise Http404("Insight not found") from None
    if wants_partial(request):
        # The card is the target and swaps its outerHTML with nothing: it goes away.
        return HttpResponse("")
    messages.success(request, "Dismissed the insight.")
    return redirect(reverse("agents:detail", args=[agent.id]) + "#insights")
