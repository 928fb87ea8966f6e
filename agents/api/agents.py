"""`/v1/agents`: agents, their core memory, archival memory, messages and context."""

from __future__ import annotations

from datetime import datetime
from operator import attrgetter, itemgetter
from typing import Any, Literal

from django.utils.dateparse import parse_date, parse_datetime
from ninja import Query, Router

import llm
from accounts.access import organization_of
from agents import services, sleeptime
from agents.api.turns import offload, respond
from agents.letta_format import Rendering, iso
from agents.loop import InputMessage
from agents.models import Agent, Group, Insight, Run
from agents.schemas import (
    AgentCreateIn,
    AgentStateOut,
    AgentUpdateIn,
    GroupOut,
    InsightOut,
    LettaRequestIn,
    MemoryOut,
    RunOut,
    agent_states,
    fresh_state,
    tools_out,
)
from agents.threads import Thread
from config.errors import InvalidRequest, Unavailable
from config.pagination import is_ascending, list_page
from config.requests import ApiRequest
from config.schemas import in_utc
from memory import services as memory_services
from memory.models import Block, Passage
from memory.schemas import (
    BlockIn,
    BlockOut,
    BlockUpdateIn,
    MessageOut,
    PassageIn,
    PassageOut,
    SearchOut,
)

router = Router(tags=["agents"])

# --- Agents --------------------------------------------------------------------------------


def _spec(payload: AgentCreateIn) -> services.AgentSpec:
    model = payload.model
    context_window = payload.context_window_limit
    settings = payload.model_settings.changes() if payload.model_settings else {}
    temperature = (
        payload.temperature if payload.temperature is not None else settings.get("temperature")
    )
    max_tokens = payload.max_tokens or settings.get("max_tokens")
    if model is None and payload.llm_config is not None:
        config = payload.llm_config
        model = config.handle or f"{config.model_endpoint_type or 'openai'}/{config.model}"
        context_window = context_window or config.context_window
        temperature = temperature if temperature is not None else config.temperature
        max_tokens = max_tokens or config.max_tokens
    embedding = payload.embedding
    if embedding is None and payload.embedding_config is not None:
        config_e = payload.embedding_config
        embedding = config_e.handle or (
            f"{config_e.embedding_endpoint_type or 'openai'}/{config_e.embedding_model}"
        )
    return services.AgentSpec(
        name=payload.name,
        model=model,
        embedding=embedding,
        system=payload.system,
        agent_type=payload.agent_type,
        description=payload.description or "",
        memory_blocks=[_block_spec(block) for block in payload.memory_blocks],
        block_ids=payload.block_ids,
        tools=payload.tools,
        include_base_tools=payload.include_base_tools,
        include_base_tool_rules=payload.include_base_tool_rules,
        tool_rules=[rule.rule() for rule in payload.tool_rules]
        if payload.tool_rules is not None
        else None,
        tags=payload.tags,
        metadata=payload.metadata or {},
        context_window=context_window,
        temperature=temperature,
        max_tokens=max_tokens,
        embedding_chunk_size=payload.embedding_chunk_size,
        timezone=payload.timezone,
        enable_sleeptime=payload.enable_sleeptime,
        sleeptime_model=payload.sleeptime_model,
        sleeptime_agent_frequency=payload.sleeptime_agent_frequency,
        sleeptime_idle_seconds=payload.sleeptime_idle_seconds,
        context_tail_turns=payload.context_tail_turns,
        context_token_budget=payload.context_token_budget,
        initial_messages=[
            InputMessage(
                role=message.role,
                content=message.text(),
                name=message.name or "",
                otid=message.otid or "",
                sender_id=message.sender_id or "",
            )
            for message in payload.initial_message_sequence or []
        ],
    )


def _tool_names(request: ApiRequest, tool_ids: list[str]) -> list[str]:
    # An id the organization does not have is a 404, as block_ids' are.
    organization = organization_of(request.auth)
    return [services.tool_name_for_id(organization.pk, tool_id) for tool_id in tool_ids]


def _block_spec(block: BlockIn) -> services.BlockSpec:
    policy = block.policy_fields()
    return services.BlockSpec(
        label=block.label,
        value=block.value,
        limit=block.limit,
        description=block.description,
        read_only=policy["read_only"],
        metadata=block.metadata or {},
        requires_review=policy.get("requires_review", False),
        deletion_budget=block.deletion_budget,
    )


@router.post("", response=AgentStateOut)
def create_agent(request: ApiRequest, payload: AgentCreateIn) -> Agent:
    spec = _spec(payload)
    if payload.tool_ids:
        spec.tools = [*spec.tools, *_tool_names(request, payload.tool_ids)]
    agent = services.create_agent(request.auth, spec)
    return fresh_state(agent)


@router.get("", response=list[AgentStateOut])
def list_agents(
    request: ApiRequest,
    name: str | None = None,
    tags: list[str] = Query(None),
    match_all_tags: bool = False,
    query_text: str | None = None,
    after: str | None = None,
    before: str | None = None,
    limit: int = Query(50, ge=1, le=1000),
    order: Literal["asc", "desc"] | None = None,
    ascending: bool | None = None,
) -> list[Agent]:
    agents = services.list_agents(
        request.auth,
        name=name,
        tags=tags,
        match_all_tags=match_all_tags,
        query_text=query_text,
        after=after,
        before=before,
        limit=limit,
        ascending=is_ascending(order, ascending),
    )
    return agent_states(agents)


@router.get("/{agent_id}", response=AgentStateOut)
def retrieve_agent(request: ApiRequest, agent_id: str) -> Agent:
    return fresh_state(services.get_agent_for_user(request.auth, agent_id))


@router.patch("/{agent_id}", response=AgentStateOut)
def update_agent(request: ApiRequest, agent_id: str, payload: AgentUpdateIn) -> Agent:
    agent = services.get_agent_for_user(request.auth, agent_id)
    changes = payload.model_dump(exclude_unset=True, exclude_none=True)
    if payload.tool_rules is not None:
        changes["tool_rules"] = [rule.rule() for rule in payload.tool_rules]
    if payload.llm_config is not None:
        config = payload.llm_config
        changes.setdefault(
            "model", config.handle or f"{config.model_endpoint_type or 'openai'}/{config.model}"
        )
        if config.context_window:
            changes.setdefault("context_window", config.context_window)
    if "context_window_limit" in changes:
        changes["context_window"] = changes.pop("context_window_limit")
    if payload.model_settings is not None:
        for key, value in payload.model_settings.changes().items():
            changes.setdefault(key, value)
    for ignored in ("llm_config", "model_settings", "parallel_tool_calls", "compaction_settings"):
        changes.pop(ignored, None)
    tool_ids = changes.pop("tool_ids", None)
    if tool_ids is not None:
        # As `tools`, it names all of the agent's tools: together, their union.
        named = [*changes.get("tools", []), *_tool_names(request, tool_ids)]
        changes["tools"] = list(dict.fromkeys(named))
    return fresh_state(services.update_agent(agent, changes, user=request.auth))


@router.delete("/{agent_id}", response=MessageOut)
def delete_agent(request: ApiRequest, agent_id: str) -> dict[str, str]:
    services.delete_agent(services.get_agent_for_user(request.auth, agent_id))
    return {"message": f"Agent id={agent_id} successfully deleted"}


@router.get("/{agent_id}/tools", response=list[dict[str, Any]])
def agent_tools(
    request: ApiRequest,
    agent_id: str,
    after: str | None = None,
    before: str | None = None,
    limit: int = Query(50, ge=1, le=1000),
    order: Literal["asc", "desc"] = "asc",
) -> list[dict[str, Any]]:
    """The agent's tools in the order they were given; cursors are tool ids."""
    agent = services.get_agent_for_user(request.auth, agent_id)
    tools = tools_out(agent.organization_id, agent.tools)
    return list_page(
        tools, itemgetter("id"), after=after, before=before, limit=limit, ascending=order == "asc"
    )


@router.patch("/{agent_id}/tools/attach/{tool_id}", response=AgentStateOut)
def attach_tool(request: ApiRequest, agent_id: str, tool_id: str) -> Agent:
    """Give the agent a built-in tool or one of the organization's, by id."""
    agent = services.get_agent_for_user(request.auth, agent_id)
    return services.attach_tool(agent, tool_id)


@router.patch("/{agent_id}/tools/detach/{tool_id}", response=AgentStateOut)
def detach_tool(request: ApiRequest, agent_id: str, tool_id: str) -> Agent:
    """Take a tool from the agent, with the tool rules that name it."""
    agent = services.get_agent_for_user(request.auth, agent_id)
    return services.detach_tool(agent, tool_id)


# --- Core memory ---------------------------------------------------------------------------


@router.get("/{agent_id}/core-memory", response=MemoryOut)
def core_memory(request: ApiRequest, agent_id: str) -> dict[str, Any]:
    agent = services.get_agent_for_user(request.auth, agent_id)
    blocks = memory_services.agent_blocks(agent)
    return {"blocks": blocks, "file_blocks": [], "prompt_template": ""}


@router.get("/{agent_id}/core-memory/blocks", response=list[BlockOut])
def agent_blocks(
    request: ApiRequest,
    agent_id: str,
    after: str | None = None,
    before: str | None = None,
    limit: int = Query(50, ge=1, le=1000),
    order: Literal["asc", "desc"] = "asc",
) -> list[Block]:
    """The agent's blocks in attachment order; `after`/`before` are block ids (the v1
    SDK pages with `after` until a page is empty)."""
    agent = services.get_agent_for_user(request.auth, agent_id)
    blocks = memory_services.agent_blocks(agent)
    return list_page(
        blocks, attrgetter("id"), after=after, before=before, limit=limit, ascending=order == "asc"
    )


@router.patch("/{agent_id}/core-memory/blocks/attach/{block_id}", response=AgentStateOut)
def attach_block(request: ApiRequest, agent_id: str, block_id: str) -> Agent:
    agent = services.get_agent_for_user(request.auth, agent_id)
    sleeptime.attach_block(agent, memory_services.get_block_for_user(request.auth, block_id))
    return fresh_state(agent)


@router.patch("/{agent_id}/core-memory/blocks/detach/{block_id}", response=AgentStateOut)
def detach_block(request: ApiRequest, agent_id: str, block_id: str) -> Agent:
    agent = services.get_agent_for_user(request.auth, agent_id)
    sleeptime.detach_block(agent, block_id)
    return fresh_state(agent)


@router.get("/{agent_id}/core-memory/blocks/{block_label}", response=BlockOut)
def agent_block(request: ApiRequest, agent_id: str, block_label: str) -> Block:
    agent = services.get_agent_for_user(request.auth, agent_id)
    return memory_services.get_agent_block(agent, block_label)


@router.patch("/{agent_id}/core-memory/blocks/{block_label}", response=BlockOut)
def update_agent_block(
    request: ApiRequest, agent_id: str, block_label: str, payload: BlockUpdateIn
) -> Block:
    agent = services.get_agent_for_user(request.auth, agent_id)
    block = memory_services.get_agent_block(agent, block_label)
    updated = memory_services.update_block(
        block.id,
        actor=memory_services.Actor.for_user(request.auth),
        base_version=payload.base_version,
        **payload.changes(),
    )
    return updated


# --- Archival memory -----------------------------------------------------------------------


def _parse_when(value: str | None, name: str) -> datetime | None:
    if not value:
        return None
    moment = parse_datetime(value)
    if moment is None:
        day = parse_date(value)
        if day is None:
            raise InvalidRequest(f"{name} must be an ISO date or datetime, got {value!r}.")
        moment = datetime.combine(day, datetime.min.time())
    return in_utc(moment)


@router.get("/{agent_id}/archival-memory/search", response=SearchOut)
async def search_archival(
    request: ApiRequest,
    agent_id: str,
    query: str,
    tags: list[str] = Query(None),
    tag_match_mode: Literal["any", "all"] = "any",
    top_k: int = Query(10, ge=1, le=100),
    start_datetime: str | None = None,
    end_datetime: str | None = None,
) -> dict[str, Any]:
    start = _parse_when(start_datetime, "start_datetime")
    end = _parse_when(end_datetime, "end_datetime")

    def work() -> dict[str, Any]:
        agent = services.get_agent_for_user(request.auth, agent_id)
        try:
            passages = memory_services.search_passages(
                agent,
                query,
                top_k=top_k,
                tags=tags,
                tag_match_mode=tag_match_mode,
                start=start,
                end=end,
            )
        except llm.LLMError as error:
            raise _unavailable(error) from None
        results = [
            {"id": p.id, "content": p.text, "timestamp": iso(p.created_at), "tags": p.tags}
            for p in passages
        ]
        return {"results": results, "count": len(results)}

    return await offload(work)


@router.get("/{agent_id}/archival-memory", response=list[PassageOut])
def list_archival(
    request: ApiRequest,
    agent_id: str,
    after: str | None = None,
    before: str | None = None,
    limit: int | None = Query(100, ge=1, le=10000),
    search: str | None = None,
    ascending: bool = True,
) -> list[Passage]:
    agent = services.get_agent_for_user(request.auth, agent_id)
    passages = memory_services.list_passages(
        agent, after=after, before=before, limit=limit, search=search, ascending=ascending
    )
    return list(passages)


@router.post("/{agent_id}/archival-memory", response=list[PassageOut])
async def insert_archival(request: ApiRequest, agent_id: str, payload: PassageIn) -> list[Passage]:
    def work() -> list[Passage]:
        agent = services.get_agent_for_user(request.auth, agent_id)
        try:
            passage = memory_services.insert_passage(
                agent, payload.text, tags=payload.tags, created_at=payload.created_at
            )
        except llm.LLMError as error:
            raise _unavailable(error) from None
        return [passage]

    return await offload(work)


@router.delete("/{agent_id}/archival-memory/{memory_id}", response=MessageOut)
def delete_archival(request: ApiRequest, agent_id: str, memory_id: str) -> dict[str, str]:
    agent = services.get_agent_for_user(request.auth, agent_id)
    memory_services.delete_passage(agent, memory_id)
    return {"message": f"Memory id={memory_id} successfully deleted"}


def _unavailable(error: llm.LLMError) -> Exception:
    if isinstance(error, llm.ProviderNotConfigured):
        return InvalidRequest(str(error))
    return Unavailable(f"The embedding model failed: {error}")


# --- Messages ------------------------------------------------------------------------------


@router.post("/{agent_id}/messages")
def create_message(request: ApiRequest, agent_id: str, payload: LettaRequestIn) -> Any:
    thread = Thread(services.get_agent_for_user(request.auth, agent_id))
    return respond(
        request, thread, payload, stream=payload.streaming, background=payload.background
    )


@router.post("/{agent_id}/messages/stream")
def stream_message(request: ApiRequest, agent_id: str, payload: LettaRequestIn) -> Any:
    thread = Thread(services.get_agent_for_user(request.auth, agent_id))
    return respond(request, thread, payload, stream=True, background=payload.background)


@router.get("/{agent_id}/messages")
def list_messages(
    request: ApiRequest,
    agent_id: str,
    after: str | None = None,
    before: str | None = None,
    limit: int | None = Query(100, ge=1, le=10000),
    order: Literal["asc", "desc"] = "asc",
    conversation_id: str | None = None,
    use_assistant_message: bool = True,
    assistant_message_tool_name: str = "send_message",
    assistant_message_tool_kwarg: str = "message",
) -> list[dict[str, Any]]:
    agent = services.get_agent_for_user(request.auth, agent_id)
    return services.list_messages(
        agent,
        conversation_id=conversation_id,
        after=after,
        before=before,
        limit=limit,
        order=order,
        rendering=Rendering(
            use_assistant_message=use_assistant_message,
            assistant_tool=assistant_message_tool_name,
            assistant_kwarg=assistant_message_tool_kwarg,
        ),
    )


# --- Sleep-time ----------------------------------------------------------------------------


@router.get("/{agent_id}/groups", response=list[GroupOut])
def agent_groups(request: ApiRequest, agent_id: str) -> list[Group]:
    agent = services.get_agent_for_user(request.auth, agent_id)
    group = sleeptime.group_of(agent)
    return [group] if group is not None else []


@router.post("/{agent_id}/sleeptime/run", response=list[RunOut])
def run_sleeptime_now(request: ApiRequest, agent_id: str) -> list[Run]:
    """Start the agent's sleep-time agents now (or join the run already queued)."""
    agent = services.get_agent_for_user(request.auth, agent_id)
    group = sleeptime.group_of(agent)
    if group is None:
        raise InvalidRequest("This agent has no sleep-time agent; enable sleep-time first.")
    return sleeptime.run_now(group)


@router.get("/{agent_id}/insights", response=list[InsightOut])
def list_insights(
    request: ApiRequest,
    agent_id: str,
    include_dismissed: bool = False,
    after: str | None = None,
    before: str | None = None,
    limit: int = Query(50, ge=1, le=1000),
    order: Literal["asc", "desc"] = "desc",
) -> list[Insight]:
    """Newest first, unless `order=asc`."""
    agent = services.get_agent_for_user(request.auth, agent_id)
    insights = services.list_insights(
        agent,
        include_dismissed=include_dismissed,
        after=after,
        before=before,
        limit=limit,
        ascending=order == "asc",
    )
    return list(insights)


@router.post("/{agent_id}/insights/{insight_id}/dismiss", response=InsightOut)
def dismiss_insight(request: ApiRequest, agent_id: str, insight_id: str) -> Insight:
    agent = services.get_agent_for_user(request.auth, agent_id)
    return services.dismiss_insight(agent, insight_id)


# --- Context window ------------------------------------------------------------------------


@router.get("/{agent_id}/context")
def context_window(request: ApiRequest, agent_id: str) -> dict[str, Any]:
    return services.context_overview(services.get_agent_for_user(request.auth, agent_id))
