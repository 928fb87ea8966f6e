"""`/v1/groups`: sleep-time groups (Letta's shape; deprecated there, still used by its SDKs),
with Reverie's controls of their background work: pause, resume, token budgets."""

from __future__ import annotations

from typing import Literal

from django.db import transaction
from ninja import Query, Router

from agents import governor, services, sleeptime
from agents.models import Group, Run
from agents.schemas import GroupOut, GroupUpdateIn, RunOut
from config.errors import InvalidRequest
from config.requests import ApiRequest
from memory.schemas import MessageOut

groups_router = Router(tags=["groups"])


@groups_router.get("", response=list[GroupOut])
def list_groups(
    request: ApiRequest,
    manager_type: str | None = None,
    after: str | None = None,
    before: str | None = None,
    limit: int = Query(50, ge=1, le=1000),
    order: Literal["asc", "desc"] = "asc",
) -> list[Group]:
    groups = sleeptime.list_groups(
        request.auth,
        manager_type=manager_type,
        after=after,
        before=before,
        limit=limit,
        ascending=order == "asc",
    )
    return list(groups)


@groups_router.get("/{group_id}", response=GroupOut)
def retrieve_group(request: ApiRequest, group_id: str) -> Group:
    return sleeptime.get_group_for_user(request.auth, group_id)


@groups_router.patch("/{group_id}", response=GroupOut)
def update_group(request: ApiRequest, group_id: str, payload: GroupUpdateIn) -> Group:
    """Letta's update, plus `paused` and the agent's token budgets for background work
    (`daily_token_budget`, `monthly_token_budget`: tokens, at least 1; null removes the
    limit, a field left out keeps it). A run over a budget is skipped, with the reason,
    before it calls the model."""
    group = sleeptime.get_group_for_user(request.auth, group_id)
    config = payload.manager_config
    if config is not None and config.manager_type != group.manager_type:
        raise InvalidRequest(
            f"Cannot change the group's manager_type from '{group.manager_type}' to "
            f"'{config.manager_type}' after creation."
        )
    if payload.agent_ids is not None:
        raise InvalidRequest(
            "A sleep-time group's agents follow its primary; enable or disable sleep-time "
            "on the primary agent instead of listing agent_ids."
        )
    with transaction.atomic():
        if config is not None:
            sleeptime.configure(
                group,
                frequency=config.sleeptime_agent_frequency,
                idle_seconds=config.sleeptime_idle_seconds,
                model=config.sleeptime_model,
            )
        if payload.description is not None:
            group.description = payload.description
            group.save(update_fields=["description", "updated_at"])
        governor.set_group_budgets(group, payload.budget_changes())
        if payload.paused is not None:
            sleeptime.set_paused(group, payload.paused)
    return sleeptime.get_group_for_user(request.auth, group_id)


@groups_router.delete("/{group_id}", response=MessageOut)
def delete_group(request: ApiRequest, group_id: str) -> dict[str, str]:
    services.delete_group(sleeptime.get_group_for_user(request.auth, group_id))
    return {"message": f"Group id={group_id} successfully deleted"}


@groups_router.post("/{group_id}/run", response=list[RunOut])
def run_group_now(request: ApiRequest, group_id: str) -> list[Run]:
    """Start the group's sleep-time agents now (or join the run already queued)."""
    group = sleeptime.get_group_for_user(request.auth, group_id)
    return sleeptime.run_now(group)


@groups_router.post("/{group_id}/pause", response=GroupOut)
def pause_group(request: ApiRequest, group_id: str) -> Group:
    """Pause the group's background work: until it is resumed, each trigger (a turn, the
    idle timer, a backlog) is recorded as a `skipped` run with the reason, and nothing
    runs."""
    group = sleeptime.get_group_for_user(request.auth, group_id)
    sleeptime.set_paused(group, True)
    return sleeptime.get_group_for_user(request.auth, group_id)


@groups_router.post("/{group_id}/resume", response=GroupOut)
def resume_group(request: ApiRequest, group_id: str) -> Group:
    """Resume a paused group: the next trigger starts a run again."""
    group = sleeptime.get_group_for_user(request.auth, group_id)
    sleeptime.set_paused(group, False)
    return sleeptime.get_group_for_user(request.auth, group_id)
