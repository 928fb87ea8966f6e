"""The ADE's agent and run pages, mounted at the site root by config.urls."""

from __future__ import annotations

from django.urls import path

from agents import views

app_name = "agents"

urlpatterns = [
    path("agents/", views.agent_list, name="list"),
    path("agents/new/", views.agent_create, name="create"),
    # Before agents/<agent_id>/, which would take "import" for an agent's id.
    path("agents/import/", views.agent_import, name="import"),
    path("agents/<str:agent_id>/", views.agent_detail, name="detail"),
    path("agents/<str:agent_id>/config/", views.agent_config, name="config"),
    path("agents/<str:agent_id>/delete/", views.agent_delete, name="delete"),
    path("agents/<str:agent_id>/export/", views.agent_export, name="export"),
    path("agents/<str:agent_id>/messages/", views.agent_send_message, name="send_message"),
    path(
        "agents/<str:agent_id>/conversations/",
        views.conversation_create,
        name="conversation_create",
    ),
    path("agents/<str:agent_id>/approvals/", views.approval_answer, name="approval_answer"),
    path("agents/<str:agent_id>/sleeptime/", views.agent_sleeptime, name="sleeptime"),
    path("agents/<str:agent_id>/sleeptime/run/", views.agent_sleeptime_run, name="sleeptime_run"),
    path("agents/<str:agent_id>/sleeptime/pause/", views.agent_pause, name="sleeptime_pause"),
    path("agents/<str:agent_id>/sleeptime/budget/", views.agent_budget, name="sleeptime_budget"),
    path("agents/<str:agent_id>/review/", views.review, name="review"),
    path(
        "agents/<str:agent_id>/review/<str:proposal_id>/accept/",
        views.proposal_accept,
        name="proposal_accept",
    ),
    path(
        "agents/<str:agent_id>/review/<str:proposal_id>/reject/",
        views.proposal_reject,
        name="proposal_reject",
    ),
    path("agents/<str:agent_id>/ledger/", views.ledger, name="ledger"),
    path(
        "agents/<str:agent_id>/insights/<str:insight_id>/dismiss/",
        views.insight_dismiss,
        name="insight_dismiss",
    ),
    path("agents/<str:agent_id>/archival/", views.archival, name="archival"),
    path("agents/<str:agent_id>/context/", views.context_window, name="context"),
    path("agents/<str:agent_id>/tools/", views.agent_tool_attach, name="tool_attach"),
    path(
        "agents/<str:agent_id>/tools/<str:tool_id>/detach/",
        views.agent_tool_detach,
        name="tool_detach",
    ),
    path("tools/", views.tool_list, name="tools"),
    path("tools/new/", views.tool_create, name="tool_create"),
    # Before tools/<tool_id>/, which would take "mcp" for a tool's id.
    path("tools/mcp/", views.mcp_server_list, name="mcp_servers"),
    path("tools/mcp/<str:server_id>/", views.mcp_server_detail, name="mcp_server"),
    path("tools/mcp/<str:server_id>/add/", views.mcp_server_tool_add, name="mcp_server_tool_add"),
    path("tools/mcp/<str:server_id>/refresh/", views.mcp_server_refresh, name="mcp_server_refresh"),
    path("tools/mcp/<str:server_id>/delete/", views.mcp_server_delete, name="mcp_server_delete"),
    path("tools/<str:tool_id>/", views.tool_detail, name="tool"),
    path("tools/<str:tool_id>/delete/", views.tool_delete, name="tool_delete"),
    path("spend/", views.organization_spend, name="spend"),
    path("runs/<str:run_id>/", views.run_detail, name="run"),
    path("runs/<str:run_id>/revert/", views.run_revert, name="run_revert"),
]
