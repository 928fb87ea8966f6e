"""Sleep-time: the primary/sleep-time pair, its group, and when background runs start.

What a run does once started lives in `agents.runs`; this module decides *that* one
starts: after every N-th finished turn (Letta's counter arithmetic), when a conversation
has gone quiet, or on demand, with at most one run in flight per sleep-time agent.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from agents import governor, prompts, runs
from agents.models import Agent, AgentType, Group, ManagerType, Run, RunTrigger
from agents.tools import SLEEPTIME_TOOLS, default_rules
from config.errors import InvalidRequest, NotFound
from config.pagination import cursor_page
from config.transactions import commit_without_flush
from memory import services as memory_services
from memory.models import AgentBlock, Block

logger = logging.getLogger("reverie.sleeptime")

DEFAULT_FREQUENCY = 5
MEMORY_PERSONA_LABEL = "memory_persona"


# --- The pair ------------------------------------------------------------------------------


def group_of(primary: Agent) -> Group | None:
    return Group.objects.filter(manager_agent=primary).first()


def sleeptime_agents(group: Group) -> list[Agent]:
    return list(group.participants.order_by("created_at", "id"))


def create_pair(primary: Agent, *, model: str | None = None) -> Group:
    """Create `<name>-sleeptime` sharing the primary's very block rows, and the group.

    Call inside the primary's creating or updating transaction.
    """
    sleeper = Agent.objects.create(
        owner=primary.owner,
        organization_id=primary.organization_id,
        name=f"{primary.name}-sleeptime",
        system=prompts.default_system_prompt(AgentType.SLEEPTIME),
        agent_type=AgentType.SLEEPTIME,
        llm_handle=model or primary.llm_handle,
        context_window=primary.context_window,
        temperature=primary.temperature,
        max_tokens=primary.max_tokens,
        embedding_handle=primary.embedding_handle,
        embedding_chunk_size=primary.embedding_chunk_size,
        tools=list(SLEEPTIME_TOOLS),
        tool_rules=default_rules(SLEEPTIME_TOOLS),
        timezone=primary.timezone,
    )
    for block in memory_services.agent_blocks(primary):
        memory_services.attach_block(sleeper, block)
    persona = memory_services.create_block(
        primary.owner,
        organization=primary.organization,
        label=MEMORY_PERSONA_LABEL,
        value=prompts.MEMORY_PERSONA,
        description="How the memory agent works: its role and any policies it follows.",
    )
    memory_services.attach_block(sleeper, persona)
    group = Group.objects.create(
        owner=primary.owner,
        organization_id=primary.organization_id,
        manager_type=ManagerType.SLEEPTIME,
        manager_agent=primary,
        sleeptime_agent_frequency=DEFAULT_FREQUENCY,
        turns_counter=-1,
    )
    group.participants.add(sleeper)
    logger.info("agent %s: created sleep-time agent %s", primary.id, sleeper.id)
    return group


def configure(
    group: Group,
    *,
    frequency: int | None = None,
    idle_seconds: int | None = None,
    model: str | None = None,
) -> Group:
    """Change when the group runs and which model its sleep-time agents use.

    Everything is checked before anything is written: a refused change changes nothing.
    """
    if frequency is not None and frequency < 0:
        raise InvalidRequest("sleeptime_agent_frequency must be 0 (never) or more.")
    if idle_seconds is not None and idle_seconds < 0:
        raise InvalidRequest("sleeptime_idle_seconds must be 0 (off) or more.")
    if model is not None:
        provider, _, name = model.partition("/")
        if not provider or not name:
            raise InvalidRequest(f"Model handle {model!r} must look like 'provider/model-name'.")
    with transaction.atomic():
        if frequency is not None:
            group.sleeptime_agent_frequency = frequency
            if group.turns_counter is None:
                group.turns_counter = -1
        if idle_seconds is not None:
            group.sleeptime_idle_seconds = idle_seconds
        group.save()
        if model is not None:
            group.participants.update(llm_handle=model)
    return group


def sleeptime_model(group: Group) -> str | None:
    first = group.participants.order_by("created_at").values_list("llm_handle", flat=True)
    return first.first()


def get_group_for_user(user: Any, group_id: str) -> Group:
    group = (
        Group.objects.for_user(user)
        .filter(pk=group_id)
        .select_related("manager_agent")
        .prefetch_related("participants")
        .first()
    )
    if group is None:
        raise NotFound(f"Group '{group_id}' not found")
    return group


def list_groups(
    user: Any,
    *,
    manager_type: str | None = None,
    after: str | None = None,
    before: str | None = None,
    limit: int = 50,
    ascending: bool = True,
) -> Iterable[Group]:
    groups = Group.objects.for_user(user)
    if manager_type:
        groups = groups.filter(manager_type=manager_type)
    page = cursor_page(groups, after=after, before=before, limit=limit, ascending=ascending)
    return page.select_related("manager_agent").prefetch_related("participants")


# --- Shared blocks -------------------------------------------------------------------------


def attach_block(agent: Agent, block: Block) -> None:
    """Attach to the agent and, for a primary, to its sleep-time agents too."""
    with transaction.atomic():
        memory_services.attach_block(agent, block)
        group = group_of(agent)
        for sleeper in sleeptime_agents(group) if group else []:
            memory_services.attach_block(sleeper, block)


def detach_block(agent: Agent, block_id: str) -> None:
    """Detach from the agent and from its sleep-time agents (Letta forgot the latter)."""
    with transaction.atomic():
        memory_services.detach_block(agent, block_id)
        group = group_of(agent)
        for sleeper in sleeptime_agents(group) if group else []:
            if AgentBlock.objects.filter(agent=sleeper, block_id=block_id).exists():
                memory_services.detach_block(sleeper, block_id)


# --- Triggers ------------------------------------------------------------------------------


def after_turn(primary: Agent, *, failed: bool) -> list[str] | None:
    """Advance the turn counter after a finished turn; start runs when it comes round.

    Letta's arithmetic: counter = (counter + 1) % N and a run starts at 0, from -1 for a
    new group, so turns 1, 1+N, 1+2N... trigger. The row lock makes concurrent turns
    count once each (Letta's read-then-write could lose counts). A turn that failed
    (the model was unreachable) is not a finished turn and does not count.
    Returns the started (or joined) run ids, or None when sleep-time is off.
    """
    if not primary.enable_sleeptime or failed:
        return None
    with transaction.atomic():
        # Background bookkeeping on the conversation's path: it does not wait for the
        # disk (config/transactions.py). A crash of the database server that loses it
        # loses a trigger at most, and the next run reads what it would have read: a
        # transcript starts at the last processed message, not at the trigger.
        commit_without_flush()
        group = Group.objects.select_for_update().filter(manager_agent=primary).first()
        if group is None:
            return None
        frequency = group.sleeptime_agent_frequency
        if frequency == 0:
            return []
        # Back-off: after runs that changed nothing, runs come every (N * factor) turns.
        every = (frequency or 1) * governor.backoff_factor(group)
        counter = group.turns_counter if group.turns_counter is not None else -1
        # Counted at every turn, also while every turn runs: a run that backs off then
        # counts its interval from the turn that started it. (Left at -1, the next turn
        # after the first quiet run would run at once.) Unchanged, it is not written.
        if (counter + 1) % every != counter:
            group.turns_counter = (counter + 1) % every
            group.save(update_fields=["turns_counter", "updated_at"])
        if group.turns_counter != 0:
            return []
        return [run.id for run in _start(group, RunTrigger.TURN)]


def run_now(group: Group) -> list[Run]:
    """Start the group's sleep-time agents now (the API's and the ADE's button), even
    while paused: a person asked for it."""
    with transaction.atomic():
        locked = Group.objects.select_for_update().get(pk=group.pk)
        return _start(locked, RunTrigger.MANUAL, force=True)


def set_paused(group: Group, paused: bool) -> Group:
    """Pause or resume the group: while paused its triggers are recorded as skipped."""
    Group.objects.filter(pk=group.pk).update(paused=paused, updated_at=timezone.now())
    group.paused = paused
    return group


def _start(group: Group, trigger: str, *, force: bool = False) -> list[Run]:
    """A run per sleep-time agent, single-flight. The caller holds the group's row lock.
    While the group is paused the trigger is recorded as a skipped run instead."""
    if group.paused and not force:
        return [runs.record_skipped(group, trigger, "sleep-time is paused for this agent")]
    # Only their ids are needed, and with frequency 1 this runs after every turn: the
    # agents' rows (system prompt, tool lists) are not loaded for nothing.
    sleepers = group.participants.order_by("created_at", "id").only("id")
    return [runs.request_run(group, sleeper, trigger) for sleeper in sleepers]


def fire_idle(now: datetime | None = None) -> list[Run]:
    """One run for each conversation that went quiet with messages not yet processed."""
    now = now or timezone.now()
    candidates = (
        Group.objects.filter(
            manager_agent__enable_sleeptime=True,
            sleeptime_idle_seconds__gt=0,
            manager_agent__last_turn_end_seq__isnull=False,
        )
        .filter(
            Q(last_processed_seq__isnull=True)
            | Q(last_processed_seq__lt=F("manager_agent__last_turn_end_seq"))
        )
        .filter(
            Q(idle_fired_seq__isnull=True)
            | Q(idle_fired_seq__lt=F("manager_agent__last_turn_end_seq"))
        )
        .select_related("manager_agent")
    )
    started: list[Run] = []
    for candidate in candidates:
        quiet_since = candidate.manager_agent.last_turn_at
        if quiet_since is None:
            continue
        wait = candidate.sleeptime_idle_seconds * governor.backoff_factor(candidate)
        if (now - quiet_since).total_seconds() < wait:
            continue
        with transaction.atomic():
            # skip_locked: several clocks (one per worker machine) never fire one group twice.
            group = (
                Group.objects.select_for_update(skip_locked=True)
                .filter(pk=candidate.pk)
                .select_related("manager_agent")
                .first()
            )
            if group is None:
                continue
            last_turn = group.manager_agent.last_turn_end_seq
            if group.idle_fired_seq is not None and group.idle_fired_seq >= (last_turn or 0):
                continue
            group.idle_fired_seq = last_turn
            group.save(update_fields=["idle_fired_seq", "updated_at"])
            started += _start(group, RunTrigger.IDLE)
    return started
