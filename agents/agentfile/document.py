"""Reading an Agent File (`.af`, the JSON of letta-ai/agent-file) into checked entries.

`read` takes the parsed JSON and returns a `Document` whose every id reference resolves,
or raises `AgentFileInvalid` naming the JSON path of the first problem and what is wrong
with it (`agents[0].block_ids[1]: no block 'block-3' in blocks[]`). Nothing is written
anywhere: the importer checks the whole file here before it stores anything.

The shape is the one Letta's server 0.16 exports (letta/schemas/agent_file.py there):
`agents[]` with their messages, `blocks[]`, `tools[]`, `groups[]`, `sources[]`,
`files[]` and `mcp_servers[]`, each object with a file-local `id` that the others refer
to. Letta writes `null` for most fields it has no value for, so a null reads as absent.
Framework-free: no Django here.
"""

from __future__ import annotations

import json
from collections.abc import Collection
from datetime import datetime
from typing import Any

from agents import tool_rules
from agents.agentfile.entries import (
    BUILTIN_TOOL_TYPE_PREFIX,
    MAX_LABEL,
    MAX_NAME,
    MAX_SHORT,
    MIN_CONTEXT_WINDOW,
    ROLES,
    AgentEntry,
    AgentFileInvalid,
    BlockEntry,
    Document,
    FileEntry,
    GroupEntry,
    MessageEntry,
    SourceEntry,
    ToolCallEntry,
    ToolEntry,
    ToolReturnEntry,
)
from agents.agentfile.values import (
    agent_name,
    an_object,
    at,
    flag_at,
    handle,
    id_at,
    integer_at,
    items_at,
    kind_of,
    mapping_at,
    number_at,
    text_at,
    texts_at,
)

__all__ = ["AgentFileInvalid", "Document", "agent_name", "read"]


# --- The file ------------------------------------------------------------------------------


def read(raw: Any, *, agent_types: Collection[str]) -> Document:
    """The checked content of an Agent File, parsed from JSON (see the module's doc)."""
    if not isinstance(raw, dict):
        raise AgentFileInvalid(
            "",
            f"This file holds {kind_of(raw)}, not an Agent File: a JSON object with agents[], "
            "blocks[], tools[] and the other lists of Letta's format.",
        )
    if "agents" not in raw and ("memory" in raw or "core_memory" in raw or "llm_config" in raw):
        raise AgentFileInvalid(
            "",
            "This is an agent file in Letta's legacy single-agent format, which Letta's "
            "server no longer imports either: export the agent again from Letta 0.8 or later "
            "(the format with agents[], blocks[] and tools[]).",
        )
    agents = [
        _agent(item, where, agent_types)
        for item, where in items_at(raw, "agents", "", required=True)
    ]
    if not agents:
        raise AgentFileInvalid("agents", "the file holds no agent")
    document = Document(
        agents=agents,
        blocks=_by_id([_block(item, where) for item, where in items_at(raw, "blocks", "")]),
        tools=_by_id([_tool(item, where) for item, where in items_at(raw, "tools", "")]),
        groups=[_group(item, where) for item, where in items_at(raw, "groups", "")],
        sources=_by_id([_source(item, where) for item, where in items_at(raw, "sources", "")]),
        files=[_file(item, where) for item, where in items_at(raw, "files", "")],
        mcp_servers=[_mcp_server(item, where) for item, where in items_at(raw, "mcp_servers", "")],
    )
    _by_id(document.agents)
    _by_id(document.groups)
    _by_id(document.files)
    _check_references(document)
    return document


def _by_id(entries: list[Any]) -> dict[str, Any]:
    seen: dict[str, Any] = {}
    for entry in entries:
        if entry.id in seen:
            raise AgentFileInvalid(
                f"{entry.path}.id", f"{entry.id!r} is the id of {seen[entry.id].path} too"
            )
        seen[entry.id] = entry
    return seen


def _block(item: Any, path: str) -> BlockEntry:
    obj = an_object(item, path)
    value = text_at(obj, "value", path, required=True) or ""
    label = text_at(obj, "label", path, required=True) or ""
    if not label.strip():
        raise AgentFileInvalid(f"{path}.label", "must not be empty")
    if len(label) > MAX_LABEL:
        raise AgentFileInvalid(f"{path}.label", f"is longer than {MAX_LABEL} characters")
    limit = integer_at(obj, "limit", path, minimum=1)
    if limit is not None and len(value) > limit:
        # Letta's server let a block outgrow its limit (letta-ai/agent-file has such
        # files); Reverie's never does, so the limit grows to fit and the agent condenses.
        limit = len(value)
    return BlockEntry(
        id=id_at(obj, path),
        path=path,
        label=label,
        value=value,
        limit=limit,
        description=text_at(obj, "description", path) or "",
        read_only=bool(flag_at(obj, "read_only", path)),
        metadata=mapping_at(obj, "metadata", path),
        is_template=bool(flag_at(obj, "is_template", path)),
        template_name=text_at(obj, "template_name", path, max_length=MAX_NAME) or "",
    )


def _tool(item: Any, path: str) -> ToolEntry:
    obj = an_object(item, path)
    name = text_at(obj, "name", path, required=True) or ""
    if not name:
        raise AgentFileInvalid(f"{path}.name", "must not be empty")
    tool_type = text_at(obj, "tool_type", path)
    source_code = text_at(obj, "source_code", path)
    if tool_type is None:
        builtin = not source_code
    else:
        builtin = tool_type.startswith(BUILTIN_TOOL_TYPE_PREFIX)
    definition = {key: value for key, value in obj.items() if key != "id"}
    return ToolEntry(
        id=id_at(obj, path), path=path, name=name, builtin=builtin, definition=definition
    )


def _group(item: Any, path: str) -> GroupEntry:
    obj = an_object(item, path)
    config_path = f"{path}.manager_config"
    config = an_object(obj.get("manager_config"), config_path)
    manager_type = text_at(config, "manager_type", config_path, required=True)
    if manager_type != "sleeptime":
        raise AgentFileInvalid(
            f"{config_path}.manager_type",
            f"Reverie has sleep-time groups only, not {manager_type!r} groups",
        )
    agent_ids = texts_at(obj, "agent_ids", path)
    if "agent_ids" not in obj or obj["agent_ids"] is None:
        raise AgentFileInvalid(f"{path}.agent_ids", "is required")
    return GroupEntry(
        id=id_at(obj, path),
        path=path,
        manager_agent_id=id_at(config, config_path, "manager_agent_id"),
        agent_ids=agent_ids,
        description=text_at(obj, "description", path) or "",
        frequency=integer_at(config, "sleeptime_agent_frequency", config_path),
        idle_seconds=integer_at(config, "sleeptime_idle_seconds", config_path),
        enabled=flag_at(config, "enabled", config_path),
        last_processed_message_id=text_at(config, "last_processed_message_id", config_path),
    )


def _source(item: Any, path: str) -> SourceEntry:
    obj = an_object(item, path)
    name = text_at(obj, "name", path, required=True) or ""
    if not name.strip():
        raise AgentFileInvalid(f"{path}.name", "must not be empty")
    config = mapping_at(obj, "embedding_config", path)
    config_path = f"{path}.embedding_config"
    embedding = text_at(obj, "embedding", path) or _embedding_handle(config, config_path)
    return SourceEntry(
        id=id_at(obj, path),
        path=path,
        name=name,
        description=text_at(obj, "description", path) or "",
        instructions=text_at(obj, "instructions", path) or "",
        metadata=mapping_at(obj, "metadata", path),
        embedding=handle(embedding, f"{path}.embedding") if embedding else None,
        embedding_chunk_size=integer_at(obj, "embedding_chunk_size", path, minimum=1)
        or integer_at(config, "embedding_chunk_size", config_path, minimum=1),
    )


def _file(item: Any, path: str) -> FileEntry:
    obj = an_object(item, path)
    file_id = id_at(obj, path)
    name = text_at(obj, "file_name", path) or text_at(obj, "original_file_name", path) or file_id
    return FileEntry(
        id=file_id,
        path=path,
        source_id=id_at(obj, path, "source_id"),
        file_name=name,
        file_type=text_at(obj, "file_type", path) or "text/plain",
        file_size=integer_at(obj, "file_size", path),
        content=text_at(obj, "content", path),
    )


def _mcp_server(item: Any, path: str) -> dict[str, Any]:
    obj = an_object(item, path)
    id_at(obj, path)
    text_at(obj, "server_name", path, required=True)
    return {key: value for key, value in obj.items() if key != "id"}


def _embedding_handle(config: dict[str, Any], path: str) -> str | None:
    handle = text_at(config, "handle", path)
    if handle:
        return handle
    model = text_at(config, "embedding_model", path)
    if not model:
        return None
    return f"{text_at(config, 'embedding_endpoint_type', path) or 'openai'}/{model}"


def _agent(item: Any, path: str, agent_types: Collection[str]) -> AgentEntry:
    obj = an_object(item, path)
    agent_type = text_at(obj, "agent_type", path) or "memgpt_v2_agent"
    if agent_type not in agent_types:
        raise AgentFileInvalid(
            f"{path}.agent_type",
            f"{agent_type!r} is not an agent type Reverie runs (one of "
            f"{', '.join(sorted(agent_types))})",
        )
    llm_path = f"{path}.llm_config"
    llm = mapping_at(obj, "llm_config", path)
    model = text_at(llm, "handle", llm_path)
    if model:
        model = handle(model, f"{llm_path}.handle")
    elif text_at(llm, "model", llm_path):
        model = f"{text_at(llm, 'model_endpoint_type', llm_path) or 'openai'}/{llm['model']}"
        model = handle(model, f"{llm_path}.model")
    else:
        model = text_at(obj, "model", path)
        if not model:
            raise AgentFileInvalid(path, "needs a model: an llm_config with its handle or model")
        model = handle(model, f"{path}.model")
    context_window = integer_at(llm, "context_window", llm_path)
    if context_window is not None and context_window < MIN_CONTEXT_WINDOW:
        raise AgentFileInvalid(
            f"{llm_path}.context_window", f"must be at least {MIN_CONTEXT_WINDOW} tokens"
        )
    embedding_path = f"{path}.embedding_config"
    embedding_config = mapping_at(obj, "embedding_config", path)
    embedding = _embedding_handle(embedding_config, embedding_path) or text_at(
        obj, "embedding", path
    )
    rules = None
    if obj.get("tool_rules") is not None:
        rules = []
        for rule, where in items_at(obj, "tool_rules", path):
            try:
                # Every field of the rule's type comes along; a rule may name tools the
                # file did not bring (they constrain nothing here, and travel on).
                rules.append(tool_rules.normalise(an_object(rule, where)))
            except tool_rules.RuleInvalid as error:
                raise AgentFileInvalid(where, str(error)) from None
    messages = [_message(message, where) for message, where in items_at(obj, "messages", path)]
    file_links = []
    for files_agent, where in items_at(obj, "files_agents", path):
        files_agent = an_object(files_agent, where)
        file_links.append(
            (id_at(files_agent, where, "file_id"), id_at(files_agent, where, "source_id"), where)
        )
    return AgentEntry(
        id=id_at(obj, path),
        path=path,
        name=agent_name(text_at(obj, "name", path)),
        agent_type=agent_type,
        system=text_at(obj, "system", path),
        description=text_at(obj, "description", path) or "",
        model=model,
        context_window=context_window,
        temperature=number_at(llm, "temperature", llm_path),
        max_tokens=integer_at(llm, "max_tokens", llm_path, minimum=1),
        embedding=handle(embedding, embedding_path) if embedding else None,
        embedding_chunk_size=integer_at(
            embedding_config, "embedding_chunk_size", embedding_path, minimum=1
        ),
        tool_ids=texts_at(obj, "tool_ids", path),
        tool_rules=rules,
        tags=texts_at(obj, "tags", path),
        metadata=mapping_at(obj, "metadata", path),
        timezone=text_at(obj, "timezone", path, max_length=64),
        enable_sleeptime=flag_at(obj, "enable_sleeptime", path),
        block_ids=texts_at(obj, "block_ids", path),
        source_ids=texts_at(obj, "source_ids", path) + texts_at(obj, "folder_ids", path),
        messages=messages,
        in_context_message_ids=texts_at(obj, "in_context_message_ids", path),
        file_links=file_links,
    )


# --- Messages ------------------------------------------------------------------------------


def _message(item: Any, path: str) -> MessageEntry:
    obj = an_object(item, path)
    role = text_at(obj, "role", path, required=True)
    if role not in ROLES:
        raise AgentFileInvalid(f"{path}.role", f"{role!r} is not one of {', '.join(ROLES)}")
    texts: list[str] = []
    reasoning: list[str] = []
    calls: list[ToolCallEntry] = []
    returns: list[ToolReturnEntry] = []
    content = obj.get("content")
    if isinstance(content, str):
        texts.append(content)
    elif content is not None:
        for part, where in items_at(obj, "content", path):
            _content_part(part, where, texts, reasoning, calls, returns)
    for call, where in items_at(obj, "tool_calls", path):
        calls.append(_tool_call(call, where))
    tool_call_id = text_at(obj, "tool_call_id", path, max_length=MAX_SHORT) or ""
    for tool_return, where in items_at(obj, "tool_returns", path):
        returns.append(_tool_return(tool_return, where, tool_call_id))
    return MessageEntry(
        id=id_at(obj, path),
        path=path,
        role="tool" if role == "function" else role,
        text="\n".join(texts),
        reasoning="\n".join(reasoning),
        tool_calls=calls,
        tool_call_id=tool_call_id,
        tool_returns=returns,
        name=text_at(obj, "name", path, max_length=MAX_SHORT) or "",
        otid=text_at(obj, "otid", path, max_length=MAX_SHORT) or "",
        sender_id=text_at(obj, "sender_id", path, max_length=MAX_SHORT) or "",
        created_at=_moment(obj, "created_at", path),
    )


def _content_part(
    part: Any,
    path: str,
    texts: list[str],
    reasoning: list[str],
    calls: list[ToolCallEntry],
    returns: list[ToolReturnEntry],
) -> None:
    part = an_object(part, path)
    kind = text_at(part, "type", path, required=True)
    if kind == "text":
        texts.append(text_at(part, "text", path, required=True) or "")
    elif kind == "reasoning":
        reasoning.append(text_at(part, "reasoning", path, required=True) or "")
    elif kind == "summarized_reasoning":
        for summary, where in items_at(part, "summary", path):
            reasoning.append(text_at(an_object(summary, where), "text", where) or "")
    elif kind == "image":
        texts.append("[image]")
    elif kind == "tool_call":
        arguments = part.get("input")
        calls.append(
            ToolCallEntry(
                id=id_at(part, path),
                name=id_at(part, path, "name"),
                arguments=json.dumps(an_object(arguments, f"{path}.input"))
                if arguments is not None
                else "{}",
            )
        )
    elif kind == "tool_return":
        is_error = flag_at(part, "is_error", path)
        returns.append(
            ToolReturnEntry(
                tool_call_id=id_at(part, path, "tool_call_id", max_length=MAX_SHORT),
                status="error" if is_error else "success",
                text=text_at(part, "content", path) or "",
            )
        )
    elif kind in ("omitted_reasoning", "redacted_reasoning"):
        return  # the provider kept the reasoning to itself; there is nothing to show
    else:
        raise AgentFileInvalid(f"{path}.type", f"{kind!r} is not a kind of message content")


def _tool_call(item: Any, path: str) -> ToolCallEntry:
    obj = an_object(item, path)
    function = an_object(obj.get("function"), f"{path}.function")
    arguments = function.get("arguments")
    if isinstance(arguments, dict):
        arguments = json.dumps(arguments)
    elif arguments is not None and not isinstance(arguments, str):
        raise AgentFileInvalid(
            f"{path}.function.arguments", f"must be a string, not {kind_of(arguments)}"
        )
    return ToolCallEntry(
        id=id_at(obj, path),
        name=id_at(function, f"{path}.function", "name"),
        arguments=arguments or "",
    )


def _tool_return(item: Any, path: str, message_call_id: str) -> ToolReturnEntry:
    obj = an_object(item, path)
    status = text_at(obj, "status", path) or "success"
    if status not in ("success", "error"):
        raise AgentFileInvalid(f"{path}.status", f"{status!r} is not 'success' or 'error'")
    response = obj.get("func_response")
    if isinstance(response, list):
        pieces = []
        for part, where in items_at(obj, "func_response", path):
            part = an_object(part, where)
            pieces.append(text_at(part, "text", where) or "[image]")
        text = "\n".join(pieces)
    elif response is None or isinstance(response, str):
        text = response or ""
    else:
        raise AgentFileInvalid(
            f"{path}.func_response", f"must be a string, not {kind_of(response)}"
        )
    call_id = text_at(obj, "tool_call_id", path, max_length=MAX_SHORT) or message_call_id
    if not call_id:
        raise AgentFileInvalid(f"{path}.tool_call_id", "is required")
    return ToolReturnEntry(tool_call_id=call_id, status=status, text=text)


def _moment(obj: dict[str, Any], key: str, path: str) -> datetime | None:
    value = text_at(obj, key, path)
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise AgentFileInvalid(at(path, key), f"{value!r} is not an ISO date and time") from None
    if moment.tzinfo is None:
        raise AgentFileInvalid(at(path, key), f"{value!r} has no time zone")
    return moment


# --- References ----------------------------------------------------------------------------


def _check_references(document: Document) -> None:
    agents = {agent.id: agent for agent in document.agents}
    message_ids: dict[str, str] = {}
    for agent in document.agents:
        for message in agent.messages:
            if message.id in message_ids:
                raise AgentFileInvalid(
                    f"{message.path}.id",
                    f"{message.id!r} is the id of {message_ids[message.id]} too",
                )
            message_ids[message.id] = message.path
        _check_agent_references(agent, document)
    # An agent's group_ids are not checked: Letta's server reads groups from groups[] only,
    # and writes group_ids of groups it left out of the file (letta-ai/agent-file has some).
    managers: dict[str, str] = {}
    for group in document.groups:
        where = f"{group.path}.manager_config.manager_agent_id"
        if group.manager_agent_id not in agents:
            raise AgentFileInvalid(where, f"no agent {group.manager_agent_id!r} in agents[]")
        if group.manager_agent_id in managers:
            raise AgentFileInvalid(
                where,
                f"agent {group.manager_agent_id!r} manages {managers[group.manager_agent_id]} "
                "already; an agent has one sleep-time group",
            )
        managers[group.manager_agent_id] = group.path
        for index, member in enumerate(group.agent_ids):
            if member not in agents:
                raise AgentFileInvalid(
                    f"{group.path}.agent_ids[{index}]", f"no agent {member!r} in agents[]"
                )
            if member == group.manager_agent_id:
                raise AgentFileInvalid(
                    f"{group.path}.agent_ids[{index}]",
                    f"{member!r} manages this group; its sleep-time agents are the others",
                )
        if group.last_processed_message_id is not None:
            manager = agents[group.manager_agent_id]
            if group.last_processed_message_id not in {m.id for m in manager.messages}:
                raise AgentFileInvalid(
                    f"{group.path}.manager_config.last_processed_message_id",
                    f"no message {group.last_processed_message_id!r} in {manager.path}.messages",
                )
    for upload in document.files:
        if upload.source_id not in document.sources:
            raise AgentFileInvalid(
                f"{upload.path}.source_id", f"no source {upload.source_id!r} in sources[]"
            )


def _check_agent_references(agent: AgentEntry, document: Document) -> None:
    labels: dict[str, str] = {}
    for index, block_id in enumerate(agent.block_ids):
        block = document.blocks.get(block_id)
        if block is None:
            raise AgentFileInvalid(
                f"{agent.path}.block_ids[{index}]", f"no block {block_id!r} in blocks[]"
            )
        other = labels.get(block.label)
        if other is not None and other != block_id:
            raise AgentFileInvalid(
                f"{agent.path}.block_ids[{index}]",
                f"blocks {other!r} and {block_id!r} are both labelled {block.label!r}; "
                "an agent's block labels must differ",
            )
        labels[block.label] = block_id
    for index, tool_id in enumerate(agent.tool_ids):
        if tool_id not in document.tools:
            raise AgentFileInvalid(
                f"{agent.path}.tool_ids[{index}]", f"no tool {tool_id!r} in tools[]"
            )
    for index, source_id in enumerate(agent.source_ids):
        if source_id not in document.sources:
            raise AgentFileInvalid(
                f"{agent.path}.source_ids[{index}]", f"no source {source_id!r} in sources[]"
            )
    own = {message.id for message in agent.messages}
    for index, message_id in enumerate(agent.in_context_message_ids):
        if message_id not in own:
            raise AgentFileInvalid(
                f"{agent.path}.in_context_message_ids[{index}]",
                f"no message {message_id!r} in {agent.path}.messages",
            )
    files = {upload.id for upload in document.files}
    for file_id, source_id, where in agent.file_links:
        if file_id not in files:
            raise AgentFileInvalid(f"{where}.file_id", f"no file {file_id!r} in files[]")
        if source_id not in document.sources:
            raise AgentFileInvalid(f"{where}.source_id", f"no source {source_id!r} in sources[]")
        # An agent with a file of a source has the source attached (Letta's file-agent rows).
        if source_id not in agent.source_ids:
            agent.source_ids.append(source_id)
