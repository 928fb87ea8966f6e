"""The ADE's tool pages: the built-in tools and the organization's own (custom Python
tools and its MCP servers' tools), the form that makes a custom tool, a custom tool's
page where it is changed or deleted, and the agent page's tools panel (attach, detach).

The pages live in the agents app, not in toolbox: the built-in tools, and the agents
that name a tool, are this app's, and toolbox sits below it.
"""

from __future__ import annotations

import json
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from agents import services
from agents.contexts import agent_tools_context, agents_by_tool, builtin_row, stored_row
from agents.forms.tools import ToolForm
from agents.models import Agent
from agents.tools import TOOLS
from agents.views.access import agent_or_404
from config.errors import InvalidRequest, NotFound
from config.htmx import HtmxHttpRequest, wants_partial
from toolbox import sandbox
from toolbox import services as toolbox_services
from toolbox.models import Tool, ToolType

AGENT_TOOLS_PARTIAL = "agents/partials/_agent_tools.html"


def tool_or_404(request: HttpRequest, tool_id: str) -> Tool:
    """The organization's tool (custom or MCP) as the signed-in person may see it."""
    try:
        return toolbox_services.get_tool(request.user, tool_id)
    except NotFound:
        raise Http404("Tool not found") from None


def custom_tool_or_404(request: HttpRequest, tool_id: str) -> Tool:
    """As `tool_or_404`, for changing it: an MCP server's tools are its server's to
    change, and read-only here."""
    tool = tool_or_404(request, tool_id)
    if tool.tool_type != ToolType.CUSTOM:
        raise Http404("Only custom tools are changed here")
    return tool


# --- The changes a page makes (candidates for agents/services.py) ----------------------------


# --- The tools page ------------------------------------------------------------------------


@login_required
@require_GET
def tool_list(request: HttpRequest) -> HttpResponse:
    tools = list(toolbox_services.organization_tools(request.user).order_by("name"))
    having = agents_by_tool(request.user, [tool.name for tool in tools])
    context = {
        "builtins": [builtin_row(name) for name in sorted(TOOLS)],
        "tools": [
            {**stored_row(tool), "tags": tool.tags, "agents": having.get(tool.name, [])}
            for tool in tools
        ],
        "sandbox_problem": sandbox.available(),
    }
    return render(request, "agents/tools.html", context)


@login_required
@require_http_methods(["GET", "POST"])
def tool_create(request: HttpRequest) -> HttpResponse:
    form = ToolForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            tool = toolbox_services.create_tool(request.user, form.to_spec(), reserved=TOOLS)
        except InvalidRequest as error:
            form.add_error(None, error.message)
        else:
            messages.success(request, f"Created the tool {tool.name}.")
            return redirect("agents:tool", tool_id=tool.id)
    status = 400 if form.errors else 200
    return render(request, "agents/tool_create.html", {"form": form}, status=status)


def _tool_context(request: HttpRequest, tool: Tool, form: ToolForm | None) -> dict[str, Any]:
    return {
        "tool": tool,
        "form": form,
        "schema": json.dumps(tool.json_schema, indent=2, sort_keys=False),
        "environment_names": toolbox_services.environment_names(tool),
        "agents": agents_by_tool(request.user, [tool.name]).get(tool.name, []),
    }


@login_required
@require_http_methods(["GET", "POST"])
def tool_detail(request: HttpRequest, tool_id: str) -> HttpResponse:
    """A tool's schema and source; a custom tool's page is also its edit form."""
    if request.method == "POST":
        tool = custom_tool_or_404(request, tool_id)
        form = ToolForm(request.POST, tool=tool)
        if form.is_valid():
            try:
                tool = services.update_custom_tool(tool, form.to_spec())
            except InvalidRequest as error:
                form.add_error(None, error.message)
            else:
                messages.success(request, f"Saved the tool {tool.name}.")
                return redirect("agents:tool", tool_id=tool.id)
        # The service may have written into `tool` before it refused: show it as stored.
        tool = tool_or_404(request, tool_id)
        return render(request, "agents/tool.html", _tool_context(request, tool, form), status=400)
    tool = tool_or_404(request, tool_id)
    edit_form = ToolForm(tool=tool) if tool.tool_type == ToolType.CUSTOM else None
    return render(request, "agents/tool.html", _tool_context(request, tool, edit_form))


@login_required
@require_http_methods(["GET", "POST"])
def tool_delete(request: HttpRequest, tool_id: str) -> HttpResponse:
    tool = custom_tool_or_404(request, tool_id)
    if request.method == "POST":
        name = tool.name
        toolbox_services.delete_tool(tool)
        messages.success(request, f"Deleted the tool {name}.")
        return redirect("agents:tools")
    agents = agents_by_tool(request.user, [tool.name]).get(tool.name, [])
    return render(request, "agents/tool_delete.html", {"tool": tool, "agents": agents})


# --- The agent page's tools panel ----------------------------------------------------------


def _agent_tools_answer(request: HtmxHttpRequest, agent: Agent, done: str) -> HttpResponse:
    if wants_partial(request):
        context = agent_tools_context(agent, request.user, feedback=done)
        return render(request, AGENT_TOOLS_PARTIAL, context)
    messages.success(request, done)
    return redirect(reverse("agents:detail", args=[agent.id]) + "#tools")


@login_required
@require_POST
def agent_tool_attach(request: HtmxHttpRequest, agent_id: str) -> HttpResponse:
    agent = agent_or_404(request, agent_id)
    try:
        # The id is resolved in the agent's organization, which is the reader's.
        agent = services.attach_tool(agent, request.POST.get("tool_id", ""))
    except NotFound:
        raise Http404("Tool not found") from None
    return _agent_tools_answer(request, agent, "Attached the tool.")


@login_required
@require_POST
def agent_tool_detach(request: HtmxHttpRequest, agent_id: str, tool_id: str) -> HttpResponse:
    agent = agent_or_404(request, agent_id)
    try:
        agent = services.detach_tool(agent, tool_id)
    except NotFound:
        raise Http404("Tool not found") from None
    return _agent_tools_answer(request, agent, "Detached the tool.")
