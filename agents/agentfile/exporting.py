"""An agent as an Agent File, in the shape Letta's server exports (so Letta's tools and
Reverie read it alike): the agent, the sleep-time agents of its group, their blocks,
tools, history, group, and the sources attached to them with their files' text."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from django.utils import timezone

from agents import loop, services, sleeptime
from agents.agentfile.messages import export_message, summary_message, system_message
from agents.agentfile.parts import REGISTRY, FileIds, SourcesExport
from agents.letta_format import embedding_config, llm_config
from agents.models import Agent, Group, Message
from agents.tools import TOOLS
from memory import services as memory_services
from memory.models import Block
from toolbox import services as toolbox_services
from toolbox.models import Tool as StoredTool

# Where an imported agent keeps the definitions of tools Reverie cannot run (custom tools
# with their source code, Letta's own tools Reverie lacks), and the MCP servers of the
# file, so that its export gives them back. They are never offered to the model.
UNAVAILABLE_TOOLS = "unavailable_tools"
MCP_SERVERS = "mcp_servers"
RESERVED_METADATA = (UNAVAILABLE_TOOLS, MCP_SERVERS)
# Letta's return_char_limit of its base tools.
RETURN_CHAR_LIMIT = 6000


def export_agent_file(user: Any, agent_id: str, *, scrub_messages: bool = False) -> dict[str, Any]:
    """The Agent File of `agent_id` (a 404 when `user` may not see it). With
    `scrub_messages`, without any history: settings, memory and sources only."""
    agent = services.get_agent_for_user(user, agent_id)
    group = sleeptime.group_of(agent)
    agents = [agent, *(sleeptime.sleeptime_agents(group) if group is not None else [])]
    ids = FileIds()
    for member in agents:
        ids.get("agent", member.id)
    blocks = {member.id: memory_services.agent_blocks(member) for member in agents}
    tools = _tools(agents, ids)
    mcp_servers = _mcp_servers(agents, ids)
    sources = REGISTRY.export_sources(agents, ids) if REGISTRY.export_sources else SourcesExport()
    group_id = ids.get("group", group.id) if group is not None else None
    exported = [
        _agent(
            member,
            ids,
            blocks[member.id],
            sources,
            scrub_messages,
            group if member is agent else None,
        )
        for member in agents
    ]
    unique_blocks = {block.id: block for member in agents for block in blocks[member.id]}
    return {
        "agents": exported,
        "groups": [_group(group, agent, group_id, ids)] if group is not None and group_id else [],
        "blocks": [_block(block, ids) for block in unique_blocks.values()],
        "files": sources.files,
        "sources": sources.sources,
        "tools": tools,
        "mcp_servers": mcp_servers,
        "skills": [],
        "metadata": {"exported_by": "reverie"},
        "created_at": timezone.now().isoformat(),
    }


def history(agent: Agent) -> QuerySet[Message]:
    """The agent's own history (not its conversations', which Letta's format has no
    place for), oldest first: what an export holds."""
    return Message.objects.filter(agent=agent, conversation__isnull=True).order_by("seq")


def _agent(
    agent: Agent,
    ids: FileIds,
    blocks: list[Block],
    sources: SourcesExport,
    scrub_messages: bool,
    group: Group | None,
) -> dict[str, Any]:
    file_id = ids.get("agent", agent.id)
    messages, in_context = ([], []) if scrub_messages else _messages(agent, file_id, ids)
    stored = toolbox_services.tools_named(agent.organization_id, agent.tools)
    tool_ids = [ids.get("tool", name) for name in agent.tools if name in TOOLS or name in stored]
    for definition in _unavailable_tools(agent):
        tool_ids.append(ids.get("tool", definition["name"]))
    metadata = {k: v for k, v in (agent.metadata or {}).items() if k not in RESERVED_METADATA}
    return {
        "name": agent.name,
        "memory_blocks": [],
        "tools": [],
        "tool_ids": tool_ids,
        "source_ids": sources.source_ids.get(agent.id, []),
        "block_ids": [ids.get("block", block.id) for block in blocks],
        "tool_rules": list(agent.tool_rules or []),
        "tags": list(agent.tags or []),
        "system": agent.system,
        "agent_type": agent.agent_type,
        # Letta's CreateAgent adds its base tools and rules unless told not to.
        "include_base_tools": False,
        "include_base_tool_rules": False,
        "description": agent.description or None,
        "metadata": metadata,
        "llm_config": llm_config(agent),
        "embedding_config": embedding_config(agent),
        # As Letta writes it: a group in the file is made by the group, not by the agent's
        # flag (which would make a second one). Whether it runs is the group's `enabled`.
        "enable_sleeptime": False if group is not None else agent.enable_sleeptime,
        "timezone": agent.timezone,
        "id": file_id,
        "in_context_message_ids": in_context,
        "messages": messages,
        "files_agents": [],
        "group_ids": [ids.get("group", group.id)] if group is not None else [],
    }


def _messages(agent: Agent, agent_file_id: str, ids: FileIds) -> tuple[list[Any], list[str]]:
    """The history as Letta has it: the compiled system prompt first, then the summary
    of evicted messages (if any) as the system alert Letta writes, then every message."""
    now = timezone.now()
    system_id = ids.get("message", f"{agent.id}:system")
    messages = [
        system_message(system_id, agent_file_id, loop.compile_system(agent), agent.created_at)
    ]
    in_context = [system_id]
    if agent.summary:
        summary_id = ids.get("message", f"{agent.id}:summary")
        messages.append(summary_message(summary_id, agent_file_id, agent.summary, now))
        in_context.append(summary_id)
    for message in history(agent):
        file_id = ids.get("message", message.uid)
        messages.append(export_message(message, file_id, agent_file_id))
        if message.in_context:
            in_context.append(file_id)
    return messages, in_context


def _unavailable_tools(agent: Agent) -> list[dict[str, Any]]:
    kept = (agent.metadata or {}).get(UNAVAILABLE_TOOLS)
    if not isinstance(kept, list):
        return []
    return [item for item in kept if isinstance(item, dict) and isinstance(item.get("name"), str)]


def _tools(agents: list[Agent], ids: FileIds) -> list[dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for agent in agents:
        stored = toolbox_services.tools_named(agent.organization_id, agent.tools)
        for name in agent.tools:
            if name in stored and name not in out:
                out[name] = _stored_tool(stored[name], ids)
            tool = TOOLS.get(name)
            if tool is None or name in out:
                continue
            out[name] = {
                "id": ids.get("tool", name),
                "tool_type": tool.tool_type,
                "name": name,
                "description": tool.description,
                "source_type": "python",
                "tags": [tool.tool_type],
                "source_code": "",
                "json_schema": tool.schema()["function"],
                "return_char_limit": RETURN_CHAR_LIMIT,
                "metadata_": {},
            }
        for definition in _unavailable_tools(agent):
            name = definition["name"]
            if name not in out:
                out[name] = {**definition, "id": ids.get("tool", name)}
    return list(out.values())


def _stored_tool(tool: StoredTool, ids: FileIds) -> dict[str, Any]:
    """A custom tool with its source, as Letta exports one (its environment's values
    stay behind: they are secrets), or an MCP server's tool by its schema."""
    return {
        "id": ids.get("tool", tool.name),
        "tool_type": tool.tool_type,
        "name": tool.name,
        "description": tool.description,
        "source_type": tool.source_type,
        "tags": list(tool.tags),
        "source_code": tool.source_code,
        "json_schema": tool.json_schema,
        "args_json_schema": tool.args_json_schema,
        "return_char_limit": tool.return_char_limit,
        "pip_requirements": list(tool.pip_requirements),
        "default_requires_approval": tool.default_requires_approval,
        "metadata_": dict(tool.metadata or {}),
    }


def _mcp_servers(agents: list[Agent], ids: FileIds) -> list[dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for agent in agents:
        kept = (agent.metadata or {}).get(MCP_SERVERS)
        for server in kept if isinstance(kept, list) else []:
            if isinstance(server, dict) and isinstance(server.get("server_name"), str):
                name = server["server_name"]
                out.setdefault(name, {**server, "id": ids.get("mcp_server", name)})
    return list(out.values())


def _block(block: Block, ids: FileIds) -> dict[str, Any]:
    return {
        "id": ids.get("block", block.id),
        "label": block.label,
        "value": block.value,
        "limit": block.limit,
        "description": block.description or None,
        "read_only": block.read_only,
        "metadata": block.metadata or {},
        "is_template": block.is_template,
        "template_name": block.template_name or None,
    }


def _group(group: Group, primary: Agent, file_id: str, ids: FileIds) -> dict[str, Any]:
    processed = None
    if group.last_processed_message_id:
        processed = ids.known("message", group.last_processed_message_id)
    return {
        "id": file_id,
        "agent_ids": [ids.get("agent", member.id) for member in sleeptime.sleeptime_agents(group)],
        "description": group.description,
        "manager_config": {
            "manager_type": "sleeptime",
            "manager_agent_id": ids.get("agent", primary.id),
            "sleeptime_agent_frequency": group.sleeptime_agent_frequency,
            # Reverie's own settings; Letta's manager configs ignore keys they lack.
            "sleeptime_idle_seconds": group.sleeptime_idle_seconds,
            "enabled": bool(primary.enable_sleeptime),
            "last_processed_message_id": processed,
        },
        "project_id": None,
        "shared_block_ids": [],
    }
