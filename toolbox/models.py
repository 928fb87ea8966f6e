from __future__ import annotations

from django.conf import settings
from django.db import models

from accounts.querysets import OrganizationQuerySet
from config.ids import mcp_server_id, tool_id

# What a tool may return to the model, in characters, unless the tool says otherwise
# (Letta's default); the rest is cut off with a note saying so.
DEFAULT_RETURN_CHAR_LIMIT = 6000


class ToolType(models.TextChoices):
    CUSTOM = "custom", "Custom (Python, run in a sandbox)"
    MCP = "external_mcp", "From an MCP server"


class ToolQuerySet(OrganizationQuerySet["Tool"]):
    pass


class Tool(models.Model):
    """A tool an organization added: Python source run in a sandbox (toolbox/sandbox.py),
    or a tool of one of its MCP servers. Agents name their tools (Agent.tools), built-in
    or not; names are unique in an organization and never a built-in's."""

    id = models.CharField(primary_key=True, max_length=64, default=tool_id, editable=False)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="tools"
    )
    organization = models.ForeignKey(
        "accounts.Organization", on_delete=models.CASCADE, related_name="tools"
    )
    name = models.CharField(max_length=200)
    tool_type = models.CharField(max_length=20, choices=ToolType.choices, default=ToolType.CUSTOM)
    description = models.TextField(blank=True)
    source_type = models.CharField(max_length=20, default="python")
    source_code = models.TextField(blank=True)
    # The OpenAI function schema the model is offered: {name, description, parameters}.
    json_schema = models.JSONField(default=dict)
    # A JSON schema of the arguments given by the client instead of derived from the
    # source (Letta's args_json_schema); json_schema's parameters then come from it.
    args_json_schema = models.JSONField(null=True, blank=True)
    tags = models.JSONField(default=list, blank=True)
    return_char_limit = models.PositiveIntegerField(default=DEFAULT_RETURN_CHAR_LIMIT)
    # [{"name": ..., "version": ...}]: installed in a virtualenv per requirement set.
    pip_requirements = models.JSONField(default=list, blank=True)
    # Environment variables the tool runs with, sealed (config/secrets.py); never shown.
    environment = models.TextField(blank=True)
    default_requires_approval = models.BooleanField(default=False)
    mcp_server = models.ForeignKey(
        "toolbox.McpServer", on_delete=models.CASCADE, null=True, blank=True, related_name="tools"
    )
    metadata = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = ToolQuerySet.as_manager()

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            models.UniqueConstraint(fields=["organization", "name"], name="tool_name_per_org"),
        ]

    def __str__(self) -> str:
        return self.name


class McpServerType(models.TextChoices):
    STREAMABLE_HTTP = "streamable_http", "Streamable HTTP"
    SSE = "sse", "SSE"
    STDIO = "stdio", "stdio (a local command)"


class McpServerQuerySet(OrganizationQuerySet["McpServer"]):
    pass


class McpServer(models.Model):
    """An MCP server an organization registered; its tools become Tool rows when
    attached. Credentials (an auth token, headers, a command's environment) are sealed
    (config/secrets.py) and never shown back."""

    id = models.CharField(primary_key=True, max_length=64, default=mcp_server_id, editable=False)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="mcp_servers"
    )
    organization = models.ForeignKey(
        "accounts.Organization", on_delete=models.CASCADE, related_name="mcp_servers"
    )
    server_name = models.CharField(max_length=200)
    server_type = models.CharField(max_length=20, choices=McpServerType.choices)
    server_url = models.CharField(max_length=2000, blank=True)
    command = models.CharField(max_length=500, blank=True)
    args = models.JSONField(default=list, blank=True)
    # Sealed JSON: {"auth_header": ..., "auth_token": ..., "custom_headers": {...}, "env": {...}}.
    credentials = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = McpServerQuerySet.as_manager()

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "server_name"], name="mcp_server_name_per_org"
            ),
        ]

    def __str__(self) -> str:
        return self.server_name
