"""Running a tool that is not built in: a custom tool in the sandbox, an MCP server's
tool on its server. Whatever happens there comes back as (ok, text) for the model: a
tool that fails, hangs, eats memory, or whose server is down is a failed tool result,
never an exception that ends the turn or the worker."""

from __future__ import annotations

from typing import Any

from config.secrets import SecretUnreadable, unseal
from toolbox.models import Tool, ToolType


def run(
    tool: Tool, arguments: dict[str, Any], *, secrets: dict[str, str] | None = None
) -> tuple[bool, str]:
    """(ok, text) of one call; `secrets` are the agent's environment variables, which
    the tool's own override."""
    if tool.tool_type == ToolType.MCP:
        ok, text = _run_mcp(tool, arguments)
    else:
        ok, text = _run_custom(tool, arguments, secrets or {})
    return ok, cut(text, tool.return_char_limit)


def cut(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    return (
        text[:limit]
        + f"... [cut off: the result was {len(text)} characters, over this tool's limit of {limit}]"
    )


def _run_custom(tool: Tool, arguments: dict[str, Any], secrets: dict[str, str]) -> tuple[bool, str]:
    from toolbox import sandbox

    try:
        environment = {**secrets, **unseal(tool.environment, default={})}
    except SecretUnreadable as error:
        return False, str(error)
    try:
        outcome = sandbox.run_python(
            tool.source_code,
            tool.json_schema.get("name") or tool.name,
            arguments,
            environment=environment,
            pip_requirements=tool.pip_requirements,
        )
    except sandbox.SandboxUnavailable as error:
        return False, f"Custom tools cannot run on this server: {error}"
    except ValueError as error:
        return False, f"The tool's requirements could not be installed: {error}"
    return outcome.ok, outcome.value


def _run_mcp(tool: Tool, arguments: dict[str, Any]) -> tuple[bool, str]:
    from toolbox import mcp

    server = tool.mcp_server
    if server is None:
        return False, f"The MCP server of {tool.name} was removed."
    try:
        return mcp.call_tool(server, tool.name, arguments)
    except mcp.McpError as error:
        return False, str(error)
