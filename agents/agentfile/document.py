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
import re
import unicodedata
from collections.abc import Collection, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from config.errors import InvalidRequest

# Letta's tool types for the tools its server brings; a tool of another type (custom,
# external_mcp, external_composio, ...) is code or a service of its own.
BUILTIN_TOOL_TYPE_PREFIX = "letta_"
ROLES = ("system", "user", "assistant", "tool", "function", "approval")
# Where a Letta summary of evicted messages starts, in the system alert that carries it
# (letta/system.py, package_summarize_message*).
_SUMMARY = re.compile(
    r"The following is a summary of the previous (?:\d+ )?messages:\n ?(?P<summary>.*)\Z", re.S
)
# An agent name Reverie accepts (agents.services.NAME_PATTERN); other characters are
# replaced when a file's name has them.
_NAME_CHARS = re.compile(r"[^A-Za-z0-9 _.-]+")
MAX_NAME = 200
MAX_LABEL = 100
# What the database's columns hold (agents.models, memory.models).
MAX_HANDLE = 200
MAX_SHORT = 100
MIN_CONTEXT_WINDOW = 1000


class AgentFileInvalid(InvalidRequest):
    """The file cannot be imported; the message says where (a JSON path) and why."""

    def __init__(self, path: str, problem: str) -> None:
        super().__init__(f"{path}: {problem}" if path else problem)
        self.path = path


# --- Entries -------------------------------------------------------------------------------


@dataclass
class BlockEntry:
    id: str
    path: str
    label: str
    value: str
    limit: int | None
    description: str
    read_only: bool
    metadata: dict[str, Any]
    is_template: bool
    template_name: str


@dataclass
class ToolEntry:
    id: str
    path: str
    name: str
    # Letta's own tool (by type), which Reverie may have under the same name.
    builtin: bool
    # The file's definition without its file-local id, kept for tools Reverie lacks.
    definition: dict[str, Any]


@dataclass
class ToolCallEntry:
    id: str
    name: str
    arguments: str


@dataclass
class ToolReturnEntry:
    tool_call_id: str
    status: str  # "success" or "error"
    text: str


@dataclass
class MessageEntry:
    id: str
    path: str
    role: str
    text: str
    reasoning: str
    tool_calls: list[ToolCallEntry]
    tool_call_id: str
    tool_returns: list[ToolReturnEntry]
    name: str
    otid: str
    sender_id: str
    created_at: datetime | None

    @property
    def summary(self) -> str | None:
        """The summary a Letta system alert carries, if this message is one."""
        if self.role != "user" or not self.text.startswith("{"):
            return None
        try:
            packed = json.loads(self.text)
        except ValueError:
            return None
        if not isinstance(packed, dict) or packed.get("type") != "system_alert":
            return None
        found = _SUMMARY.search(str(packed.get("message", "")))
        return found.group("summary") if found else None


@dataclass
class AgentEntry:
    id: str
    path: str
    name: str
    agent_type: str
    system: str | None
    description: str
    model: str
    context_window: int | None
    temperature: float | None
    max_tokens: int | None
    embedding: str | None
    embedding_chunk_size: int | None
    tool_ids: list[str]
    tool_rules: list[dict[str, Any]] | None
    tags: list[str]
    metadata: dict[str, Any]
    timezone: str | None
    enable_sleeptime: bool | None
    block_ids: list[str]
    source_ids: list[str]
    messages: list[MessageEntry]
    in_context_message_ids: list[str]
    # (file id, source id, path) of Letta's file-agent rows: the agent had these files.
    file_links: list[tuple[str, str, str]] = field(default_factory=list)


@dataclass
class GroupEntry:
    id: str
    path: str
    manager_agent_id: str
    agent_ids: list[str]
    description: str
    frequency: int | None
    # Reverie's own settings, which Letta's manager_config ignores (absent in its files).
    idle_seconds: int | None = None
    enabled: bool | None = None
    last_processed_message_id: str | None = None


@dataclass
class SourceEntry:
    id: str
    path: str
    name: str
    description: str
    instructions: str
    metadata: dict[str, Any]
    embedding: str | None
    embedding_chunk_size: int | None


@dataclass
class FileEntry:
    id: str
    path: str
    source_id: str
    file_name: str
    file_type: str
    file_size: int | None
    content: str | None


@dataclass
class Document:
    agents: list[AgentEntry]
    blocks: dict[str, BlockEntry]
    tools: dict[str, ToolEntry]
    groups: list[GroupEntry]
    sources: dict[str, SourceEntry]
    files: list[FileEntry]
    mcp_servers: list[dict[str, Any]] = field(default_factory=list)

    def participants(self) -> set[str]:
        """File ids of the agents that work for another in a group (sleep-time agents)."""
        return {agent_id for group in self.groups for agent_id in group.agent_ids}


# --- Reading values ------------------------------------------------------------------------


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    return "an object"


def _at(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _object(value: Any, path: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise AgentFileInvalid(path, f"must be an object, not {_kind(value)}")
    return value


def _text(
    obj: dict[str, Any],
    key: str,
    path: str,
    *,
    required: bool = False,
    max_length: int | None = None,
) -> str | None:
    value = obj.get(key)
    if value is None:
        if required:
            raise AgentFileInvalid(_at(path, key), "is required")
        return None
    if not isinstance(value, str):
        raise AgentFileInvalid(_at(path, key), f"must be a string, not {_kind(value)}")
    if max_length is not None and len(value) > max_length:
        raise AgentFileInvalid(_at(path, key), f"is longer than {max_length} characters")
    return value


def _id(obj: dict[str, Any], path: str, key: str = "id", *, max_length: int = 1000) -> str:
    value = _text(obj, key, path, required=True, max_length=max_length)
    assert value is not None
    if not value:
        raise AgentFileInvalid(_at(path, key), "must not be empty")
    return value


def _integer(obj: dict[str, Any], key: str, path: str, *, minimum: int = 0) -> int | None:
    value = obj.get(key)
    if value is None:
        return None
    # JSON's true is not a number, though Python's bool is an int.
    if isinstance(value, bool) or not isinstance(value, int | float) or value != int(value):
        raise AgentFileInvalid(_at(path, key), f"must be a whole number, not {_kind(value)}")
    if value < minimum:
        raise AgentFileInvalid(_at(path, key), f"must be at least {minimum}")
    if value > 2**31 - 1:
        raise AgentFileInvalid(_at(path, key), "is too large")
    return int(value)


def _number(obj: dict[str, Any], key: str, path: str) -> float | None:
    value = obj.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise AgentFileInvalid(_at(path, key), f"must be a number, not {_kind(value)}")
    return float(value)


def _flag(obj: dict[str, Any], key: str, path: str) -> bool | None:
    value = obj.get(key)
    if value is None:
        return None
    if not isinstance(value, bool):
        raise AgentFileInvalid(_at(path, key), f"must be true or false, not {_kind(value)}")
    return value


def _mapping(obj: dict[str, Any], key: str, path: str) -> dict[str, Any]:
    value = obj.get(key)
    if value is None:
        return {}
    return dict(_object(value, _at(path, key)))


def _items(
    obj: dict[str, Any], key: str, path: str, *, required: bool = False
) -> Iterator[tuple[Any, str]]:
    value = obj.get(key)
    if value is None:
        if required:
            raise AgentFileInvalid(_at(path, key), "is required")
        return
    if not isinstance(value, list):
        raise AgentFileInvalid(_at(path, key), f"must be a list, not {_kind(value)}")
    for index, item in enumerate(value):
        yield item, f"{_at(path, key)}[{index}]"


def _texts(obj: dict[str, Any], key: str, path: str) -> list[str]:
    out = []
    for item, where in _items(obj, key, path):
        if not isinstance(item, str):
            raise AgentFileInvalid(where, f"must be a string, not {_kind(item)}")
        out.append(item)
    return out


def _handle(value: str, path: str) -> str:
    if len(value) > MAX_HANDLE:
        raise AgentFileInvalid(path, f"is longer than {MAX_HANDLE} characters")
    provider, _, model = value.partition("/")
    if not provider.strip() or not model.strip():
        raise AgentFileInvalid(path, f"{value!r} must look like 'provider/model-name'")
    return value


def agent_name(name: str | None) -> str:
    """`name` as Reverie accepts agent names: accents dropped, other characters '-'."""
    ascii_name = unicodedata.normalize("NFKD", name or "").encode("ascii", "ignore").decode()
    cleaned = _NAME_CHARS.sub("-", " ".join(ascii_name.split())).strip(" -")[:MAX_NAME]
    return cleaned.strip() or "imported-agent"


# --- The file ------------------------------------------------------------------------------


def read(raw: Any, *, agent_types: Collection[str]) -> Document:
    """The checked content of an Agent File, parsed from JSON (see the module's doc)."""
    if not isinstance(raw, dict):
        raise AgentFileInvalid(
            "",
            f"This file holds {_kind(raw)}, not an Agent File: a JSON object with agents[], "
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
        _agent(item, where, agent_types) for item, where in _items(raw, "agents", "", required=True)
    ]
    if not agents:
        raise AgentFileInvalid("agents", "the file holds no agent")
    document = Document(
        agents=agents,
        blocks=_by_id([_block(item, where) for item, where in _items(raw, "blocks", "")]),
        tools=_by_id([_tool(item, where) for item, where in _items(raw, "tools", "")]),
        groups=[_group(item, where) for item, where in _items(raw, "groups", "")],
        sources=_by_id([_source(item, where) for item, where in _items(raw, "sources", "")]),
        files=[_file(item, where) for item, where in _items(raw, "files", "")],
        mcp_servers=[_mcp_server(item, where) for item, where in _items(raw, "mcp_servers", "")],
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
    obj = _object(item, path)
    value = _text(obj, "value", path, required=True) or ""
    label = _text(obj, "label", path, required=True) or ""
    if not label.strip():
        raise AgentFileInvalid(f"{path}.label", "must not be empty")
    if len(label) > MAX_LABEL:
        raise AgentFileInvalid(f"{path}.label", f"is longer than {MAX_LABEL} characters")
    limit = _integer(obj, "limit", path, minimum=1)
    if limit is not None and len(value) > limit:
        # Letta's server let a block outgrow its limit (letta-ai/agent-file has such
        # files); Reverie's never does, so the limit grows to fit and the agent condenses.
        limit = len(value)
    return BlockEntry(
        id=_id(obj, path),
        path=path,
        label=label,
        value=value,
        limit=limit,
        description=_text(obj, "description", path) or "",
        read_only=bool(_flag(obj, "read_only", path)),
        metadata=_mapping(obj, "metadata", path),
        is_template=bool(_flag(obj, "is_template", path)),
        template_name=_text(obj, "template_name", path, max_length=MAX_NAME) or "",
    )


def _tool(item: Any, path: str) -> ToolEntry:
    obj = _object(item, path)
    name = _text(obj, "name", path, required=True) or ""
    if not name:
        raise AgentFileInvalid(f"{path}.name", "must not be empty")
    tool_type = _text(obj, "tool_type", path)
    source_code = _text(obj, "source_code", path)
    if tool_type is None:
        builtin = not source_code
    else:
        builtin = tool_type.startswith(BUILTIN_TOOL_TYPE_PREFIX)
    definition = {key: value for key, value in obj.items() if key != "id"}
    return ToolEntry(
        id=_id(obj, path), path=path, name=name, builtin=builtin, definition=definition
    )


def _group(item: Any, path: str) -> GroupEntry:
    obj = _object(item, path)
    config_path = f"{path}.manager_config"
    config = _object(obj.get("manager_config"), config_path)
    manager_type = _text(config, "manager_type", config_path, required=True)
    if manager_type != "sleeptime":
        raise AgentFileInvalid(
            f"{config_path}.manager_type",
            f"Reverie has sleep-time groups only, not {manager_type!r} groups",
        )
    agent_ids = _texts(obj, "agent_ids", path)
    if "agent_ids" not in obj or obj["agent_ids"] is None:
        raise AgentFileInvalid(f"{path}.agent_ids", "is required")
    return GroupEntry(
        id=_id(obj, path),
        path=path,
        manager_agent_id=_id(config, config_path, "manager_agent_id"),
        agent_ids=agent_ids,
        description=_text(obj, "description", path) or "",
        frequency=_integer(config, "sleeptime_agent_frequency", config_path),
        idle_seconds=_integer(config, "sleeptime_idle_seconds", config_path),
        enabled=_flag(config, "enabled", config_path),
        last_processed_message_id=_text(config, "last_processed_message_id", config_path),
    )


def _source(item: Any, path: str) -> SourceEntry:
    obj = _object(item, path)
    name = _text(obj, "name", path, required=True) or ""
    if not name.strip():
        raise AgentFileInvalid(f"{path}.name", "must not be empty")
    config = _mapping(obj, "embedding_config", path)
    config_path = f"{path}.embedding_config"
    embedding = _text(obj, "embedding", path) or _embedding_handle(config, config_path)
    return SourceEntry(
        id=_id(obj, path),
        path=path,
        name=name,
        description=_text(obj, "description", path) or "",
        instructions=_text(obj, "instructions", path) or "",
        metadata=_mapping(obj, "metadata", path),
        embedding=_handle(embedding, f"{path}.embedding") if embedding else None,
        embedding_chunk_size=_integer(obj, "embedding_chunk_size", path, minimum=1)
        or _integer(config, "embedding_chunk_size", config_path, minimum=1),
    )


def _file(item: Any, path: str) -> FileEntry:
    obj = _object(item, path)
    file_id = _id(obj, path)
    name = _text(obj, "file_name", path) or _text(obj, "original_file_name", path) or file_id
    return FileEntry(
        id=file_id,
        path=path,
        source_id=_id(obj, path, "source_id"),
        file_name=name,
        file_type=_text(obj, "file_type", path) or "text/plain",
        file_size=_integer(obj, "file_size", path),
        content=_text(obj, "content", path),
    )


def _mcp_server(item: Any, path: str) -> dict[str, Any]:
    obj = _object(item, path)
    _id(obj, path)
    _text(obj, "server_name", path, required=True)
    return {key: value for key, value in obj.items() if key != "id"}


def _embedding_handle(config: dict[str, Any], path: str) -> str | None:
    handle = _text(config, "handle", path)
    if handle:
        return handle
    model = _text(config, "embedding_model", path)
    if not model:
        return None
    return f"{_text(config, 'embedding_endpoint_type', path) or 'openai'}/{model}"


def _agent(item: Any, path: str, agent_types: Collection[str]) -> AgentEntry:
    obj = _object(item, path)
    agent_type = _text(obj, "agent_type", path) or "memgpt_v2_agent"
    if agent_type not in agent_types:
        raise AgentFileInvalid(
            f"{path}.agent_type",
            f"{agent_type!r} is not an agent type Reverie runs (one of "
            f"{', '.join(sorted(agent_types))})",
        )
    llm_path = f"{path}.llm_config"
    llm = _mapping(obj, "llm_config", path)
    model = _text(llm, "handle", llm_path)
    if model:
        model = _handle(model, f"{llm_path}.handle")
    elif _text(llm, "model", llm_path):
        model = f"{_text(llm, 'model_endpoint_type', llm_path) or 'openai'}/{llm['model']}"
        model = _handle(model, f"{llm_path}.model")
    else:
        model = _text(obj, "model", path)
        if not model:
            raise AgentFileInvalid(path, "needs a model: an llm_config with its handle or model")
        model = _handle(model, f"{path}.model")
    context_window = _integer(llm, "context_window", llm_path)
    if context_window is not None and context_window < MIN_CONTEXT_WINDOW:
        raise AgentFileInvalid(
            f"{llm_path}.context_window", f"must be at least {MIN_CONTEXT_WINDOW} tokens"
        )
    embedding_path = f"{path}.embedding_config"
    embedding_config = _mapping(obj, "embedding_config", path)
    embedding = _embedding_handle(embedding_config, embedding_path) or _text(obj, "embedding", path)
    rules = None
    if obj.get("tool_rules") is not None:
        rules = []
        for rule, where in _items(obj, "tool_rules", path):
            rule = _object(rule, where)
            _text(rule, "tool_name", where, required=True)
            _text(rule, "type", where, required=True)
            rules.append(dict(rule))
    messages = [_message(message, where) for message, where in _items(obj, "messages", path)]
    file_links = []
    for files_agent, where in _items(obj, "files_agents", path):
        files_agent = _object(files_agent, where)
        file_links.append(
            (_id(files_agent, where, "file_id"), _id(files_agent, where, "source_id"), where)
        )
    return AgentEntry(
        id=_id(obj, path),
        path=path,
        name=agent_name(_text(obj, "name", path)),
        agent_type=agent_type,
        system=_text(obj, "system", path),
        description=_text(obj, "description", path) or "",
        model=model,
        context_window=context_window,
        temperature=_number(llm, "temperature", llm_path),
        max_tokens=_integer(llm, "max_tokens", llm_path, minimum=1),
        embedding=_handle(embedding, embedding_path) if embedding else None,
        embedding_chunk_size=_integer(
            embedding_config, "embedding_chunk_size", embedding_path, minimum=1
        ),
        tool_ids=_texts(obj, "tool_ids", path),
        tool_rules=rules,
        tags=_texts(obj, "tags", path),
        metadata=_mapping(obj, "metadata", path),
        timezone=_text(obj, "timezone", path, max_length=64),
        enable_sleeptime=_flag(obj, "enable_sleeptime", path),
        block_ids=_texts(obj, "block_ids", path),
        source_ids=_texts(obj, "source_ids", path) + _texts(obj, "folder_ids", path),
        messages=messages,
        in_context_message_ids=_texts(obj, "in_context_message_ids", path),
        file_links=file_links,
    )


# --- Messages ------------------------------------------------------------------------------


def _message(item: Any, path: str) -> MessageEntry:
    obj = _object(item, path)
    role = _text(obj, "role", path, required=True)
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
        for part, where in _items(obj, "content", path):
            _content_part(part, where, texts, reasoning, calls, returns)
    for call, where in _items(obj, "tool_calls", path):
        calls.append(_tool_call(call, where))
    tool_call_id = _text(obj, "tool_call_id", path, max_length=MAX_SHORT) or ""
    for tool_return, where in _items(obj, "tool_returns", path):
        returns.append(_tool_return(tool_return, where, tool_call_id))
    return MessageEntry(
        id=_id(obj, path),
        path=path,
        role="tool" if role == "function" else role,
        text="\n".join(texts),
        reasoning="\n".join(reasoning),
        tool_calls=calls,
        tool_call_id=tool_call_id,
        tool_returns=returns,
        name=_text(obj, "name", path, max_length=MAX_SHORT) or "",
        otid=_text(obj, "otid", path, max_length=MAX_SHORT) or "",
        sender_id=_text(obj, "sender_id", path, max_length=MAX_SHORT) or "",
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
    part = _object(part, path)
    kind = _text(part, "type", path, required=True)
    if kind == "text":
        texts.append(_text(part, "text", path, required=True) or "")
    elif kind == "reasoning":
        reasoning.append(_text(part, "reasoning", path, required=True) or "")
    elif kind == "summarized_reasoning":
        for summary, where in _items(part, "summary", path):
            reasoning.append(_text(_object(summary, where), "text", where) or "")
    elif kind == "image":
        texts.append("[image]")
    elif kind == "tool_call":
        arguments = part.get("input")
        calls.append(
            ToolCallEntry(
                id=_id(part, path),
                name=_id(part, path, "name"),
                arguments=json.dumps(_object(arguments, f"{path}.input"))
                if arguments is not None
                else "{}",
            )
        )
    elif kind == "tool_return":
        is_error = _flag(part, "is_error", path)
        returns.append(
            ToolReturnEntry(
                tool_call_id=_id(part, path, "tool_call_id", max_length=MAX_SHORT),
                status="error" if is_error else "success",
                text=_text(part, "content", path) or "",
            )
        )
    elif kind in ("omitted_reasoning", "redacted_reasoning"):
        return  # the provider kept the reasoning to itself; there is nothing to show
    else:
        raise AgentFileInvalid(f"{path}.type", f"{kind!r} is not a kind of message content")


def _tool_call(item: Any, path: str) -> ToolCallEntry:
    obj = _object(item, path)
    function = _object(obj.get("function"), f"{path}.function")
    arguments = function.get("arguments")
    if isinstance(arguments, dict):
        arguments = json.dumps(arguments)
    elif arguments is not None and not isinstance(arguments, str):
        raise AgentFileInvalid(
            f"{path}.function.arguments", f"must be a string, not {_kind(arguments)}"
        )
    return ToolCallEntry(
        id=_id(obj, path),
        name=_id(function, f"{path}.function", "name"),
        arguments=arguments or "",
    )


def _tool_return(item: Any, path: str, message_call_id: str) -> ToolReturnEntry:
    obj = _object(item, path)
    status = _text(obj, "status", path) or "success"
    if status not in ("success", "error"):
        raise AgentFileInvalid(f"{path}.status", f"{status!r} is not 'success' or 'error'")
    response = obj.get("func_response")
    if isinstance(response, list):
        pieces = []
        for part, where in _items(obj, "func_response", path):
            part = _object(part, where)
            pieces.append(_text(part, "text", where) or "[image]")
        text = "\n".join(pieces)
    elif response is None or isinstance(response, str):
        text = response or ""
    else:
        raise AgentFileInvalid(f"{path}.func_response", f"must be a string, not {_kind(response)}")
    call_id = _text(obj, "tool_call_id", path, max_length=MAX_SHORT) or message_call_id
    if not call_id:
        raise AgentFileInvalid(f"{path}.tool_call_id", "is required")
    return ToolReturnEntry(tool_call_id=call_id, status=status, text=text)


def _moment(obj: dict[str, Any], key: str, path: str) -> datetime | None:
    value = _text(obj, key, path)
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise AgentFileInvalid(_at(path, key), f"{value!r} is not an ISO date and time") from None
    if moment.tzinfo is None:
        raise AgentFileInvalid(_at(path, key), f"{value!r} has no time zone")
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
