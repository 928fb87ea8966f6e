from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any, Literal

from django.db.models import Prefetch, QuerySet
from ninja import Field, Schema

from agents.models import Agent
from agents.tools import TOOLS
from memory.models import EMBEDDING_DIM, AgentBlock
from memory.schemas import BlockIn, BlockOut, block_out

# --- In ------------------------------------------------------------------------------------


class LLMConfigIn(Schema):
    model: str
    model_endpoint_type: str | None = None
    context_window: int | None = None
    temperature: float | None = None
    max_tokens: int | None = None
    handle: str | None = None


class EmbeddingConfigIn(Schema):
    embedding_model: str
    embedding_endpoint_type: str | None = None
    embedding_chunk_size: int | None = None
    handle: str | None = None


class ToolRuleIn(Schema):
    tool_name: str
    type: str


class AgentCreateIn(Schema):
    name: str | None = None
    description: str | None = None
    system: str | None = None
    agent_type: str = "memgpt_v2_agent"
    memory_blocks: list[BlockIn] = []
    block_ids: list[str] = []
    tools: list[str] = []
    include_base_tools: bool = True
    tool_rules: list[ToolRuleIn] | None = None
    tags: list[str] = []
    metadata: dict[str, Any] | None = None
    model: str | None = None
    embedding: str | None = None
    llm_config: LLMConfigIn | None = None
    embedding_config: EmbeddingConfigIn | None = None
    context_window_limit: int | None = None
    embedding_chunk_size: int | None = None
    max_tokens: int | None = None
    temperature: float | None = None
    timezone: str | None = None
    enable_sleeptime: bool | None = None


class AgentUpdateIn(Schema):
    name: str | None = None
    description: str | None = None
    system: str | None = None
    tools: list[str] | None = None
    tool_rules: list[ToolRuleIn] | None = None
    block_ids: list[str] | None = None
    tags: list[str] | None = None
    metadata: dict[str, Any] | None = None
    model: str | None = None
    embedding: str | None = None
    llm_config: LLMConfigIn | None = None
    context_window_limit: int | None = None
    embedding_chunk_size: int | None = None
    max_tokens: int | None = None
    temperature: float | None = None
    timezone: str | None = None
    enable_sleeptime: bool | None = None


class TextPart(Schema):
    type: Literal["text"] = "text"
    text: str


class MessageCreateIn(Schema):
    role: Literal["user", "system", "assistant"] = "user"
    content: str | list[TextPart]
    name: str | None = None
    otid: str | None = None
    sender_id: str | None = None

    def text(self) -> str:
        if isinstance(self.content, str):
            return self.content
        return "\n".join(part.text for part in self.content)


class LettaRequestIn(Schema):
    messages: list[MessageCreateIn] = Field(..., min_length=1)
    max_steps: int = Field(50, ge=1, le=500)
    use_assistant_message: bool = True
    assistant_message_tool_name: str = "send_message"
    assistant_message_tool_kwarg: str = "message"
    include_return_message_types: list[str] | None = None
    streaming: bool = False
    stream_tokens: bool = False
    include_pings: bool = False


# --- Out -----------------------------------------------------------------------------------


def tool_out(name: str) -> dict[str, Any]:
    tool = TOOLS[name]
    return {
        "id": tool.id,
        "name": tool.name,
        "description": tool.description,
        "tool_type": tool.tool_type,
        "source_type": "python",
        "json_schema": tool.schema()["function"],
        "tags": [tool.tool_type],
        "return_char_limit": 6000,
    }


class MemoryOut(Schema):
    blocks: list[BlockOut]
    file_blocks: list[Any]
    prompt_template: str


class AgentStateOut(Schema):
    id: str
    name: str
    description: str | None
    system: str
    agent_type: str
    llm_config: dict[str, Any]
    embedding_config: dict[str, Any]
    model: str
    embedding: str
    memory: MemoryOut
    blocks: list[BlockOut]
    tools: list[dict[str, Any]]
    tool_rules: list[dict[str, Any]]
    sources: list[Any]
    tags: list[str]
    metadata: dict[str, Any]
    timezone: str
    enable_sleeptime: bool | None
    multi_agent_group: dict[str, Any] | None
    managed_group: dict[str, Any] | None
    identity_ids: list[str]
    last_stop_reason: str | None
    last_run_completion: datetime | None
    last_run_duration_ms: int | None
    created_by_id: str | None
    last_updated_by_id: str | None
    created_at: datetime
    updated_at: datetime


def llm_config(agent: Agent) -> dict[str, Any]:
    provider, _, model = agent.llm_handle.partition("/")
    return {
        "model": model,
        "model_endpoint_type": provider,
        "model_endpoint": None,
        "context_window": agent.context_window,
        "handle": agent.llm_handle,
        "temperature": agent.temperature,
        "max_tokens": agent.max_tokens,
        "put_inner_thoughts_in_kwargs": False,
        "enable_reasoner": False,
    }


def embedding_config(agent: Agent) -> dict[str, Any]:
    provider, _, model = agent.embedding_handle.partition("/")
    return {
        "embedding_endpoint_type": provider,
        "embedding_endpoint": None,
        "embedding_model": model,
        "embedding_dim": EMBEDDING_DIM,
        "embedding_chunk_size": agent.embedding_chunk_size,
        "handle": agent.embedding_handle,
    }


def with_relations(agents: QuerySet[Agent]) -> QuerySet[Agent]:
    """Prefetch what an AgentState shows, so a page of agents costs two queries."""
    return agents.prefetch_related(
        Prefetch(
            "block_links",
            queryset=AgentBlock.objects.select_related("block").order_by("position", "id"),
        )
    )


def agent_state(agent: Agent) -> dict[str, Any]:
    blocks = [block_out(link.block) for link in agent.block_links.all()]
    owner_id = f"user-{agent.owner_id}"
    return {
        "id": agent.id,
        "name": agent.name,
        "description": agent.description or None,
        "system": agent.system,
        "agent_type": agent.agent_type,
        "llm_config": llm_config(agent),
        "embedding_config": embedding_config(agent),
        "model": agent.llm_handle,
        "embedding": agent.embedding_handle,
        "memory": {"blocks": blocks, "file_blocks": [], "prompt_template": ""},
        "blocks": blocks,
        "tools": [tool_out(name) for name in agent.tools if name in TOOLS],
        "tool_rules": agent.tool_rules,
        "sources": [],
        "tags": agent.tags,
        "metadata": agent.metadata,
        "timezone": agent.timezone,
        "enable_sleeptime": agent.enable_sleeptime,
        "multi_agent_group": None,
        "managed_group": None,
        "identity_ids": [],
        "last_stop_reason": agent.last_stop_reason or None,
        "last_run_completion": agent.last_run_completion,
        "last_run_duration_ms": agent.last_run_duration_ms,
        "created_by_id": owner_id,
        "last_updated_by_id": owner_id,
        "created_at": agent.created_at,
        "updated_at": agent.updated_at,
    }


def agent_states(agents: Iterable[Agent] | QuerySet[Agent]) -> list[dict[str, Any]]:
    if isinstance(agents, QuerySet):
        agents = with_relations(agents)
    return [agent_state(agent) for agent in agents]


def fresh_state(agent: Agent) -> dict[str, Any]:
    """The AgentState of `agent` re-read with its relations (after a change)."""
    return agent_state(with_relations(Agent.objects.filter(pk=agent.pk)).get())
