"""The ADE's evaluation pages: the organization's evaluations with the form that starts
one, and an evaluation's page, which follows it live while it runs and shows its report.

Each view parses input, calls one service and renders; for an htmx request it returns
the partial that the page itself includes. Viewers read everything here; AccessMiddleware
refuses their posts, and the pages do not offer them the forms.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts.access import access_for
from agents import services as agent_services
from agents.forms import model_suggestions
from agents.models import AgentType
from config.errors import Conflict, InvalidRequest, NotFound
from config.htmx import vary_on_htmx, wants_partial
from evaluation import contexts, report, services
from evaluation.forms import EvaluationForm
from evaluation.models import Evaluation

# htmx stops polling on this status, and swaps its content in.
HTMX_STOP_POLLING = 286
# The form's select lists this many of the organization's agents, newest first.
AGENT_CHOICES = 500


def _evaluation_or_404(request: HttpRequest, evaluation_id: str) -> Evaluation:
    try:
        return services.get_evaluation_for_user(request.user, evaluation_id)
    except NotFound:
        raise Http404("Evaluation not found") from None


def _agent_choices(request: HttpRequest) -> list[tuple[str, str]]:
    """The agents a person would evaluate: not sleep-time agents (their primary is the
    one to copy), not copies an earlier evaluation kept."""
    agents = (
        agent_services.list_agents(request.user, limit=None, ascending=False)
        .exclude(agent_type=AgentType.SLEEPTIME)
        .filter(evaluation_id="")
        .values_list("id", "name")
    )
    return list(agents[:AGENT_CHOICES])


@login_required
@require_http_methods(["GET", "POST"])
def evaluation_list(request: HttpRequest) -> HttpResponse:
    """GET `?agent=<id>` starts the form on that agent; POST starts an evaluation."""
    if wants_partial(request) and request.method == "GET":
        response = render(
            request, "evaluation/partials/_table.html", contexts.list_context(request.user)
        )
        # One URL answers with a fragment or a page; caches must keep them apart.
        return vary_on_htmx(response)
    agents = _agent_choices(request)
    if request.method == "POST":
        form = EvaluationForm(request.POST, request.FILES, agents=agents)
        if form.is_valid():
            try:
                evaluation = services.create_evaluation(request.user, **form.to_request())
            except (InvalidRequest, NotFound) as refused:
                form.add_error(None, refused.message)
            else:
                messages.success(
                    request,
                    f"Started the evaluation. Estimated: about {evaluation.estimated_tokens:,} "
                    "tokens (an estimate made before it ran, not usage).",
                )
                return redirect("evaluation:detail", evaluation_id=evaluation.id)
    else:
        form = EvaluationForm(initial={"agent": request.GET.get("agent", "")}, agents=agents)
    listed = contexts.list_context(request.user)
    context = {
        **listed,
        "form": form,
        "form_open": form.is_bound or bool(form.initial["agent"]) or not listed["evaluations"],
        "can_edit": access_for(request.user).can_edit,
        "model_suggestions": model_suggestions(),
    }
    response = render(request, "evaluation/list.html", context, status=400 if form.errors else 200)
    return vary_on_htmx(response)


@login_required
@require_GET
def evaluation_detail(request: HttpRequest, evaluation_id: str) -> HttpResponse:
    """The page; for htmx's poll `?steps=<steps done when last drawn>`, the live part,
    and the report beside it (swapped out of band) only when a step finished since, so
    a reader's open details stay open between steps."""
    try:
        evaluation = services.get_evaluation_for_user(request.user, evaluation_id)
    except NotFound:
        if not wants_partial(request):
            raise Http404("Evaluation not found") from None
        # Deleted by someone else while this page polled it: 286 tells htmx to stop.
        return render(request, "evaluation/partials/_gone.html", status=HTMX_STOP_POLLING)
    live = contexts.live_context(evaluation, can_edit=access_for(request.user).can_edit)
    if wants_partial(request):
        changed = request.GET.get("steps") != str(evaluation.steps_done)
        context = {**live, **(contexts.report_context(evaluation) if changed else {})}
        response = render(
            request, "evaluation/partials/_poll.html", {**context, "report_changed": changed}
        )
    else:
        context = {**live, **contexts.report_context(evaluation)}
        response = render(request, "evaluation/detail.html", context)
    return vary_on_htmx(response)


def _attachment(response: HttpResponse, filename: str) -> HttpResponse:
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


@login_required
@require_GET
def evaluation_report_json(request: HttpRequest, evaluation_id: str) -> HttpResponse:
    """services.summary as a file: per arm and per item, the estimate apart from usage."""
    evaluation = _evaluation_or_404(request, evaluation_id)
    response = JsonResponse(services.summary(evaluation), json_dumps_params={"indent": 2})
    return _attachment(response, f"{evaluation.id}.json")


@login_required
@require_GET
def evaluation_report_csv(request: HttpRequest, evaluation_id: str) -> HttpResponse:
    """A row per question and arm, for a spreadsheet."""
    evaluation = _evaluation_or_404(request, evaluation_id)
    response = HttpResponse(
        report.to_csv(services.records(evaluation)), content_type="text/csv; charset=utf-8"
    )
    return _attachment(response, f"{evaluation.id}.csv")


@login_required
@require_POST
def evaluation_cancel(request: HttpRequest, evaluation_id: str) -> HttpResponse:
    evaluation = _evaluation_or_404(request, evaluation_id)
    try:
        services.cancel(evaluation, request.user)
    except Conflict as refused:
        messages.error(request, refused.message)
    else:
        messages.success(
            request, "Cancelled. A step at work finishes and is kept; no other starts."
        )
    return redirect("evaluation:detail", evaluation_id=evaluation.id)


@login_required
@require_POST
def evaluation_resume(request: HttpRequest, evaluation_id: str) -> HttpResponse:
    evaluation = _evaluation_or_404(request, evaluation_id)
    try:
        services.resume(evaluation)
    except Conflict as refused:
        messages.error(request, refused.message)
    else:
        messages.success(request, "Resumed from the steps done.")
    return redirect("evaluation:detail", evaluation_id=evaluation.id)


@login_required
@require_POST
def evaluation_delete(request: HttpRequest, evaluation_id: str) -> HttpResponse:
    evaluation = _evaluation_or_404(request, evaluation_id)
    try:
        services.delete_evaluation(evaluation)
    except Conflict as refused:
        messages.error(request, refused.message)
        return redirect("evaluation:detail", evaluation_id=evaluation.id)
    messages.success(request, f"Deleted evaluation {evaluation_id}.")
    return redirect("evaluation:list")
