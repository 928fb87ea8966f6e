"""Custom tools: create, upsert, update, delete, and run them.

A custom tool is Python source with a schema: derived from the source (toolbox/schema.py)
unless the client gives one. It runs in the sandbox (toolbox/sandbox.py), never in this
process. An MCP server's tool is a Tool row too (toolbox/mcp_servers.py makes those); it
runs on its server. Names are unique in an organization; the agents app passes the
names its built-in tools take (`reserved`), which no custom tool may shadow.
"""

from __future__ import annotations

import json
import re
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from django.db import IntegrityError, transaction

from accounts.access import access_for
from config.errors import Conflict, InvalidRequest, NotFound
from config.secrets import seal, unseal
from toolbox import schema
from toolbox.models import DEFAULT_RETURN_CHAR_LIMIT, Tool, ToolType

MAX_SOURCE_CHARS = 100_000
MAX_RETURN_CHAR_LIMIT = 1_000_000
# A requirement is a distribution name and, optionally, a version or specifier; nothing
# pip would read as an option, a path or a URL.
REQUIREMENT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
REQUIREMENT_VERSION = re.compile(r"^(==|>=|<=|~=|!=|>|<)?\s*[A-Za-z0-9.*+!,<>=~ -]{1,50}$")
ENVIRONMENT_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")


@dataclass
class ToolSpec:
    """What a client says about a custom tool; None leaves a field as it is (updates) or
    at its default (creation)."""

    source_code: str | None = None
    description: str | None = None
    tags: list[str] | None = None
    json_schema: dict[str, Any] | None = None
    args_json_schema: dict[str, Any] | None = None
    return_char_limit: int | None = None
    pip_requirements: list[dict[str, str]] | None = None
    environment: dict[str, str] | None = None
    default_requires_approval: bool | None = None
    source_type: str | None = None


def organization_tools(user: Any) -> Any:
    return Tool.objects.for_user(user)


def get_tool(user: Any, tool_id: str) -> Tool:
    tool = organization_tools(user).filter(pk=tool_id).first()
    if tool is None:
        raise NotFound(f"Tool {tool_id} not found.")
    return tool


def tools_named(organization_id: Any, names: Collection[str]) -> dict[str, Tool]:
    """The organization's tools among `names`, by name (one query)."""
    if not names:
        return {}
    rows = Tool.objects.filter(organization_id=organization_id, name__in=list(names))
    return {tool.name: tool for tool in rows}


def create_tool(user: Any, spec: ToolSpec, *, reserved: Collection[str] = ()) -> Tool:
    """A new custom tool; its name is its function's (409 if the organization has one)."""
    tool = Tool(owner=user, organization=access_for(user).organization)
    _apply(tool, spec, creating=True)
    _check_free(tool, reserved)
    try:
        with transaction.atomic():
            tool.save()
    except IntegrityError:
        raise Conflict(f"A tool named {tool.name!r} already exists.") from None
    return tool


def upsert_tool(user: Any, spec: ToolSpec, *, reserved: Collection[str] = ()) -> Tool:
    """Create the tool, or update the organization's custom tool of the same name."""
    probe = Tool(owner=user, organization=access_for(user).organization)
    _apply(probe, spec, creating=True)
    existing = organization_tools(user).filter(name=probe.name).first()
    if existing is None:
        return create_tool(user, spec, reserved=reserved)
    if existing.tool_type != ToolType.CUSTOM:
        raise Conflict(f"{probe.name!r} is an MCP server's tool; it cannot be replaced.")
    return update_tool(existing, spec, reserved=reserved)


def update_tool(tool: Tool, spec: ToolSpec, *, reserved: Collection[str] = ()) -> Tool:
    if tool.tool_type != ToolType.CUSTOM and spec.source_code is not None:
        raise InvalidRequest("An MCP server's tool has no source code to change.")
    renamed_from = tool.name
    _apply(tool, spec, creating=False)
    if tool.name != renamed_from:
        _check_free(tool, reserved)
    try:
        with transaction.atomic():
            tool.save()
    except IntegrityError:
        raise Conflict(f"A tool named {tool.name!r} already exists.") from None
    return tool


def delete_tool(tool: Tool) -> None:
    tool.delete()


def environment_names(tool: Tool) -> list[str]:
    """The names of the tool's environment variables; their values are never shown."""
    return sorted(unseal(tool.environment, default={}))


def _check_free(tool: Tool, reserved: Collection[str]) -> None:
    if tool.name in reserved:
        raise Conflict(f"{tool.name!r} is a built-in tool's name; give the function another.")


def _apply(tool: Tool, spec: ToolSpec, *, creating: bool) -> None:
    """Check `spec` and write it into `tool` (not saved); the schema follows the source."""
    if spec.source_type not in (None, "python"):
        raise InvalidRequest(f"source_type {spec.source_type!r}: custom tools are Python.")
    if spec.source_code is not None:
        if len(spec.source_code) > MAX_SOURCE_CHARS:
            raise InvalidRequest(f"source_code is over {MAX_SOURCE_CHARS} characters.")
        tool.source_code = spec.source_code
    if creating and not tool.source_code.strip():
        raise InvalidRequest("source_code is required: the Python function the tool runs.")
    if spec.description is not None:
        tool.description = spec.description
    if spec.tags is not None:
        tool.tags = [str(tag) for tag in spec.tags]
    if spec.return_char_limit is not None:
        if not 1 <= spec.return_char_limit <= MAX_RETURN_CHAR_LIMIT:
            raise InvalidRequest(f"return_char_limit is from 1 to {MAX_RETURN_CHAR_LIMIT}.")
        tool.return_char_limit = spec.return_char_limit
    elif creating:
        tool.return_char_limit = DEFAULT_RETURN_CHAR_LIMIT
    if spec.pip_requirements is not None:
        tool.pip_requirements = _requirements(spec.pip_requirements)
    if spec.environment is not None:
        tool.environment = seal(_environment(spec.environment))
    if spec.default_requires_approval is not None:
        tool.default_requires_approval = spec.default_requires_approval
    if spec.args_json_schema is not None:
        tool.args_json_schema = _object_schema(spec.args_json_schema, "args_json_schema")
    if tool.tool_type == ToolType.CUSTOM and (
        spec.source_code is not None or spec.json_schema is not None or creating
    ):
        tool.json_schema = _schema_of(tool, spec)
        if spec.description is None:
            tool.description = tool.json_schema.get("description", "")
    tool.name = tool.json_schema.get("name") or tool.name


def _schema_of(tool: Tool, spec: ToolSpec) -> dict[str, Any]:
    """The function schema: the client's, checked, or the source's; args_json_schema, if
    given, is its parameters."""
    if spec.json_schema is not None:
        given = dict(spec.json_schema)
        if given.get("type") == "function" and isinstance(given.get("function"), dict):
            given = dict(given["function"])  # the OpenAI wrapper, sent as is
        name = schema.check_name(str(given.get("name") or ""))
        schema.function_of(schema.parse(tool.source_code), name)
        derived = {
            "name": name,
            "description": str(given.get("description") or ""),
            "parameters": _object_schema(
                given.get("parameters") or {"type": "object", "properties": {}},
                "json_schema.parameters",
            ),
        }
    else:
        current = tool.json_schema.get("name") if tool.json_schema else None
        try:
            derived = schema.derive(tool.source_code, current)
        except InvalidRequest:
            if current is None:
                raise
            derived = schema.derive(tool.source_code)  # the function was renamed
    if tool.args_json_schema:
        derived["parameters"] = tool.args_json_schema
    if spec.description:
        derived["description"] = spec.description
    return derived


def _object_schema(value: Any, field: str) -> dict[str, Any]:
    if not isinstance(value, dict) or value.get("type", "object") != "object":
        raise InvalidRequest(f"{field} must be a JSON schema of type object.")
    properties = value.get("properties", {})
    if not isinstance(properties, dict):
        raise InvalidRequest(f"{field}.properties must be an object.")
    required = value.get("required", [])
    if not isinstance(required, list) or any(name not in properties for name in required):
        raise InvalidRequest(f"{field}.required must name some of its properties.")
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        raise InvalidRequest(f"{field} must be plain JSON.") from None
    return {"type": "object", **value}


def _requirements(items: list[dict[str, str]]) -> list[dict[str, str]]:
    checked = []
    for item in items:
        name = str(item.get("name") or "")
        version = str(item.get("version") or "").strip()
        if not REQUIREMENT_NAME.match(name):
            raise InvalidRequest(f"pip requirement name {name!r} is not a package name.")
        if version and not REQUIREMENT_VERSION.match(version):
            raise InvalidRequest(f"pip requirement version {version!r} is not a version.")
        checked.append({"name": name, "version": version} if version else {"name": name})
    return checked


def _environment(values: dict[str, str]) -> dict[str, str]:
    for name in values:
        if not ENVIRONMENT_NAME.match(name):
            raise InvalidRequest(f"Environment variable name {name!r} is not valid.")
    return {name: str(value) for name, value in values.items()}
