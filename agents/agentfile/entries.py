"""The entries of an Agent File once read and checked (agents.agentfile.document), and
the error that says where a file is wrong. Framework-free."""

from __future__ import annotations

import json
import re
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
