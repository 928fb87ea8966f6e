"""The ADE's sources panel on the agent page: attach, create, detach, trust or distrust,
upload, delete files.

Each view parses input, calls one service and renders; for an htmx request it returns the
`#sources` partial, for a plain form post it redirects back to the agent page (an error
then travels as a message).
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from agents.models import Agent
from agents.views.access import agent_or_404
from config.errors import InvalidRequest, NotFound, PayloadTooLarge, UnsupportedMediaType
from config.htmx import HtmxHttpRequest, vary_on_htmx, wants_partial
from sources import services
from sources.contexts import sources_context
from sources.models import Source

PANEL = "sources/partials/_sources.html"


def _source_or_404(request: HttpRequest, source_id: str) -> Source:
    try:
        return services.get_source_for_user(request.user, source_id)
    except NotFound:
        raise Http404("Source not found") from None


def _attached_source_or_404(agent: Agent, source_id: str) -> Source:
    source = agent.sources.filter(pk=source_id).first()
    if source is None:
        raise Http404("Source not attached")
    return source


def _agent_url(agent: Agent) -> str:
    return reverse("agents:detail", args=[agent.id]) + "#sources"


def _answer(
    request: HtmxHttpRequest,
    agent: Agent,
    *,
    error: str = "",
    status: int = 400,
    success: str = "",
    new_source: dict[str, str] | None = None,
) -> HttpResponse:
    """The outcome of a change. htmx gets the panel, an error shown in it (as a 200, since
    htmx swaps only 2xx answers); a plain post is redirected back to the agent page, or on
    an error gets the sources page with it and the error's status."""
    if wants_partial(request) or error:
        context = sources_context(agent, error=error, new_source=new_source if error else None)
        if wants_partial(request):
            return render(request, PANEL, context)
        return render(request, "sources/agent_sources.html", context, status=status)
    if success:
        messages.success(request, success)
    return redirect(_agent_url(agent))


# --- The panel -----------------------------------------------------------------------------


@login_required
@require_GET
def sources_panel(request: HtmxHttpRequest, agent_id: str) -> HttpResponse:
    """The panel: the agent page loads it into place; without htmx it is a page."""
    agent = agent_or_404(request, agent_id)
    template = PANEL if wants_partial(request) else "sources/agent_sources.html"
    response = render(request, template, sources_context(agent))
    # One URL answers with a fragment or a page; caches must keep them apart.
    vary_on_htmx(response)
    return response


@login_required
@require_POST
def source_attach(request: HtmxHttpRequest, agent_id: str) -> HttpResponse:
    agent = agent_or_404(request, agent_id)
    source_id = request.POST.get("source", "")
    try:
        source = services.get_source_for_user(request.user, source_id)
    except NotFound:
        return _answer(request, agent, error="Choose one of your sources to attach.")
    services.attach_source(agent, source)
    return _answer(request, agent, success=f"Attached {source.name}.")


@login_required
@require_POST
def source_create(request: HtmxHttpRequest, agent_id: str) -> HttpResponse:
    """Create a source and attach it to the agent, in one step."""
    agent = agent_or_404(request, agent_id)
    fields = {
        key: request.POST.get(key, "").strip() for key in ("name", "description", "instructions")
    }
    trusted = request.POST.get("trusted") == "on"
    try:
        source = services.create_source(
            request.user,
            name=fields["name"],
            description=fields["description"],
            instructions=fields["instructions"],
        )
    except InvalidRequest as error:
        kept = {**fields, "trusted": "on" if trusted else ""}
        return _answer(request, agent, error=error.message, new_source=kept)
    if trusted:
        services.update_source(source, {"trusted": True})
    services.attach_source(agent, source)
    return _answer(request, agent, success=f"Created and attached {source.name}.")


@login_required
@require_POST
def source_detach(request: HtmxHttpRequest, agent_id: str, source_id: str) -> HttpResponse:
    agent = agent_or_404(request, agent_id)
    source = _source_or_404(request, source_id)
    try:
        services.detach_source(agent, source)
    except NotFound as error:
        return _answer(request, agent, error=error.message, status=error.status)
    return _answer(request, agent, success=f"Detached {source.name}.")


@login_required
@require_POST
def source_trust(request: HtmxHttpRequest, agent_id: str, source_id: str) -> HttpResponse:
    """The source's trust from its checkbox (`trusted` sent when ticked)."""
    agent = agent_or_404(request, agent_id)
    source = _attached_source_or_404(agent, source_id)
    trusted = request.POST.get("trusted") == "on"
    services.update_source(source, {"trusted": trusted})
    word = "trusted" if trusted else "untrusted"
    return _answer(request, agent, success=f"{source.name} is {word} now.")


# --- Files ---------------------------------------------------------------------------------


def _agent_from_query(request: HttpRequest) -> Agent:
    """The agent whose page the form is on (`?agent=`), which the answer re-renders."""
    return agent_or_404(request, request.GET.get("agent", ""))


@login_required
@require_POST
def file_upload(request: HtmxHttpRequest, source_id: str) -> HttpResponse:
    """Store the upload and queue its processing; the row shows its progress live."""
    agent = _agent_from_query(request)
    source = _attached_source_or_404(agent, source_id)
    upload = request.FILES.get("file")
    if upload is None:
        return _answer(request, agent, error="Choose a file to upload.")
    try:
        stored = services.upload_file(
            source,
            file_name=upload.name or "upload",
            content_type=upload.content_type,
            data=upload.read(),
        )
    except (UnsupportedMediaType, PayloadTooLarge, InvalidRequest) as error:
        return _answer(request, agent, error=error.message, status=error.status)
    return _answer(request, agent, success=f"Uploaded {stored.file_name} to {source.name}.")


@login_required
@require_POST
def file_delete(request: HtmxHttpRequest, source_id: str, file_id: str) -> HttpResponse:
    agent = _agent_from_query(request)
    source = _attached_source_or_404(agent, source_id)
    try:
        upload = services.get_file(source, file_id)
    except NotFound:
        raise Http404("File not found") from None
    name = upload.file_name
    services.delete_file(upload)
    return _answer(request, agent, success=f"Deleted {name}.")
