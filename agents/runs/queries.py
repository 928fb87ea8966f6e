"""Reading runs, always within the reader's organization."""

from __future__ import annotations

from typing import Any

from django.db.models import Q, QuerySet

from agents.models import ACTIVE_RUN_STATUSES, Message, Run, RunTrigger
from config.errors import NotFound
from config.pagination import cursor_page
from memory.models import BlockVersion


def get_run_for_user(user: Any, run_id: str) -> Run:
    run = Run.objects.for_user(user).filter(pk=run_id).first()
    if run is None:
        raise NotFound(f"Run '{run_id}' not found")
    return run


def list_runs(
    user: Any,
    *,
    agent_ids: list[str] | None = None,
    statuses: list[str] | None = None,
    active: bool = False,
    background: bool | None = None,
    conversation_id: str | None = None,
    outcomes: list[str] | None = None,
    triggers: list[str] | None = None,
    after: str | None = None,
    before: str | None = None,
    limit: int = 50,
    ascending: bool = False,
) -> QuerySet[Run]:
    runs = Run.objects.for_user(user)
    if agent_ids:
        # A primary's id finds the runs that tend its memory, too.
        runs = runs.filter(Q(run_agent_id__in=agent_ids) | Q(primary_agent_id__in=agent_ids))
    if statuses:
        runs = runs.filter(status__in=statuses)
    if active:
        runs = runs.filter(status__in=ACTIVE_RUN_STATUSES)
    if background is not None:
        turns = Q(trigger=RunTrigger.MESSAGE)
        runs = runs.exclude(turns) if background else runs.filter(turns)
    if conversation_id:
        # The turns of one conversation (`default`: of agents' own histories).
        thread = None if conversation_id == "default" else conversation_id
        runs = runs.filter(trigger=RunTrigger.MESSAGE, metadata__conversation_id=thread)
    if outcomes:
        runs = runs.filter(outcome__in=outcomes)
    if triggers:
        runs = runs.filter(trigger__in=triggers)
    return cursor_page(runs, after=after, before=before, limit=limit, ascending=ascending)


def run_messages(run: Run) -> QuerySet[Message]:
    return Message.objects.filter(run_id=run.id).order_by("seq")


def run_versions(run: Run) -> list[BlockVersion]:
    return list(BlockVersion.objects.filter(run_id=run.id).order_by("created_at", "number"))
