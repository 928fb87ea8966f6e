"""The ADE's Agent Files: the import form on the agent list and the export link on an
agent's page, calling the same services as `/v1/agents/import` and `/export`."""

from __future__ import annotations

import json
import re

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from agents import agentfile
from agents.forms import AgentFileImportForm
from agents.models import AgentType
from agents.views.access import agent_or_404
from agents.views.pages import list_context
from config.errors import DomainError

_FILE_NAME = re.compile(r"[^A-Za-z0-9_.-]+")


@login_required
@require_POST
def agent_import(request: HttpRequest) -> HttpResponse:
    form = AgentFileImportForm(request.POST, request.FILES)
    if form.is_valid():
        upload = form.cleaned_data["file"]
        try:
            agentfile.check_size(upload.size)
            agents = agentfile.import_agent_file(request.user, upload.read(), form.options())
        except DomainError as error:
            form.add_error("file", error.message)
        else:
            # The agent to open: the first that is not a sleep-time agent (they are listed
            # on their primary's page).
            main = next((a for a in agents if a.agent_type != AgentType.SLEEPTIME), agents[0])
            messages.success(request, f"Imported {main.name} from {upload.name}.")
            return redirect("agents:detail", agent_id=main.id)
    context = {**list_context(request), "import_form": form}
    return render(request, "agents/list.html", context, status=400)


@login_required
@require_GET
def agent_export(request: HttpRequest, agent_id: str) -> HttpResponse:
    agent = agent_or_404(request, agent_id)
    document = agentfile.export_agent_file(request.user, agent.id)
    response = HttpResponse(
        json.dumps(document, indent=2, ensure_ascii=False), content_type="application/json"
    )
    name = _FILE_NAME.sub("_", agent.name).strip("_") or "agent"
    response["Content-Disposition"] = f'attachment; filename="{name}.af"'
    return response
