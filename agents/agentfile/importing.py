"""An Agent File into the importer's organization, in one transaction.

The whole file is read and checked first (agents.agentfile.document), so a bad file is
refused with the place of its problem before anything is written; the writing then runs
in one transaction, so nothing of a file is ever half imported. Ids are the file's own
and are remapped: every object is created anew, owned by the importer.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Max

from accounts.access import organization_of
from accounts.models import Organization
from agents import prompts, services, sleeptime
from agents.agentfile.document import read
from agents.agentfile.entries import (
    MAX_HANDLE,
    MAX_NAME,
    AgentEntry,
    AgentFileInvalid,
    Document,
    MessageEntry,
    ToolEntry,
)
from agents.agentfile.exporting import MCP_SERVERS, UNAVAILABLE_TOOLS
from agents.agentfile.messages import history
from agents.agentfile.parts import REGISTRY, SourcesImport
from agents.models import Agent, AgentType, Group, ManagerType, Message
from agents.tools import TOOLS, default_rules
from config.errors import InvalidRequest, PayloadTooLarge
from config.text import unstorable_at
from memory import services as memory_services
from memory.models import Block
from toolbox import services as toolbox_services

DEFAULT_CONTEXT_WINDOW = 128_000


@dataclass(frozen=True)
class ImportOptions:
    """Letta's import form: drop the history, rename, or use another model or embedder."""

    strip_messages: bool = False
    # Letta's default: imported agents are named `<name>_copy`.
    append_copy_suffix: bool = True
    name: str | None = None
    model: str | None = None
    embedding: str | None = None
    # A custom tool of the file whose name the organization has: its source replaces
    # the organization's (Letta's default), or the organization's stays.
    override_existing_tools: bool = True
    # Environment variables for the file's custom tools (Letta's `secrets`), sealed.
    secrets: dict[str, str] | None = None


def max_bytes() -> int:
    return int(settings.MAX_UPLOAD_MB) * 1024 * 1024


def check_size(size: int | None) -> None:
    """Refuse a file over MAX_UPLOAD_MB before reading it."""
    limit = max_bytes()
    if size is not None and size > limit:
        raise PayloadTooLarge(
            f"The agent file is {size / 1024 / 1024:.1f} MB; the limit is "
            f"{settings.MAX_UPLOAD_MB} MB (MAX_UPLOAD_MB)."
        )


def parse_agent_file(data: bytes) -> Document:
    """The checked content of an uploaded Agent File, or AgentFileInvalid saying where."""
    check_size(len(data))
    try:
        raw = json.loads(data.decode("utf-8-sig"))
        if isinstance(raw, str):
            # Some published files are JSON documents encoded once more as a JSON string.
            raw = json.loads(raw)
    except UnicodeDecodeError:
        raise AgentFileInvalid("", "The file is not text (UTF-8 JSON).") from None
    except ValueError as error:
        raise AgentFileInvalid("", f"The file is not JSON: {error}.") from None
    except RecursionError:
        raise AgentFileInvalid("", "The file nests its JSON too deeply to be read.") from None
    found = unstorable_at(raw)
    if found is not None:
        where, what = found
        raise AgentFileInvalid(where if where != "(the body)" else "", f"holds {what}")
    return read(raw, agent_types=AgentType.values)


def import_agent_file(user: Any, data: bytes, options: ImportOptions | None = None) -> list[Agent]:
    """Create every agent of the file (sleep-time agents too) in `user`'s organization,
    with their blocks, history, groups and sources; returns them in the file's order."""
    options = options or ImportOptions()
    _check_options(options)
    document = parse_agent_file(data)
    organization = organization_of(user)
    with transaction.atomic():
        blocks = _blocks(user, organization, document)
        participants = document.participants()
        agents: dict[str, Agent] = {}
        for entry in document.agents:
            agents[entry.id] = _create_agent(
                user, organization, entry, document, options, entry.id in participants
            )
            for block_id in dict.fromkeys(entry.block_ids):
                memory_services.attach_block(agents[entry.id], blocks[block_id])
        stored = {
            entry.id: _store_history(
                agents[entry.id],
                [] if options.strip_messages else entry.messages,
                [] if options.strip_messages else entry.in_context_message_ids,
            )
            for entry in document.agents
        }
        _groups(user, organization, document, agents, stored)
        _sources(user, organization, document, agents, options)
    return [Agent.objects.get(pk=agents[entry.id].pk) for entry in document.agents]


def _check_options(options: ImportOptions) -> None:
    if options.name is not None and not (
        services.NAME_PATTERN.match(options.name) and len(options.name) <= MAX_NAME
    ):
        raise InvalidRequest(
            "name: an agent name may contain letters, digits, spaces, '_', '-' and '.' "
            f"(at most {MAX_NAME})."
        )
    for handle, what in ((options.model, "model"), (options.embedding, "embedding")):
        if handle is None:
            continue
        provider, _, model = handle.partition("/")
        if not provider.strip() or not model.strip() or len(handle) > MAX_HANDLE:
            raise InvalidRequest(f"{what}: {handle!r} must look like 'provider/model-name'")


def _groups(
    user: Any,
    organization: Organization,
    document: Document,
    agents: dict[str, Agent],
    stored: dict[str, dict[str, Message]],
) -> None:
    """Each sleep-time group as Reverie's pair, its agents as the file has them; an agent
    that asks for sleep-time without a group in the file gets a new pair."""
    for group in document.groups:
        primary = agents[group.manager_agent_id]
        made = Group.objects.create(
            owner=user,
            organization=organization,
            manager_type=ManagerType.SLEEPTIME,
            manager_agent=primary,
            description=group.description,
            sleeptime_agent_frequency=group.frequency,
            turns_counter=-1,
            sleeptime_idle_seconds=300 if group.idle_seconds is None else group.idle_seconds,
        )
        made.participants.add(*(agents[member] for member in group.agent_ids))
        history = stored[group.manager_agent_id]
        last = history.get(group.last_processed_message_id or "") or history.get("")
        if last is not None:
            # The memory in the file was learned from the history in it: the next run
            # reads what is said after the import, unless the file says it read less.
            Group.objects.filter(pk=made.pk).update(
                last_processed_seq=last.seq, last_processed_message_id=last.uid
            )
        Agent.objects.filter(pk=primary.pk).update(
            enable_sleeptime=True if group.enabled is None else group.enabled
        )
    managers = {group.manager_agent_id for group in document.groups}
    participants = document.participants()
    for entry in document.agents:
        if entry.enable_sleeptime and entry.id not in managers | participants:
            sleeptime.create_pair(agents[entry.id])


def _sources(
    user: Any,
    organization: Organization,
    document: Document,
    agents: dict[str, Agent],
    options: ImportOptions,
) -> None:
    if not document.sources:
        return
    if REGISTRY.import_sources is None:
        raise AgentFileInvalid("sources", "this server cannot import sources")
    attached: dict[str, list[Agent]] = {}
    for entry in document.agents:
        for source_id in dict.fromkeys(entry.source_ids):
            attached.setdefault(source_id, []).append(agents[entry.id])
    REGISTRY.import_sources(
        SourcesImport(
            owner=user,
            organization=organization,
            sources=document.sources,
            files=document.files,
            attached=attached,
            embedding=options.embedding,
        )
    )


def _blocks(user: Any, organization: Organization, document: Document) -> dict[str, Block]:
    """The blocks the agents use (shared ones once), as versions made by the importer."""
    used = dict.fromkeys(block_id for entry in document.agents for block_id in entry.block_ids)
    made = {}
    for block_id in used:
        entry = document.blocks[block_id]
        made[block_id] = memory_services.create_block(
            user,
            organization=organization,
            label=entry.label,
            value=entry.value,
            limit=entry.limit if entry.limit is not None else max(len(entry.value), 5000),
            description=entry.description,
            read_only=entry.read_only,
            metadata=entry.metadata,
            is_template=entry.is_template,
            template_name=entry.template_name,
        )
    return made


def _create_agent(
    user: Any,
    organization: Organization,
    entry: AgentEntry,
    document: Document,
    options: ImportOptions,
    participant: bool,
) -> Agent:
    tools: list[str] = []
    unavailable: list[dict[str, Any]] = []
    for tool_id in dict.fromkeys(entry.tool_ids):
        tool = document.tools[tool_id]
        if tool.builtin and tool.name in TOOLS:
            tools.append(tool.name)
        elif (made := _custom_tool(user, tool, options)) is not None:
            tools.append(made)
        else:
            unavailable.append(tool.definition)
    metadata = dict(entry.metadata)
    if unavailable:
        metadata[UNAVAILABLE_TOOLS] = unavailable
    if document.mcp_servers and not participant:
        metadata[MCP_SERVERS] = document.mcp_servers
    if options.name and not participant:
        name = options.name
    else:
        suffix = "_copy" if options.append_copy_suffix else ""
        name = entry.name[: MAX_NAME - len(suffix)] + suffix
    return Agent.objects.create(
        owner=user,
        organization=organization,
        name=name,
        description=entry.description,
        system=entry.system
        if entry.system is not None
        else prompts.default_system_prompt(entry.agent_type),
        agent_type=entry.agent_type,
        llm_handle=options.model or entry.model,
        context_window=entry.context_window or DEFAULT_CONTEXT_WINDOW,
        temperature=0.7 if entry.temperature is None else entry.temperature,
        max_tokens=entry.max_tokens,
        embedding_handle=options.embedding or entry.embedding or str(settings.DEFAULT_EMBEDDING),
        embedding_chunk_size=entry.embedding_chunk_size or 300,
        tools=tools,
        tool_rules=entry.tool_rules if entry.tool_rules is not None else default_rules(tools),
        tags=entry.tags,
        metadata=metadata,
        timezone=entry.timezone or "UTC",
        enable_sleeptime=entry.enable_sleeptime,
    )


def _custom_tool(user: Any, tool: ToolEntry, options: ImportOptions) -> str | None:
    """The file's custom tool as one of the organization's (made, updated or kept, by
    `override_existing_tools`); None when it is not one Reverie can run (an MCP server's,
    Letta's own, or source that does not parse), which then stays in the agent's
    metadata so that its export gives it back."""
    definition = tool.definition
    source = definition.get("source_code")
    if definition.get("tool_type") not in (None, "custom") or not isinstance(source, str):
        return None
    if not source.strip() or tool.name in TOOLS:
        return None

    def an(kind: type, key: str) -> Any:
        value = definition.get(key)
        return value if isinstance(value, kind) and not isinstance(value, bool) else None

    spec = toolbox_services.ToolSpec(
        source_code=source,
        description=an(str, "description"),
        tags=[str(tag) for tag in an(list, "tags") or [] if isinstance(tag, str)],
        json_schema=an(dict, "json_schema"),
        args_json_schema=an(dict, "args_json_schema"),
        return_char_limit=min(max(an(int, "return_char_limit") or 6000, 1), 1_000_000),
        pip_requirements=[
            {key: str(item[key]) for key in ("name", "version") if item.get(key)}
            for item in an(list, "pip_requirements") or []
            if isinstance(item, dict)
        ],
        environment=options.secrets,
    )
    existing = toolbox_services.tools_named(organization_of(user).pk, [tool.name]).get(tool.name)
    try:
        if existing is not None and not options.override_existing_tools:
            return existing.name
        if existing is not None:
            return toolbox_services.update_tool(existing, spec, reserved=TOOLS).name
        return toolbox_services.create_tool(user, spec, reserved=TOOLS).name
    except InvalidRequest:
        return None


def _store_history(
    agent: Agent, entries: list[MessageEntry], in_context_ids: list[str]
) -> dict[str, Message]:
    """Store the agent's messages; returns the stored row of each file message id, and
    under "" the last one."""
    made = history(agent, entries, in_context_ids)
    if made.summary:
        Agent.objects.filter(pk=agent.pk).update(summary=made.summary)
    if not made.rows:
        return {}
    moments = [row.created_at for row in made.rows]
    stored = Message.objects.bulk_create(made.rows, batch_size=500)
    # created_at is set on insert (auto_now_add); the history keeps its own dates.
    for row, moment in zip(stored, moments, strict=True):
        row.created_at = moment
    Message.objects.bulk_update(stored, ["created_at"], batch_size=500)
    last = Message.objects.filter(agent=agent).aggregate(seq=Max("seq"))["seq"]
    # Sleep-time reads from the last finished turn; the imported history is one.
    Agent.objects.filter(pk=agent.pk).update(last_turn_end_seq=last, last_turn_at=moments[-1])
    by_id = dict(made.rows_by_id)
    by_id[""] = stored[-1]
    return by_id
