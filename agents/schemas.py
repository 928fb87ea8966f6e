from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Annotated, Any, Literal

from django.db.models import Prefetch, QuerySet
from ninja import Field, Schema
from ninja.schema import DjangoGetter
from pydantic import ConfigDict, model_validator
from pydantic.json_schema import JsonDict, JsonValue

from accounts.models import Organization
from agents import governor, tool_rules
from agents.letta_format import embedding_config, llm_config
from agents.models import Agent, AgentType, Conversation, Group, Insight, Run, RunTrigger
from agents.tools import TOOLS
from config.schemas import HANDLE_PATTERN, INT32, NOT_BLANK, In, Moment
from memory.models import AgentBlock, Block
from memory.schemas import BlockIn, BlockOut
from memory.services import version_diff
from toolbox import services as toolbox_services
from toolbox.models import Tool as StoredTool

# --- In ------------------------------------------------------------------------------------


# What the services enforce, said in the schema too (config/openapi.py documents the rest).
NAME: JsonDict = {"pattern": r"^[A-Za-z0-9 _.-]+$"}
CONTEXT_WINDOW: JsonDict = {"minimum": 1000, "maximum": INT32}
HANDLE: JsonDict = {"pattern": HANDLE_PATTERN, "description": "provider/model, e.g. openai/gpt-4.1"}
# Reverie's context settings (agents/compaction.py), as the services check them.
TAIL_TURNS: JsonDict = {
    "minimum": 0,
    "maximum": 1000,
    "description": "With sleep-time on, the recent turns that stay in the prompt once a "
    "sleep-time run has read them; older ones leave it into the recursive summary. 0: off.",
}
TOKEN_BUDGET: JsonDict = {
    "minimum": 0,
    "maximum": INT32,
    # 0, or at least 1000.
    "not": {"type": "integer", "minimum": 1, "maximum": 999},
    "description": "The prompt is kept under this many tokens: 0 (the model's window) or "
    "at least 1000.",
}
# A token budget's largest value (the column is a PostgreSQL bigint).
TOKENS = 2**63 - 1


class LLMConfigIn(In):
    model: str = Field(json_schema_extra={"minLength": 1, "pattern": NOT_BLANK})
    model_endpoint_type: str | None = None
    context_window: int | None = Field(None, json_schema_extra=CONTEXT_WINDOW)
    temperature: float | None = None
    max_tokens: int | None = Field(None, ge=1, le=INT32)
    handle: str | None = Field(None, json_schema_extra=HANDLE)


class EmbeddingConfigIn(In):
    embedding_model: str = Field(json_schema_extra={"minLength": 1, "pattern": NOT_BLANK})
    embedding_endpoint_type: str | None = None
    embedding_chunk_size: int | None = Field(None, ge=1, le=INT32)
    handle: str | None = Field(None, json_schema_extra=HANDLE)


class ChildArgNodeIn(In):
    name: str
    args: dict[str, Any] | None = None


def _rule_shapes(schema: dict[str, Any]) -> None:
    """Each type's own fields, said in the schema as agents/tool_rules.py checks them:
    those it needs are there and not null, another type's are absent or null."""
    branches: list[JsonValue] = []
    for kind, fields in tool_rules.TYPES.items():
        needed = tool_rules.REQUIRED[kind]
        foreign = [name for name in tool_rules.FIELDS if name not in fields]
        branch: dict[str, JsonValue] = {
            "properties": {
                "type": {"const": kind},
                **{name: {"not": {"type": "null"}} for name in needed},
            },
            "required": ["tool_name", "type", *needed],
        }
        if foreign:
            branch["not"] = {
                "anyOf": [
                    {"required": [name], "properties": {name: {"not": {"type": "null"}}}}
                    for name in foreign
                ]
            }
        branches.append(branch)
    schema["oneOf"] = branches


class ToolRuleIn(In):
    """One of Letta's tool rules; which fields it may have depends on its `type`
    (agents/tool_rules.py checks them, and fills in the defaults Letta returns)."""

    model_config = ConfigDict(json_schema_extra=_rule_shapes)

    tool_name: str
    type: str = Field(json_schema_extra={"enum": list[JsonValue](tool_rules.TYPES)})
    prompt_template: str | None = None
    # run_first
    args: dict[str, Any] | None = None
    # constrain_child_tools, parent_last_tool
    children: list[str] | None = None
    child_arg_nodes: list[ChildArgNodeIn] | None = None
    # conditional
    default_child: str | None = None
    child_output_mapping: dict[str, str] | None = Field(
        None, json_schema_extra={"minProperties": 1}
    )
    require_output_mapping: bool | None = None
    # max_count_per_step
    max_count_limit: int | None = Field(None, ge=1, le=tool_rules.MAX_COUNT)

    @model_validator(mode="before")
    @classmethod
    def _letta_shape(cls, value: Any) -> Any:
        raw = value._obj if isinstance(value, DjangoGetter) else value
        if not isinstance(raw, dict):
            return value  # In says what is wrong with it
        try:
            return tool_rules.normalise(raw)
        except tool_rules.RuleInvalid as error:
            raise ValueError(str(error)) from None

    def rule(self) -> dict[str, Any]:
        """The rule as stored: the fields of its type, in Letta's shape."""
        return tool_rules.normalise(self.model_dump(exclude_unset=True))


class TextPart(In):
    type: Literal["text"] = "text"
    text: str


class MessageCreateIn(In):
    type: Literal["message"] | None = None
    role: Literal["user", "system", "assistant"] = "user"
    content: str | list[TextPart]
    name: str | None = None
    otid: str | None = None
    sender_id: str | None = None

    def text(self) -> str:
        if isinstance(self.content, str):
            return self.content
        return "\n".join(part.text for part in self.content)


class ModelSettingsIn(In):
    """Letta's `model_settings` (one shape per `provider_type`). Reverie honours
    `temperature` and `max_output_tokens` (the agent's temperature and max_tokens). It
    accepts and ignores the rest: `provider_type` (the model handle names the provider),
    `parallel_tool_calls` (every call the model makes in a step is run), and the reasoning,
    effort, thinking, verbosity, strict and response_format settings of some providers."""

    provider_type: str | None = None
    temperature: float | None = None
    max_output_tokens: int | None = Field(None, ge=1, le=INT32)
    parallel_tool_calls: bool | None = None

    def changes(self) -> dict[str, Any]:
        """The agent settings these set, by the names the services use."""
        found = {"temperature": self.temperature, "max_tokens": self.max_output_tokens}
        return {key: value for key, value in found.items() if value is not None}


def _known_tools(schema: dict[str, Any]) -> None:
    """The tool names an agent may be given: the built-ins (read when the schema is
    built: feature apps add theirs when they start) or its organization's own tools."""
    for branch in [schema, *schema.get("anyOf", [])]:
        if branch.get("type") == "array":
            branch["items"] = {"type": "string", "pattern": r"^[A-Za-z_][A-Za-z0-9_-]{0,63}$"}
            branch["description"] = (
                "Tool names: built in ("
                + ", ".join(sorted(TOOLS))
                + (") or the organization's custom and MCP tools (GET /v1/tools).")
            )


class AgentCreateIn(In):
    # A model is needed, named by `model` or by `llm_config`.
    model_config = {
        "json_schema_extra": {
            "anyOf": [
                {"required": ["model"], "properties": {"model": {"type": "string"}}},
                {"required": ["llm_config"], "properties": {"llm_config": {"type": "object"}}},
            ]
        }
    }

    name: str | None = Field(None, json_schema_extra=NAME)
    description: str | None = None
    system: str | None = None
    agent_type: str = Field(
        "memgpt_v2_agent", json_schema_extra={"enum": list[JsonValue](AgentType.values)}
    )
    memory_blocks: list[BlockIn] = []
    block_ids: list[str] = []
    tools: list[str] = Field([], json_schema_extra=_known_tools)
    # Letta's other way to name them: by id (GET /v1/tools).
    tool_ids: list[str] | None = None
    include_base_tools: bool = True
    # False: no rules for the tools unless `tool_rules` gives some (Letta Code sends it).
    include_base_tool_rules: bool | None = None
    tool_rules: list[ToolRuleIn] | None = None
    tags: list[str] = []
    metadata: dict[str, Any] | None = None
    model: str | None = Field(None, json_schema_extra=HANDLE)
    embedding: str | None = Field(None, json_schema_extra=HANDLE)
    llm_config: LLMConfigIn | None = None
    embedding_config: EmbeddingConfigIn | None = None
    model_settings: ModelSettingsIn | None = None
    context_window_limit: int | None = Field(None, json_schema_extra=CONTEXT_WINDOW)
    embedding_chunk_size: int | None = Field(None, ge=1, le=INT32)
    max_tokens: int | None = Field(None, ge=1, le=INT32)
    temperature: float | None = None
    timezone: str | None = None
    # The agent's history starts with these (Reverie adds no messages of its own).
    initial_message_sequence: list[MessageCreateIn] | None = None
    enable_sleeptime: bool | None = None
    sleeptime_model: str | None = Field(None, json_schema_extra=HANDLE)
    sleeptime_agent_frequency: int | None = Field(None, ge=0, le=INT32)
    sleeptime_idle_seconds: int | None = Field(None, ge=0, le=INT32)
    context_tail_turns: int | None = Field(None, json_schema_extra=TAIL_TURNS)
    context_token_budget: int | None = Field(None, json_schema_extra=TOKEN_BUDGET)
    # Accepted and ignored, as Letta Code sends them: every tool call of a step is run
    # (`parallel_tool_calls`), a long history is summarised by the agent's own model
    # (`compaction_settings`), and every agent is listed (`hidden`). Other fields Letta's
    # clients may send are ignored too.
    parallel_tool_calls: bool | None = None
    compaction_settings: dict[str, Any] | None = None
    hidden: bool | None = None


class AgentUpdateIn(In):
    name: str | None = Field(None, json_schema_extra=NAME)
    description: str | None = None
    system: str | None = None
    tools: list[str] | None = Field(None, json_schema_extra=_known_tools)
    tool_ids: list[str] | None = None
    tool_rules: list[ToolRuleIn] | None = None
    block_ids: list[str] | None = None
    tags: list[str] | None = None
    metadata: dict[str, Any] | None = None
    model: str | None = Field(None, json_schema_extra=HANDLE)
    embedding: str | None = Field(None, json_schema_extra=HANDLE)
    llm_config: LLMConfigIn | None = None
    model_settings: ModelSettingsIn | None = None
    context_window_limit: int | None = Field(None, json_schema_extra=CONTEXT_WINDOW)
    embedding_chunk_size: int | None = Field(None, ge=1, le=INT32)
    max_tokens: int | None = Field(None, ge=1, le=INT32)
    temperature: float | None = None
    timezone: str | None = None
    enable_sleeptime: bool | None = None
    sleeptime_model: str | None = Field(None, json_schema_extra=HANDLE)
    sleeptime_agent_frequency: int | None = Field(None, ge=0, le=INT32)
    sleeptime_idle_seconds: int | None = Field(None, ge=0, le=INT32)
    context_tail_turns: int | None = Field(None, json_schema_extra=TAIL_TURNS)
    context_token_budget: int | None = Field(None, json_schema_extra=TOKEN_BUDGET)
    # Accepted and ignored, as on create (AgentCreateIn).
    parallel_tool_calls: bool | None = None
    compaction_settings: dict[str, Any] | None = None


class ToolReturnIn(In):
    """The result of a client-side tool the client ran."""

    type: Literal["tool"]
    tool_call_id: str
    tool_return: str | list[dict[str, Any]]
    status: Literal["success", "error"] = "success"
    stdout: list[str] | None = None
    stderr: list[str] | None = None

    def text(self) -> str:
        if isinstance(self.tool_return, str):
            return self.tool_return
        parts = [
            str(part.get("text", "")) if part.get("type") == "text" else f"[{part.get('type')}]"
            for part in self.tool_return
        ]
        return "\n".join(parts)


class ApprovalDecisionIn(In):
    """A person's decision on a tool call that requires approval."""

    type: Literal["approval"]
    tool_call_id: str
    approve: bool
    reason: str | None = None


class ApprovalCreateIn(In):
    """The answers to the tool calls a turn stopped on (`requires_approval`)."""

    type: Literal["approval"]
    approvals: list[Annotated[ToolReturnIn | ApprovalDecisionIn, Field(discriminator="type")]] = (
        Field(..., min_length=1)
    )
    otid: str | None = None


class ClientToolIn(In):
    """A tool the client runs itself (Letta Code's shell, file tools...): offered to the
    model, and a call to it hands the turn back to the client for its result."""

    name: str
    description: str | None = None
    parameters: dict[str, Any] | None = None


class LettaRequestIn(In):
    messages: list[MessageCreateIn | ApprovalCreateIn] = Field(..., min_length=1)
    max_steps: int = Field(50, ge=1, le=500)
    use_assistant_message: bool = True
    assistant_message_tool_name: str = "send_message"
    assistant_message_tool_kwarg: str = "message"
    include_return_message_types: list[str] | None = None
    streaming: bool = False
    stream_tokens: bool = False
    include_pings: bool = False
    # Streams only: the turn goes on without the request; its run is followed instead.
    background: bool = False
    client_tools: list[ClientToolIn] | None = None


class ConversationMessagesIn(LettaRequestIn):
    """A turn in a conversation. Streams unless `streaming` is false, as Letta's does."""

    # `messages`, or `input` for one user message.
    model_config = ConfigDict(
        json_schema_extra={
            "anyOf": [
                {"required": ["messages"], "properties": {"messages": {"type": "array"}}},
                {"required": ["input"], "properties": {"input": {"type": ["string", "array"]}}},
            ]
        }
    )

    messages: list[MessageCreateIn | ApprovalCreateIn] | None = Field(  # type: ignore[assignment]
        None, min_length=1
    )
    input: str | list[TextPart] | None = None
    agent_id: str | None = None
    streaming: bool = True

    @model_validator(mode="after")
    def _something_to_say(self) -> ConversationMessagesIn:
        if not self.messages and self.input is None:
            raise ValueError("messages or input is required")
        return self

    def turn_messages(self) -> list[MessageCreateIn | ApprovalCreateIn]:
        if self.messages:
            return self.messages
        return [MessageCreateIn(role="user", content=self.input or "")]


class ConversationCreateIn(In):
    description: str | None = None
    summary: str | None = None
    model: str | None = Field(None, json_schema_extra=HANDLE)
    model_settings: dict[str, Any] | None = None
    context_window_limit: int | None = Field(None, json_schema_extra=CONTEXT_WINDOW)
    hidden: bool = False
    isolated_block_labels: list[str] | None = None
    # Reverie: false when what is said here is input nobody vouches for (a public chat
    # widget, say): memory edits it leads to that read as instructions wait for review.
    trusted: bool = True


class ConversationUpdateIn(In):
    description: str | None = None
    summary: str | None = None
    model: str | None = Field(None, json_schema_extra=HANDLE)
    model_settings: dict[str, Any] | None = None
    context_window_limit: int | None = Field(None, json_schema_extra=CONTEXT_WINDOW)
    archived: bool | None = None
    last_message_at: Moment | None = None
    trusted: bool | None = None


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


def stored_tool_out(tool: StoredTool) -> dict[str, Any]:
    """A custom or MCP tool as Letta's Tool; its environment shows names only."""
    metadata = dict(tool.metadata or {})
    if tool.mcp_server_id:
        metadata["mcp"] = {"server_id": tool.mcp_server_id}
    return {
        "id": tool.id,
        "name": tool.name,
        "description": tool.description,
        "tool_type": tool.tool_type,
        "source_type": tool.source_type,
        "source_code": tool.source_code or None,
        "json_schema": tool.json_schema,
        "args_json_schema": tool.args_json_schema,
        "tags": list(tool.tags),
        "return_char_limit": tool.return_char_limit,
        "pip_requirements": list(tool.pip_requirements),
        "default_requires_approval": tool.default_requires_approval,
        "enable_parallel_execution": False,
        "created_by_id": tool.owner_id and str(tool.owner_id),
        "metadata_": metadata,
        "environment_variables": toolbox_services.environment_names(tool),
        "created_at": tool.created_at,
        "updated_at": tool.updated_at,
    }


def tools_out(organization_id: Any, names: Iterable[str]) -> list[dict[str, Any]]:
    """The named tools, built-in or the organization's, in the order named (one query)."""
    names = list(names)
    stored = toolbox_services.tools_named(
        organization_id, [name for name in names if name not in TOOLS]
    )
    out = []
    for name in names:
        if name in TOOLS:
            out.append(tool_out(name))
        elif name in stored:
            out.append(stored_tool_out(stored[name]))
    return out


class PipRequirementIn(In):
    name: str = Field(json_schema_extra={"pattern": r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$"})
    version: str | None = None


class ToolCreateIn(In):
    """Letta's ToolCreate; `environment` is Reverie's own: the variables the tool runs
    with, stored encrypted and never shown back (their names are)."""

    source_code: str = Field(json_schema_extra={"minLength": 1, "pattern": NOT_BLANK})
    description: str | None = None
    tags: list[str] | None = None
    # `json_schema` on the wire; the name is pydantic's own method's.
    function_schema: dict[str, Any] | None = Field(None, alias="json_schema")
    args_json_schema: dict[str, Any] | None = None
    return_char_limit: int | None = Field(None, ge=1, le=1_000_000)
    pip_requirements: list[PipRequirementIn] | None = None
    npm_requirements: list[dict[str, Any]] | None = None
    default_requires_approval: bool | None = None
    enable_parallel_execution: bool | None = None
    source_type: Literal["python"] | None = None
    environment: dict[str, str] | None = None


class ToolUpdateIn(In):
    source_code: str | None = Field(None, json_schema_extra={"minLength": 1, "pattern": NOT_BLANK})
    description: str | None = None
    tags: list[str] | None = None
    # `json_schema` on the wire; the name is pydantic's own method's.
    function_schema: dict[str, Any] | None = Field(None, alias="json_schema")
    args_json_schema: dict[str, Any] | None = None
    return_char_limit: int | None = Field(None, ge=1, le=1_000_000)
    pip_requirements: list[PipRequirementIn] | None = None
    npm_requirements: list[dict[str, Any]] | None = None
    default_requires_approval: bool | None = None
    enable_parallel_execution: bool | None = None
    source_type: Literal["python"] | None = None
    environment: dict[str, str] | None = None
    metadata_: dict[str, Any] | None = None


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
    model_settings: dict[str, Any]
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
    # Reverie: what stays in the prompt (agents/compaction.py).
    context_tail_turns: int
    context_token_budget: int
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

    # Letta's AgentState from an agent read with its relations (with_relations): the
    # configs as Letta spells them, its blocks twice (memory.blocks and blocks), its group
    # twice (the 1.x and 0.1.x names), nulls for empty strings.
    @staticmethod
    def resolve_description(agent: Agent) -> str | None:
        return agent.description or None

    @staticmethod
    def resolve_llm_config(agent: Agent) -> dict[str, Any]:
        return llm_config(agent)

    @staticmethod
    def resolve_embedding_config(agent: Agent) -> dict[str, Any]:
        return embedding_config(agent)

    @staticmethod
    def resolve_model_settings(agent: Agent) -> dict[str, Any]:
        # Letta's 1.x shape of the model's settings; every tool call of a step is run.
        return {
            "provider_type": agent.provider,
            "temperature": agent.temperature,
            "max_output_tokens": agent.max_tokens,
            "parallel_tool_calls": True,
        }

    @staticmethod
    def resolve_model(agent: Agent) -> str:
        return agent.llm_handle

    @staticmethod
    def resolve_embedding(agent: Agent) -> str:
        return agent.embedding_handle

    @staticmethod
    def resolve_memory(agent: Agent) -> dict[str, Any]:
        return {"blocks": _blocks(agent), "file_blocks": [], "prompt_template": ""}

    @staticmethod
    def resolve_blocks(agent: Agent) -> list[Block]:
        return _blocks(agent)

    @staticmethod
    def resolve_tool_rules(agent: Agent) -> list[Any]:
        return [tool_rules.as_letta(rule) for rule in agent.tool_rules or []]

    @staticmethod
    def resolve_tools(agent: Agent) -> list[dict[str, Any]]:
        return tools_out(agent.organization_id, agent.tools)

    @staticmethod
    def resolve_sources(agent: Agent) -> list[Any]:
        return list(_part("sources", agent, []))

    @staticmethod
    def resolve_multi_agent_group(agent: Agent) -> dict[str, Any] | None:
        return _managed_group(agent)

    @staticmethod
    def resolve_managed_group(agent: Agent) -> dict[str, Any] | None:
        return _managed_group(agent)

    @staticmethod
    def resolve_identity_ids(agent: Agent) -> list[str]:
        return []

    @staticmethod
    def resolve_last_stop_reason(agent: Agent) -> str | None:
        return agent.last_stop_reason or None

    @staticmethod
    def resolve_created_by_id(agent: Agent) -> str:
        return f"user-{agent.owner_id}"

    @staticmethod
    def resolve_last_updated_by_id(agent: Agent) -> str:
        return f"user-{agent.owner_id}"


def _blocks(agent: Agent) -> list[Block]:
    return [link.block for link in agent.block_links.all()]


def with_relations(agents: QuerySet[Agent]) -> QuerySet[Agent]:
    """Prefetch what an AgentState shows, so a page of agents costs a fixed few queries."""
    return agents.select_related("managed_group").prefetch_related(
        Prefetch(
            "block_links",
            queryset=AgentBlock.objects.select_related("block").order_by("position", "id"),
        ),
        Prefetch("managed_group__participants", queryset=Agent.objects.order_by("created_at")),
        "sources",
    )


class GroupOut(Schema):
    id: str
    manager_type: str
    agent_ids: list[str]
    description: str
    shared_block_ids: list[str]
    manager_agent_id: str | None
    termination_token: str | None
    max_turns: int | None
    sleeptime_agent_frequency: int | None
    turns_counter: int | None
    last_processed_message_id: str | None
    max_message_buffer_length: int | None
    min_message_buffer_length: int | None
    sleeptime_idle_seconds: int
    sleeptime_model: str | None
    enabled: bool
    # Reverie's controls of background work (agents/governor.py): paused, the back-off
    # after runs that changed nothing (triggered runs come `backoff_factor` times less
    # often), and the agent's token budgets (null: no limit beyond the organization's).
    paused: bool
    quiet_runs: int
    backoff_factor: int
    daily_token_budget: int | None
    monthly_token_budget: int | None

    # Letta's Group shape (fields of its other group kinds are null) plus Reverie's idle
    # trigger, sleep-time model and state. Participants are read as prefetched.
    @staticmethod
    def resolve_agent_ids(group: Group) -> list[str]:
        return [agent.id for agent in group.participants.all()]

    @staticmethod
    def resolve_shared_block_ids(group: Group) -> list[str]:
        return []

    @staticmethod
    def resolve_termination_token(group: Group) -> None:
        return None

    @staticmethod
    def resolve_max_turns(group: Group) -> None:
        return None

    @staticmethod
    def resolve_last_processed_message_id(group: Group) -> str | None:
        return group.last_processed_message_id or None

    @staticmethod
    def resolve_max_message_buffer_length(group: Group) -> None:
        return None

    @staticmethod
    def resolve_min_message_buffer_length(group: Group) -> None:
        return None

    @staticmethod
    def resolve_sleeptime_model(group: Group) -> str | None:
        participants = list(group.participants.all())
        return participants[0].llm_handle if participants else None

    @staticmethod
    def resolve_enabled(group: Group) -> bool:
        return bool(group.manager_agent.enable_sleeptime)

    @staticmethod
    def resolve_backoff_factor(group: Group) -> int:
        return governor.backoff_factor(group)


def _managed_group(agent: Agent) -> dict[str, Any] | None:
    try:
        group = agent.managed_group
    except Group.DoesNotExist:
        return None
    group.manager_agent = agent  # already loaded; saves a query per agent
    return GroupOut.from_orm(group).model_dump()


# Parts of an agent's state that apps above this one hold, by key: the sources app adds
# "sources" when it starts (sources/apps.py), as feature apps add their tools.
STATE_PARTS: dict[str, Callable[[Agent], Any]] = {}


def register_state_part(key: str, part: Callable[[Agent], Any]) -> None:
    STATE_PARTS[key] = part


def _part(key: str, agent: Agent, missing: Any) -> Any:
    part = STATE_PARTS.get(key)
    return part(agent) if part is not None else missing


def agent_states(agents: Iterable[Agent] | QuerySet[Agent]) -> list[Agent]:
    """Agents to answer as AgentStates: a query gets what they show in a fixed few."""
    if isinstance(agents, QuerySet):
        agents = with_relations(agents)
    return list(agents)


def fresh_state(agent: Agent) -> Agent:
    """`agent` re-read with what its AgentState shows (after a change)."""
    return with_relations(Agent.objects.filter(pk=agent.pk)).get()


def _only_null(schema: dict[str, Any]) -> None:
    schema.pop("anyOf", None)
    schema["type"] = "null"


class BudgetIn(In):
    """Token budgets for background work; null removes one, one left out stays."""

    daily_token_budget: int | None = Field(None, ge=1, le=TOKENS)
    monthly_token_budget: int | None = Field(None, ge=1, le=TOKENS)

    def budget_changes(self) -> dict[str, int | None]:
        sent = self.model_fields_set
        return {name: getattr(self, name) for name in governor.BUDGET_FIELDS if name in sent}


class GroupUpdateIn(BudgetIn):
    class ManagerConfig(In):
        # Reverie's groups are sleep-time groups; another kind is refused with a 400
        # that says so (agents/api/groups.py).
        manager_type: str = Field("sleeptime", json_schema_extra={"enum": ["sleeptime"]})
        manager_agent_id: str | None = None
        sleeptime_agent_frequency: int | None = Field(None, ge=0, le=INT32)
        sleeptime_idle_seconds: int | None = Field(None, ge=0, le=INT32)
        sleeptime_model: str | None = Field(None, json_schema_extra=HANDLE)

    description: str | None = None
    manager_config: ManagerConfig | None = None
    # A sleep-time group's agents follow its primary: the field is for Letta's other
    # group kinds, which Reverie does not have, and only null is accepted.
    agent_ids: list[str] | None = Field(None, json_schema_extra=_only_null)
    # Reverie (Letta's clients never send it, nor the budgets): pause or resume.
    paused: bool | None = None


class LimitOut(Schema):
    scope: Literal["agent", "organization"]
    period: Literal["daily", "monthly"]
    budget: int
    spent: int


class OrganizationBudgetOut(Schema):
    organization_id: str
    name: str
    daily_token_budget: int | None
    monthly_token_budget: int | None
    # The budgets set, with what the organization's background work spent in the
    # current UTC day and month.
    limits: list[LimitOut]

    @staticmethod
    def resolve_organization_id(organization: Organization) -> str:
        return organization.pk

    @staticmethod
    def resolve_limits(organization: Organization) -> list[governor.Limit]:
        return governor.organization_limits(organization)


class SpendDayOut(Schema):
    date: str
    agent_id: str
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int
    runs: int
    cost: float | None


class SpendTotalsOut(Schema):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int
    runs: int
    cost: float | None


class SpendOut(Schema):
    days: list[SpendDayOut]
    limits: list[LimitOut]
    totals: SpendTotalsOut


# --- Runs ----------------------------------------------------------------------------------


# The ledger's vocabulary (agents.models.RunOutcome, RunTrigger), for filters and answers.
Outcome = Literal["applied", "awaiting_review", "no_change", "skipped", "failed"]
Trigger = Literal["turn", "idle", "manual", "retry", "backlog", "digest", "forget", "message"]


class RefusalOut(Schema):
    """An edit of a run's agent that a guard refused (memory/guards.py): nothing changed."""

    label: str | None
    tool: str | None
    guard: str
    reason: str


class RunOut(Schema):
    id: str
    agent_id: str
    status: str
    stop_reason: str | None
    metadata: dict[str, Any]
    background: bool
    created_at: datetime
    completed_at: datetime | None
    total_duration_ns: int | None
    # Reverie: what users asked Letta to show.
    primary_agent_id: str
    group_id: str | None
    trigger: str
    attempt: int
    retry_of: str | None
    error: str | None
    started_at: datetime | None
    not_before: datetime | None
    usage: dict[str, int]
    duration_ms: int | None
    changed: bool
    reverted_at: datetime | None
    transcript: str | None
    block_versions: list[dict[str, Any]] | None
    tool_calls: list[dict[str, Any]] | None
    # The ledger (agents/runs/ledger.py): how a background run's trigger ended and why
    # (null while it works, and for turns), the model it used, the edits the guards
    # refused and the ids of the proposals its edits became (/v1/proposals).
    outcome: Outcome | None
    outcome_reason: str | None
    model: str | None
    refusals: list[RefusalOut]
    proposals: list[str]

    # Letta's Run, with its nulls for empty strings; what a run was asked to do and did
    # (transcript, edits, tool calls) only on the run itself (RunDetailOut).
    @staticmethod
    def resolve_agent_id(run: Run) -> str:
        return run.run_agent_id

    @staticmethod
    def resolve_stop_reason(run: Run) -> str | None:
        return run.stop_reason or None

    @staticmethod
    def resolve_background(run: Run) -> bool:
        # A turn's run is in the background when its client asked; other runs always are.
        return bool(run.metadata.get("background", run.trigger != RunTrigger.MESSAGE))

    @staticmethod
    def resolve_total_duration_ns(run: Run) -> int | None:
        return run.duration_ms * 1_000_000 if run.duration_ms is not None else None

    @staticmethod
    def resolve_retry_of(run: Run) -> str | None:
        return run.retry_of or None

    @staticmethod
    def resolve_error(run: Run) -> str | None:
        return run.error or None

    @staticmethod
    def resolve_usage(run: Run) -> dict[str, int]:
        return {
            "prompt_tokens": run.prompt_tokens,
            "completion_tokens": run.completion_tokens,
            "total_tokens": run.prompt_tokens + run.completion_tokens,
            "step_count": run.step_count,
        }

    @staticmethod
    def resolve_changed(run: Run) -> bool:
        return bool(run.metadata.get("changed"))

    @staticmethod
    def resolve_transcript(run: Run) -> str | None:
        return None

    @staticmethod
    def resolve_block_versions(run: Run) -> list[dict[str, Any]] | None:
        return None

    @staticmethod
    def resolve_outcome(run: Run) -> str | None:
        return run.outcome or None

    @staticmethod
    def resolve_outcome_reason(run: Run) -> str | None:
        return run.outcome_reason or None

    @staticmethod
    def resolve_model(run: Run) -> str | None:
        return run.model or None

    @staticmethod
    def resolve_refusals(run: Run) -> list[dict[str, str | None]]:
        return [
            {
                "label": refusal.get("label"),
                "tool": refusal.get("tool"),
                "guard": str(refusal.get("guard", "")),
                "reason": str(refusal.get("reason", "")),
            }
            for refusal in run.metadata.get("refusals") or []
            if isinstance(refusal, dict)
        ]

    @staticmethod
    def resolve_proposals(run: Run) -> list[str]:
        return [str(proposal_id) for proposal_id in run.metadata.get("proposals") or []]

    @staticmethod
    def resolve_tool_calls(run: Run) -> list[dict[str, Any]] | None:
        return None


class RunDetailOut(RunOut):
    """One run with what it read, its edits and its tool calls. The handler gives the run
    its `versions` and `messages` (runs.run_versions, runs.run_messages)."""

    @staticmethod
    def resolve_transcript(run: Run) -> str | None:
        return run.transcript

    @staticmethod
    def resolve_block_versions(run: Run) -> list[dict[str, Any]] | None:
        return [
            {
                "block_id": version.block_id,
                "label": version.label,
                "version": version.number,
                "tool_call_id": version.tool_call_id or None,
                "reverts": version.reverts or None,
                "created_at": version.created_at,
                "diff": version_diff(version),
            }
            for version in getattr(run, "versions", [])
        ]

    @staticmethod
    def resolve_tool_calls(run: Run) -> list[dict[str, Any]] | None:
        # A document digest's agent is deleted when it ends; its calls live on the run.
        messages = getattr(run, "messages", [])
        return _tool_calls(messages) or run.metadata.get("tool_calls") or []


def _tool_calls(messages: list[Any]) -> list[dict[str, Any]]:
    """Each call the run's agent made with its result, in order."""
    results = {m.tool_call_id: m for m in messages if m.role == "tool"}
    calls = []
    for message in messages:
        for call in message.tool_calls or []:
            answer = results.get(call["id"])
            calls.append(
                {
                    "id": call["id"],
                    "name": call["name"],
                    "arguments": call["arguments"],
                    "status": answer.tool_status if answer else None,
                    "result": answer.content if answer else None,
                }
            )
    return calls


# --- Insights ------------------------------------------------------------------------------


class InsightOut(Schema):
    id: str
    agent_id: str
    run_id: str | None
    title: str
    body: str
    severity: str
    created_at: datetime
    dismissed_at: datetime | None

    @staticmethod
    def resolve_run_id(insight: Insight) -> str | None:
        return insight.run_id or None


# --- Conversations -------------------------------------------------------------------------


class ConversationOut(Schema):
    id: str
    agent_id: str
    description: str | None
    summary: str | None
    model: str | None
    model_settings: dict[str, Any] | None
    context_window_limit: int | None
    archived: bool
    archived_at: datetime | None
    hidden: bool
    last_message_at: datetime | None
    in_context_message_ids: list[str]
    isolated_block_ids: list[str]
    trusted: bool
    created_by_id: str | None
    last_updated_by_id: str | None
    created_at: datetime
    updated_at: datetime

    @staticmethod
    def resolve_description(conversation: Conversation) -> str | None:
        return conversation.description or None

    @staticmethod
    def resolve_summary(conversation: Conversation) -> str | None:
        return conversation.summary or None

    @staticmethod
    def resolve_model(conversation: Conversation) -> str | None:
        return conversation.model or None

    @staticmethod
    def resolve_model_settings(conversation: Conversation) -> dict[str, Any] | None:
        return conversation.model_settings or None

    @staticmethod
    def resolve_archived(conversation: Conversation) -> bool:
        return conversation.archived_at is not None

    @staticmethod
    def resolve_in_context_message_ids(conversation: Conversation) -> list[str]:
        in_context = conversation.messages.filter(in_context=True).order_by("seq")
        return list(in_context.values_list("uid", flat=True))

    @staticmethod
    def resolve_isolated_block_ids(conversation: Conversation) -> list[str]:
        return list(conversation.isolated_blocks.values_list("pk", flat=True))

    @staticmethod
    def resolve_created_by_id(conversation: Conversation) -> str | None:
        return f"user-{conversation.created_by_id}" if conversation.created_by_id else None

    @staticmethod
    def resolve_last_updated_by_id(conversation: Conversation) -> str | None:
        return f"user-{conversation.created_by_id}" if conversation.created_by_id else None
