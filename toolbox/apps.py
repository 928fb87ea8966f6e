from __future__ import annotations

from django.apps import AppConfig


class ToolboxConfig(AppConfig):
    """Tools beyond the built-ins: custom Python tools run in a sandbox, and MCP servers'
    tools. Below `agents` in the layers: the agent loop asks it for an agent's tools."""

    name = "toolbox"
    default_auto_field = "django.db.models.BigAutoField"
