"""The ADE's MCP server pages, under the Tools page: the organization's servers and the
form that registers one; a server's page (its settings, its tools as the server lists
them now, each added as a Tool row with a button); and deleting a server.

A server's tools are read live on its page, so an unreachable server is the common case
here, not an error page: the page says what went wrong and shows what is stored.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db.models import Count
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST

from agents.contexts import agents_by_tool
from agents.forms.mcp import McpServerForm
from agents.models import Agent
from config.errors import InvalidRequest, NotFound
from config.htmx import HtmxHttpRequest, wants_partial
from toolbox import mcp_servers
from toolbox.mcp import McpError
from toolbox.models import McpServer

SERVER_TOOLS_PARTIAL = "agents/partials/_mcp_server_tools.html"


def server_or_404(request: HttpRequest, server_id: str) -> McpServer:
    """The organization's MCP server as the signed-in person may see it."""
    try:
        return mcp_servers.get_mcp_server_for_user(request.user, server_id)
    except NotFound:
        raise Http404("MCP server not found") from None


# --- The changes a page makes (candidates for toolbox/mcp_servers.py) ------------------------


# --- The servers page ------------------------------------------------------------------------


def _server_rows(user: Any) -> list[dict[str, Any]]:
    servers = mcp_servers.list_mcp_servers(user).annotate(tool_count=Count("tools"))
    return [
        {"server": server, "credentials": mcp_servers.credentials_shown(server)}
        for server in servers.order_by("server_name")
    ]


@login_required
@require_http_methods(["GET", "POST"])
def mcp_server_list(request: HttpRequest) -> HttpResponse:
    form = McpServerForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        server_name, config = form.to_config()
        try:
            server = mcp_servers.register_mcp_server(
                request.user, server_name, config, add_tools=False
            )
        except (InvalidRequest, McpError) as error:
            form.add_error(None, error.message)
        else:
            messages.success(request, f"Registered the MCP server {server.server_name}.")
            return redirect("agents:mcp_server", server_id=server.id)
    status = 400 if form.errors else 200
    context = {"form": form, "servers": _server_rows(request.user)}
    return render(request, "agents/mcp_servers.html", context, status=status)


# --- A server's page -------------------------------------------------------------------------


def _server_tools_context(
    server: McpServer, *, feedback: str = "", failed: bool = False
) -> dict[str, Any]:
    """What `_mcp_server_tools.html` shows: the tools the server offers now (asked while
    the page is made), which of them are added, and those added that it no longer
    offers; or, when it cannot be reached, why, and the added ones as stored."""
    added = {tool.name: tool for tool in server.tools.order_by("name")}
    try:
        offered = mcp_servers.list_server_tools(server)
    except McpError as error:
        return {
            "server": server,
            "unreachable": error.message,
            "offered": [],
            "gone": list(added.values()),
            "tools_feedback": feedback,
            "tools_failed": failed,
        }
    names = {spec.name for spec in offered}
    return {
        "server": server,
        "unreachable": "",
        "offered": [{"spec": spec, "tool": added.get(spec.name)} for spec in offered],
        "gone": [tool for name, tool in added.items() if name not in names],
        "tools_feedback": feedback,
        "tools_failed": failed,
    }


def _server_context(server: McpServer, form: McpServerForm | None) -> dict[str, Any]:
    return {
        **_server_tools_context(server),
        "form": form,
        "credentials": mcp_servers.credentials_shown(server),
    }


@login_required
@require_http_methods(["GET", "POST"])
def mcp_server_detail(request: HttpRequest, server_id: str) -> HttpResponse:
    """A server's settings, its edit form and its tools."""
    server = server_or_404(request, server_id)
    if request.method == "POST":
        form = McpServerForm(request.POST, server=server)
        if form.is_valid():
            server_name, config = form.to_config()
            try:
                server = mcp_servers.update_mcp_server(server, server_name, config)
            except InvalidRequest as error:
                form.add_error(None, error.message)
            else:
                messages.success(request, f"Saved the MCP server {server.server_name}.")
                return redirect("agents:mcp_server", server_id=server.id)
        # The service writes into `server` before it refuses: show it as stored.
        server = server_or_404(request, server_id)
        return render(request, "agents/mcp_server.html", _server_context(server, form), status=400)
    form = McpServerForm(server=server)
    return render(request, "agents/mcp_server.html", _server_context(server, form))


def _server_tools_answer(
    request: HtmxHttpRequest, server: McpServer, done: str, *, failed: bool = False
) -> HttpResponse:
    if wants_partial(request):
        context = _server_tools_context(server, feedback=done, failed=failed)
        return render(request, SERVER_TOOLS_PARTIAL, context)
    (messages.error if failed else messages.success)(request, done)
    return redirect(reverse("agents:mcp_server", args=[server.id]) + "#tools")


@login_required
@require_POST
def mcp_server_tool_add(request: HtmxHttpRequest, server_id: str) -> HttpResponse:
    """Make one of the server's tools a Tool row, which agents can then be given."""
    server = server_or_404(request, server_id)
    name = request.POST.get("tool_name", "")
    try:
        tool = mcp_servers.attach_mcp_tool(server, name, request.user)
    except (InvalidRequest, NotFound, McpError) as error:
        return _server_tools_answer(request, server, error.message, failed=True)
    return _server_tools_answer(
        request, server, f"Added the tool {tool.name}; attach it to agents on their pages."
    )


@login_required
@require_POST
def mcp_server_refresh(request: HtmxHttpRequest, server_id: str) -> HttpResponse:
    """Read the added tools' descriptions and schemas from the server again."""
    server = server_or_404(request, server_id)
    try:
        summary = mcp_servers.sync_mcp_tools(server, request.user, add_new=False)
    except McpError as error:
        return _server_tools_answer(request, server, error.message, failed=True)
    done = f"Refreshed {len(summary.updated)} tool{'s' if len(summary.updated) != 1 else ''}."
    if summary.missing:
        done += f" No longer offered by the server: {', '.join(summary.missing)}."
    return _server_tools_answer(request, server, done)


# --- Deleting a server -----------------------------------------------------------------------


def _losing_agents(request: HttpRequest, server: McpServer) -> list[dict[str, Any]]:
    """The agents (as the reader may see them) that have any of the server's tools, with
    the names of those tools."""
    having = agents_by_tool(request.user, list(server.tools.values_list("name", flat=True)))
    agents: dict[str, Agent] = {}
    tools: dict[str, list[str]] = {}
    for name, holders in sorted(having.items()):
        for agent in holders:
            agents[agent.id] = agent
            tools.setdefault(agent.id, []).append(name)
    ordered = sorted(agents.values(), key=lambda agent: agent.name)
    return [{"agent": agent, "tools": tools[agent.id]} for agent in ordered]


@login_required
@require_http_methods(["GET", "POST"])
def mcp_server_delete(request: HttpRequest, server_id: str) -> HttpResponse:
    server = server_or_404(request, server_id)
    if request.method == "POST":
        name = server.server_name
        mcp_servers.delete_mcp_server(server)
        messages.success(request, f"Deleted the MCP server {name}.")
        return redirect("agents:mcp_servers")
    context = {
        "server": server,
        "tools": list(server.tools.order_by("name")),
        "losing": _losing_agents(request, server),
    }
    return render(request, "agents/mcp_server_delete.html", context)
