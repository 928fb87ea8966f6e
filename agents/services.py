"""Use cases for agents and their conversations. API handlers, views, tasks and commands
all call these."""

from __future__ import annotations

import json
import re
import secrets
import time as clock
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

import llm
from accounts.access import organization_of
from agents import chat, loop, prompts, sleeptime, tool_rules
from agents.letta_format import Rendering, to_letta
from agents.models import Agent, AgentType, Conversation, Group, Insight, Message, Run
from agents.runs import turns
from agents.threads import Thread
from agents.tools import BASE_TOOLS, SLEEPTIME_CHAT_TOOLS, SLEEPTIME_TOOLS, TOOLS, default_rules
from config.errors import Conflict, InvalidRequest, NotFound, TooLong
from config.pagination import cursor_page
from memory import events
from memory import services as memory_services
from memory.models import AgentBlock, Block
from toolbox import services as toolbox_services
from toolbox.models import Tool as StoredTool

NAME_PATTERN = re.compile(r"^[A-Za-z0-9 _.-]+$")

DEFAULT_BLOCK_DESCRIPTIONS = {
    "persona": "The persona block: who you are, how you behave and how you speak.",
    "human": "The human block: what you know about the person you are talking to.",
}


def get_agent_for_user(user: Any, agent_id: str) -> Agent:
    """The agent, or NotFound for both "missing" and "not yours"."""
    try:
        # get(), not first(): every API call on an agent runs this, and first() would
        # have Django compile an ORDER BY for a primary key lookup.
        return Agent.objects.for_user(user).get(pk=agent_id)
    except Agent.DoesNotExist:
        raise NotFound(f"Agent '{agent_id}' not found") from None


def list_agents(
    user: Any,
    *,
    name: str | None = None,
    tags: list[str] | None = None,
    match_all_tags: bool = False,
    query_text: str | None = None,
    after: str | None = None,
    before: str | None = None,
    limit: int | None = 50,
    ascending: bool = True,
) -> QuerySet[Agent]:
    # An evaluation's copies are its own, reached from it (and by id), not listed.
    agents = Agent.objects.for_user(user).filter(evaluation_id="")
    if name:
        agents = agents.filter(name=name)
    if query_text:
        agents = agents.filter(name__icontains=query_text)
    if tags:
        if match_all_tags:
            agents = agents.filter(tags__contains=tags)
        else:
            any_tag = Q()
            for tag in tags:
                any_tag |= Q(tags__contains=[tag])
            agents = agents.filter(any_tag)
    return cursor_page(agents, after=after, before=before, limit=limit, ascending=ascending)


@dataclass
class BlockSpec:
    label: str
    value: str = ""
    limit: int | None = None
    description: str | None = None
    read_only: bool = False
    metadata: dict[str, Any] = field(default_factory=dict)
    # Agents' edits wait for review (the policy `review`); the share one run may remove.
    requires_review: bool = False
    deletion_budget: float | None = None


@dataclass
class AgentSpec:
    """What a caller may set when creating an agent (the API's CreateAgent, distilled)."""

    name: str | None = None
    model: str | None = None
    embedding: str | None = None
    system: str | None = None
    agent_type: str = AgentType.MEMGPT_V2
    description: str = ""
    memory_blocks: list[BlockSpec] = field(default_factory=list)
    block_ids: list[str] = field(default_factory=list)
    tools: list[str] = field(default_factory=list)
    include_base_tools: bool = True
    # False: no rules unless `tool_rules` gives some; else a rule per tool (default_rules).
    include_base_tool_rules: bool | None = None
    tool_rules: list[dict[str, Any]] | None = None
    tags: list[str] = field(default_factory=list)
    metadata: dict[str, Any] = field(default_factory=dict)
    context_window: int | None = None
    temperature: float | None = None
    max_tokens: int | None = None
    embedding_chunk_size: int | None = None
    timezone: str | None = None
    enable_sleeptime: bool | None = None
    # Reverie extensions: the sleep-time agent's own model, and when its runs start.
    sleeptime_model: str | None = None
    sleeptime_agent_frequency: int | None = None
    sleeptime_idle_seconds: int | None = None
    # What stays in the prompt (agents/compaction.py); None: the defaults.
    context_tail_turns: int | None = None
    context_token_budget: int | None = None
    # The start of the agent's history (Letta's initial_message_sequence).
    initial_messages: list[loop.InputMessage] = field(default_factory=list)


def _check_handle(handle: str, what: str) -> None:
    provider, _, model = handle.partition("/")
    if not provider or not model:
        raise InvalidRequest(f"{what} {handle!r} must look like 'provider/model-name'.")


MAX_TAIL_TURNS = 1000


def _check_context(tail: int | None, budget: int | None) -> None:
    """The context settings' bounds (agents/compaction.py): a tail of 0 (off) to
    MAX_TAIL_TURNS turns, a budget of 0 (the model's window) or at least 1000 tokens."""
    if tail is not None and not 0 <= tail <= MAX_TAIL_TURNS:
        raise InvalidRequest(f"context_tail_turns is from 0 (off) to {MAX_TAIL_TURNS}.")
    if budget is not None and budget != 0 and not 1000 <= budget <= 2**31 - 1:
        raise InvalidRequest(
            "context_token_budget is 0 (the model's window) or at least 1000 tokens."
        )


def _check_tools(names: list[str], organization_id: Any) -> None:
    """Every name is a built-in tool or one of the organization's (custom or MCP)."""
    others = [name for name in names if name not in TOOLS]
    found = toolbox_services.tools_named(organization_id, others)
    unknown = [name for name in others if name not in found]
    if unknown:
        # Letta's wording: Letta Code reads it as "install the base tools, or go without".
        missing = ", ".join(repr(name) for name in unknown)
        raise InvalidRequest(
            f"Tools not found by name: {{{missing}}}. Available: {', '.join(sorted(TOOLS))}."
        )


def _checked_rules(rules: list[Any], tools: list[str]) -> list[dict[str, Any]]:
    """Tool rules in Letta's shapes (agents/tool_rules.py), naming only the agent's tools:
    a rule about a tool it does not have would constrain nothing, which is surely not
    what was meant."""
    try:
        checked = tool_rules.normalise_all(rules)
        tool_rules.check_names(checked, tools)
    except tool_rules.RuleInvalid as error:
        raise InvalidRequest(str(error)) from None
    return checked


def _default_tools(agent_type: str, enable_sleeptime: bool | None) -> list[str]:
    if agent_type == AgentType.SLEEPTIME:
        return list(SLEEPTIME_TOOLS)
    if enable_sleeptime:
        # Its sleep-time agent edits memory; the primary only talks and searches (Letta).
        return list(SLEEPTIME_CHAT_TOOLS)
    return list(BASE_TOOLS)


def _random_name() -> str:
    return f"agent-{secrets.token_hex(3)}"


def create_agent(owner: Any, spec: AgentSpec) -> Agent:
    if not spec.model:
        raise InvalidRequest("A model handle is required, e.g. 'openai/gpt-4.1'.")
    _check_handle(spec.model, "Model handle")
    embedding = spec.embedding or default_embedding_handle()
    _check_handle(embedding, "Embedding handle")
    name = spec.name or _random_name()
    if not NAME_PATTERN.match(name):
        raise InvalidRequest("An agent name may contain letters, digits, spaces, '_', '-' and '.'.")
    if spec.agent_type not in AgentType.values:
        raise InvalidRequest(
            f"Unknown agent_type {spec.agent_type!r}; one of {', '.join(AgentType.values)}."
        )
    if spec.sleeptime_model:
        _check_handle(spec.sleeptime_model, "Sleep-time model handle")
    base = _default_tools(spec.agent_type, spec.enable_sleeptime) if spec.include_base_tools else []
    tools = base + [name for name in spec.tools if name not in base]
    _check_tools(tools, organization_of(owner).pk)
    labels = [block.label for block in spec.memory_blocks]
    if len(labels) != len(set(labels)):
        raise InvalidRequest("Two memory blocks share a label; an agent's labels must differ.")
    shared = [memory_services.get_block_for_user(owner, block_id) for block_id in spec.block_ids]
    all_labels = labels + [block.label for block in shared]
    if len(all_labels) != len(set(all_labels)):
        raise InvalidRequest("Two blocks share a label; an agent's labels must differ.")
    if spec.context_window is not None and spec.context_window < 1000:
        raise InvalidRequest("context_window must be at least 1000 tokens.")
    _check_context(spec.context_tail_turns, spec.context_token_budget)
    check_message_size(spec.initial_messages)
    if spec.tool_rules is not None:
        rules = _checked_rules(spec.tool_rules, tools)
    elif spec.include_base_tool_rules is False:
        rules = []
    else:
        rules = default_rules(tools)

    with transaction.atomic():
        agent = Agent.objects.create(
            owner=owner,
            organization=organization_of(owner),
            name=name,
            description=spec.description or "",
            system=spec.system or prompts.default_system_prompt(spec.agent_type),
            agent_type=spec.agent_type,
            llm_handle=spec.model,
            context_window=spec.context_window or 128_000,
            temperature=0.7 if spec.temperature is None else spec.temperature,
            max_tokens=spec.max_tokens,
            embedding_handle=embedding,
            embedding_chunk_size=spec.embedding_chunk_size or 300,
            tools=tools,
            tool_rules=rules,
            tags=spec.tags,
            metadata=spec.metadata,
            timezone=spec.timezone or "UTC",
            enable_sleeptime=spec.enable_sleeptime,
            **{
                name: value
                for name in ("context_tail_turns", "context_token_budget")
                if (value := getattr(spec, name)) is not None
            },
        )
        for block_spec in spec.memory_blocks:
            block = memory_services.create_block(
                owner,
                organization=agent.organization,
                label=block_spec.label,
                value=block_spec.value,
                limit=block_spec.limit,
                description=block_spec.description
                if block_spec.description is not None
                else DEFAULT_BLOCK_DESCRIPTIONS.get(block_spec.label, ""),
                read_only=block_spec.read_only,
                metadata=block_spec.metadata,
                requires_review=block_spec.requires_review,
                deletion_budget=block_spec.deletion_budget,
            )
            memory_services.attach_block(agent, block)
        for block in shared:
            memory_services.attach_block(agent, block)
        for item in spec.initial_messages:
            Message.objects.create(
                agent=agent,
                role=item.role,
                content=item.content,
                name=item.name,
                otid=item.otid,
                sender_id=item.sender_id,
            )
        if spec.enable_sleeptime:
            group = sleeptime.create_pair(agent, model=spec.sleeptime_model)
            sleeptime.configure(
                group,
                frequency=spec.sleeptime_agent_frequency,
                idle_seconds=spec.sleeptime_idle_seconds,
            )
    return agent


def default_embedding_handle() -> str:

    return str(settings.DEFAULT_EMBEDDING)


_SIMPLE_UPDATES = {
    "name",
    "description",
    "system",
    "tags",
    "metadata",
    "temperature",
    "max_tokens",
    "timezone",
    "embedding_chunk_size",
    "context_tail_turns",
    "context_token_budget",
}


def update_agent(agent: Agent, changes: dict[str, Any], *, user: Any) -> Agent:
    """Apply a partial update; keys with None values are ignored (as in Letta).

    `user` is who asks: block ids are resolved with their access, never the agent
    owner's (an owner who belongs to several organizations would otherwise lend theirs).
    """
    changes = {key: value for key, value in changes.items() if value is not None}
    with transaction.atomic():
        agent = Agent.objects.select_for_update().get(pk=agent.pk)
        _check_context(changes.get("context_tail_turns"), changes.get("context_token_budget"))
        for key in _SIMPLE_UPDATES & changes.keys():
            setattr(agent, key, changes[key])
        if "name" in changes and not NAME_PATTERN.match(agent.name):
            raise InvalidRequest(
                "An agent name may contain letters, digits, spaces, '_', '-' and '.'."
            )
        if "model" in changes:
            _check_handle(changes["model"], "Model handle")
            agent.llm_handle = changes["model"]
        if "embedding" in changes:
            _check_handle(changes["embedding"], "Embedding handle")
            agent.embedding_handle = changes["embedding"]
        if "context_window" in changes:
            if changes["context_window"] < 1000:
                raise InvalidRequest("context_window must be at least 1000 tokens.")
            agent.context_window = changes["context_window"]
        if "tools" in changes:
            _check_tools(changes["tools"], agent.organization_id)
            agent.tools = list(changes["tools"])
            if "tool_rules" not in changes:
                agent.tool_rules = default_rules(agent.tools)
        if "tool_rules" in changes:
            # A new rule list replaces the old one whole, checked against the tools the
            # agent has after this update.
            agent.tool_rules = _checked_rules(changes["tool_rules"], agent.tools)
        if "enable_sleeptime" in changes:
            # Off only pauses: the group, its counter and its agents wait for "on" again.
            agent.enable_sleeptime = changes["enable_sleeptime"]
        agent.save()
        group = sleeptime.group_of(agent)
        if changes.get("enable_sleeptime") and group is None:
            group = sleeptime.create_pair(agent, model=changes.get("sleeptime_model"))
        settings_given = {
            "sleeptime_agent_frequency",
            "sleeptime_idle_seconds",
            "sleeptime_model",
        } & changes.keys()
        if settings_given and group is None:
            raise InvalidRequest(
                "This agent has no sleep-time agent; set enable_sleeptime to true first."
            )
        if group is not None and settings_given:
            sleeptime.configure(
                group,
                frequency=changes.get("sleeptime_agent_frequency"),
                idle_seconds=changes.get("sleeptime_idle_seconds"),
                model=changes.get("sleeptime_model"),
            )
        if "block_ids" in changes:
            wanted = [memory_services.get_block_for_user(user, b) for b in changes["block_ids"]]
            for link in AgentBlock.objects.filter(agent=agent).exclude(block__in=wanted):
                sleeptime.detach_block(agent, link.block_id)
            for block in wanted:
                sleeptime.attach_block(agent, block)
        # Other pages open on this agent show the new settings.
        events.publish_agent_changed(agent.id)
    return agent


def delete_group(group: Group) -> None:
    """Delete the group and its sleep-time agents; the primary's blocks stay.

    Unlike Letta (which left the primary flagged and its sleep-time agents orphaned),
    the primary is switched off so that enabling sleep-time again builds a fresh pair.
    """
    with transaction.atomic():
        primary = group.manager_agent
        participants = sleeptime.sleeptime_agents(group)
        group.delete()
        for sleeper in participants:
            delete_agent(sleeper)
        Agent.objects.filter(pk=primary.pk).update(enable_sleeptime=False)


def delete_agent(agent: Agent) -> None:
    """Delete the agent and its history, and a primary's group and sleep-time agents.
    Blocks shared with other agents survive; blocks that belonged to it (and its
    sleep-time agents) alone go with it."""
    with transaction.atomic():
        group = sleeptime.group_of(agent)
        sleepers = sleeptime.sleeptime_agents(group) if group is not None else []
        involved = [agent, *sleepers]
        own_blocks = list(
            Block.objects.filter(agent_links__agent__in=involved).values_list("pk", flat=True)
        )
        # Conversations' copies of isolated blocks belong to the agent alone.
        own_blocks += Block.objects.filter(isolating_conversations__agent__in=involved).values_list(
            "pk", flat=True
        )
        if group is not None:
            group.delete()
        for member in involved:
            member.delete()
        # Only blocks no other agent links to, so a shared persona never disappears.
        Block.objects.filter(
            pk__in=own_blocks, agent_links__isnull=True, isolating_conversations__isnull=True
        ).delete()


# --- Conversation --------------------------------------------------------------------------


def check_message_size(inputs: list[loop.InputMessage]) -> None:
    """Refuse a turn whose input is over MAX_MESSAGE_CHARS, before anything is stored or
    sent to the model (a stream checks before it starts)."""
    limit = settings.MAX_MESSAGE_CHARS
    size = sum(
        len(item.content) + sum(len(a.tool_return) for a in item.approvals or []) for item in inputs
    )
    if size > limit:
        raise TooLong(
            f"The message is {size:,} characters long; the limit is {limit:,} "
            "(MAX_MESSAGE_CHARS). Upload a long text to a folder attached to the agent, "
            "or send it in parts."
        )


def send_message(
    agent: Agent,
    inputs: list[loop.InputMessage],
    *,
    max_steps: int = loop.DEFAULT_MAX_STEPS,
    emit: loop.Emit | None = None,
    conversation: Conversation | None = None,
    run: Run | None = None,
    owner_id: int | None = None,
    client_tools: list[dict[str, Any]] | None = None,
    stream_tokens: bool = False,
    on_delta: loop.OnDelta | None = None,
    checked: bool = False,
) -> loop.TurnResult:
    """Run one turn, in the agent's own history or in `conversation`, as a run (opened
    here unless `run` was opened beforehand, for a turn in the background). Raises
    InvalidRequest, storing nothing, when the input is wrong or the provider is missing.

    With `stream_tokens` (or an `on_delta`, which then gets every piece) the model streams
    its replies and the pages open on the thread show them as they are written.
    `checked`: the caller ran check_turn already (to answer a 4xx before a stream).
    """
    if not checked:
        check_turn(agent, inputs, max_steps, conversation)
    begin = None
    if run is None:
        # Stored by the turn with its first writes (one statement, no wait for the disk).
        run = turns.new_turn(agent, conversation, owner_id=owner_id)
        begin = partial(run.save, force_insert=True)
    started = clock.monotonic()
    drafts = (
        chat.LiveDrafts(agent.id, conversation.id if conversation else None)
        if stream_tokens or on_delta
        else None
    )

    def deltas(draft: Message, delta: llm.Delta) -> None:
        if drafts is not None:
            drafts.delta(draft, delta)
        if on_delta is not None:
            on_delta(draft, delta)

    stored: list[Message] = []
    try:
        with turns.beating(run):
            result = loop.run_turn(
                agent,
                inputs,
                max_steps=max_steps,
                emit=emit,
                run_id=run.id,
                conversation=conversation,
                should_stop=lambda: turns.cancelled(run.id),
                client_tools=client_tools,
                on_delta=deltas if drafts is not None else None,
                begin=begin,
                finish=lambda ended: turns.close_turn(run, ended, started),
            )
        stored = result.messages
    except Exception as error:
        turns.close_turn(run, loop.TurnResult(stop_reason="error", error=str(error)), started)
        raise
    finally:
        if drafts is not None:
            drafts.close(stored)
    result.run_id = run.id
    # run_turn re-read the agent under its turn lock: sleep-time counts the turn if it
    # was on when the turn began (switching it off takes effect from the next turn).
    result.run_ids = sleeptime.after_turn(agent, failed=result.stop_reason == "error")
    return result


def check_approvals(thread: Thread, inputs: list[loop.InputMessage]) -> None:
    """A turn that stopped on tool calls awaiting approval is answered before anything
    else is said, with an answer for each of those calls (Letta's rules and words,
    which Letta Code recognises)."""
    answers = [a.tool_call_id for item in inputs for a in item.approvals or []]
    waiting = {call["id"]: call["name"] for call in loop.pending_approvals(thread)}
    if not answers:
        if waiting:
            raise Conflict(
                f"The agent is waiting for approval of tool call(s) "
                f"{', '.join(f'{name} ({call_id})' for call_id, name in waiting.items())}: "
                "send an approval message with their results or decisions first."
            )
        return
    # What waits is stored state, so answers that do not fit it are conflicts (409).
    if not waiting:
        raise Conflict("No tool call is currently awaiting approval.")
    unknown = [call_id for call_id in answers if call_id not in waiting]
    if unknown:
        raise Conflict(
            f"Tool call(s) {', '.join(unknown)} are not awaiting approval; "
            f"awaiting: {', '.join(waiting)}."
        )
    missing = [call_id for call_id in waiting if call_id not in answers]
    if missing:
        raise Conflict(f"Answer every tool call awaiting approval; missing: {', '.join(missing)}.")


def check_turn(
    agent: Agent,
    inputs: list[loop.InputMessage],
    max_steps: int,
    conversation: Conversation | None = None,
) -> None:
    """What makes a turn impossible, as an InvalidRequest, before anything is stored."""
    if not inputs:
        raise InvalidRequest("At least one message is needed.")
    if max_steps < 1:
        raise InvalidRequest("max_steps must be at least 1.")
    check_message_size(inputs)
    check_approvals(Thread(agent, conversation), inputs)
    handle = conversation.model if conversation is not None and conversation.model else None
    try:
        llm.ensure_configured(handle or agent.llm_handle)
    except llm.ProviderNotConfigured as error:
        raise InvalidRequest(str(error)) from None


def list_messages(
    agent: Agent,
    *,
    conversation_id: str | None = None,
    after: str | None = None,
    before: str | None = None,
    limit: int | None = 100,
    order: str = "asc",
    rendering: Rendering | None = None,
) -> list[dict[str, Any]]:
    """A page of the agent's messages as Letta messages: of every thread, as Letta's
       server lists them (letta-evals reads a Letta Code run this way), or of one
       conversation (`default` for the agent's own history).
    (Pages as
       `message_page` says.)
    """
    messages = Message.objects.filter(agent=agent)
    if conversation_id == "default":
        messages = Thread(agent).messages()
    elif conversation_id:
        if not Conversation.objects.filter(pk=conversation_id, agent=agent).exists():
            raise NotFound(f"Agent '{agent.id}' has no conversation '{conversation_id}'")
        messages = messages.filter(conversation_id=conversation_id)
    return message_page(
        messages, after=after, before=before, limit=limit, order=order, rendering=rendering
    )


def message_page(
    messages: QuerySet[Message],
    *,
    after: str | None = None,
    before: str | None = None,
    limit: int | None = 100,
    order: str = "asc",
    rendering: Rendering | None = None,
) -> list[dict[str, Any]]:
    """A page of `messages` as Letta messages; cursors are message ids within them.

    `after` and `before` follow the list's order: with `order="desc"` (newest first),
    `after` the last id of a page gives the next, older page. A page taken `before` a
    cursor is the one right before it.

    One stored message can render as several Letta messages (reasoning, then a tool
    call), which share its id, the cursor; so a page holds whole stored messages, or
    the next page (`after` that id) would lose the rest. `limit` counts Letta messages:
    a page holds as many whole stored messages as fit in it, and only a first stored
    message whose parts alone outnumber `limit` makes a page longer. Stored messages
    that render to nothing (the return of `send_message`, said already by its
    assistant message) are passed over, so a page is empty only past the end: the v1
    SDK's pager stops at the first empty page.
    """
    if order not in {"asc", "desc"}:
        raise InvalidRequest("order must be 'asc' or 'desc'.")
    rendering = rendering or Rendering()
    later, earlier = ("gt", "lt") if order == "asc" else ("lt", "gt")
    for cursor_id, op in ((after, later), (before, earlier)):
        if cursor_id:
            anchor = messages.filter(uid=cursor_id).values_list("seq", flat=True).first()
            if anchor is None:
                raise NotFound(f"Message '{cursor_id}' not found")
            messages = messages.filter(**{f"seq__{op}": anchor})
    # Walked away from the cursor: forwards in the list's order, or back from `before`,
    # in batches, since some stored messages add nothing to the page.
    backwards = bool(before and not after)
    walk_ascending = (order == "asc") != backwards
    walk = messages.order_by("seq" if walk_ascending else "-seq")
    beyond = "seq__gt" if walk_ascending else "seq__lt"
    batch = limit + 1 if limit else None
    chunks: list[list[dict[str, Any]]] = []
    count = 0
    while True:
        fetched = list(walk[:batch]) if batch else list(walk)
        for message in fetched:
            parts = to_letta(message, rendering)
            if not parts:
                continue
            if limit and count and count + len(parts) > limit:
                return _in_order(chunks, backwards)
            chunks.append(parts)
            count += len(parts)
            if limit and count >= limit:
                return _in_order(chunks, backwards)
        if batch is None or len(fetched) < batch:
            return _in_order(chunks, backwards)
        walk = walk.filter(**{beyond: fetched[-1].seq})


def _in_order(chunks: list[list[dict[str, Any]]], backwards: bool) -> list[dict[str, Any]]:
    """The page's stored messages in the list's order, each one's parts in theirs."""
    ordered = reversed(chunks) if backwards else chunks
    return [part for chunk in ordered for part in chunk]


# --- Context window ------------------------------------------------------------------------


def context_overview(agent: Agent) -> dict[str, Any]:
    """Token counts per component of what the model sees now (estimates, see loop)."""
    memory, metadata = loop.system_parts(agent)
    base_system = agent.system.replace(prompts.CORE_MEMORY_PLACEHOLDER, "")
    history = list(Thread(agent).messages().filter(in_context=True).order_by("seq"))
    openai_messages = loop.to_openai(history)
    functions = loop.tool_schemas(agent)
    summary = agent.summary
    tokens = {
        "system": loop.estimate_tokens(base_system),
        "core_memory": loop.estimate_tokens(memory),
        "external_memory_summary": loop.estimate_tokens(metadata),
        "summary": loop.estimate_tokens(summary),
        "functions": loop.estimate_tokens(json.dumps(functions)),
        "messages": sum(loop.estimate_tokens(json.dumps(m)) for m in openai_messages),
    }
    return {
        "context_window_size_max": agent.context_window,
        "context_window_size_current": sum(tokens.values()),
        "num_messages": len(openai_messages) + 1,
        "num_archival_memory": memory_services.archival_count(agent),
        "num_recall_memory": Message.objects.filter(agent=agent).count(),
        "num_tokens_external_memory_summary": tokens["external_memory_summary"],
        "external_memory_summary": metadata,
        "num_tokens_system": tokens["system"],
        "system_prompt": base_system,
        "num_tokens_core_memory": tokens["core_memory"],
        "core_memory": memory,
        "num_tokens_summary_memory": tokens["summary"],
        "summary_memory": summary or None,
        "num_tokens_functions_definitions": tokens["functions"],
        "functions_definitions": functions,
        "num_tokens_messages": tokens["messages"],
        "messages": openai_messages,
    }


# --- Insights ------------------------------------------------------------------------------


def list_insights(
    agent: Agent,
    *,
    include_dismissed: bool = False,
    after: str | None = None,
    before: str | None = None,
    limit: int | None = None,
    ascending: bool = False,
) -> QuerySet[Insight]:
    """The agent's insights, newest first unless `ascending`; cursors are insight ids."""
    insights = Insight.objects.filter(agent=agent)
    if not include_dismissed:
        insights = insights.filter(dismissed_at__isnull=True)
    return cursor_page(insights, after=after, before=before, limit=limit, ascending=ascending)


def dismiss_insight(agent: Agent, insight_id: str) -> Insight:
    insight = Insight.objects.filter(agent=agent, pk=insight_id).first()
    if insight is None:
        raise NotFound(f"Insight '{insight_id}' not found")
    if insight.dismissed_at is None:
        insight.dismissed_at = timezone.now()
        insight.save(update_fields=["dismissed_at"])
    return insight


# --- Tools ---------------------------------------------------------------------------------


def tool_name_for_id(organization_id: Any, tool_id: str) -> str:
    """The name of a built-in tool or of the organization's tool with this id."""
    for tool in TOOLS.values():
        if tool.id == tool_id:
            return tool.name
    stored = StoredTool.objects.filter(organization_id=organization_id, pk=tool_id).first()
    if stored is None:
        raise NotFound(f"Tool {tool_id} not found.")
    return stored.name


def attach_tool(agent: Agent, tool_id: str) -> Agent:
    """Give the agent the tool (by id); attaching twice changes nothing."""
    name = tool_name_for_id(agent.organization_id, tool_id)
    with transaction.atomic():
        locked = Agent.objects.select_for_update().get(pk=agent.pk)
        if name not in locked.tools:
            locked.tools = [*locked.tools, name]
            locked.save(update_fields=["tools", "updated_at"])
    return locked


def detach_tool(agent: Agent, tool_id: str) -> Agent:
    """Take the tool (by id) from the agent, with the rules that name it."""
    name = tool_name_for_id(agent.organization_id, tool_id)
    with transaction.atomic():
        locked = Agent.objects.select_for_update().get(pk=agent.pk)
        if name in locked.tools:
            locked.tools = [tool for tool in locked.tools if tool != name]
            locked.tool_rules = [
                rule for rule in locked.tool_rules or [] if rule.get("tool_name") != name
            ]
            locked.save(update_fields=["tools", "tool_rules", "updated_at"])
    return locked


def rename_tool_in_agents(organization_id: Any, old: str, new: str | None) -> int:
    """After a tool was renamed (`new`) or deleted (None): the organization's agents
    that named it follow, with their rules. Returns how many agents changed."""
    changed = 0
    with transaction.atomic():
        agents = Agent.objects.select_for_update().filter(
            organization_id=organization_id, tools__contains=[old]
        )
        for agent in agents:
            kept = [name for name in agent.tools if name != old or new is not None]
            agent.tools = [new if name == old and new else name for name in kept]
            rules = []
            for rule in agent.tool_rules or []:
                if rule.get("tool_name") == old:
                    if new is None:
                        continue
                    rule = {**rule, "tool_name": new}
                rules.append(rule)
            agent.tool_rules = rules
            agent.save(update_fields=["tools", "tool_rules", "updated_at"])
            changed += 1
    return changed


def update_custom_tool(tool: StoredTool, spec: toolbox_services.ToolSpec) -> StoredTool:
    """Change a custom tool; agents that have it follow a rename of its function, in the
    same transaction, so none is left naming a tool that no longer has that name."""
    before = tool.name
    with transaction.atomic():
        tool = toolbox_services.update_tool(tool, spec, reserved=TOOLS)
        if tool.name != before:
            rename_tool_in_agents(tool.organization_id, before, tool.name)
    return tool


def forget_deleted_tool(sender: Any, instance: StoredTool, **kwargs: Any) -> None:
    """post_delete of a Tool: the agents that named it no longer do."""
    rename_tool_in_agents(instance.organization_id, instance.name, None)
