from __future__ import annotations

from django.apps import AppConfig


class AgentsConfig(AppConfig):
    name = "agents"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from agents import checks  # noqa: F401  (registers system checks)
        from agents.runs.ledger import settle_review
        from memory import proposals

        # A run awaiting review settles its ledger outcome once a person decides.
        if settle_review not in proposals.on_decided:
            proposals.on_decided.append(settle_review)
        # No MCP tool may take a built-in tool's name.
        from agents.tools import TOOLS
        from toolbox.mcp_servers import reserve_tool_names

        reserve_tool_names(TOOLS)
        # A deleted tool (by itself, or with its MCP server) leaves its agents and rules.
        from django.db.models.signals import post_delete

        from agents.services import forget_deleted_tool
        from toolbox.models import Tool

        post_delete.connect(forget_deleted_tool, sender=Tool, dispatch_uid="agents-tool-deleted")
