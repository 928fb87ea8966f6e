"""`/v1/agents/{agent_id}/forget`: forgetting an agent's data, and its record."""

from __future__ import annotations

from typing import Literal

from ninja import Query, Router, Status

from agents.services import get_agent_for_user
from config.pagination import cursor_page
from config.requests import ApiRequest
from forgetting import services
from forgetting.models import ForgetJob, Tombstone
from forgetting.schemas import ForgetIn, ForgetJobOut, TombstoneOut

router = Router(tags=["forgetting"])


@router.post("/{agent_id}/forget", response={200: TombstoneOut, 202: ForgetJobOut})
def forget(request: ApiRequest, agent_id: str, payload: ForgetIn) -> Status[Tombstone | ForgetJob]:
    """Forget now (200, the tombstone) or, for a matter, queue a job (202, the job)."""
    agent = get_agent_for_user(request.auth, agent_id)
    who = services.who_for_user(request.auth)
    done = services.forget(agent, payload.spec(), who=who)
    if isinstance(done, ForgetJob):
        return Status(202, done)
    return Status(200, done)


@router.get("/{agent_id}/forget", response=list[TombstoneOut])
def list_tombstones(
    request: ApiRequest,
    agent_id: str,
    after: str | None = None,
    before: str | None = None,
    limit: int = Query(100, ge=1, le=1000),
    order: Literal["asc", "desc"] = "desc",
) -> list[Tombstone]:
    """Newest first, unless `order=asc`; cursors are tombstone ids."""
    agent = get_agent_for_user(request.auth, agent_id)
    tombstones = services.list_tombstones(agent)
    page = cursor_page(
        tombstones, after=after, before=before, limit=limit, ascending=order == "asc"
    )
    return list(page)


@router.get("/{agent_id}/forget/jobs", response=list[ForgetJobOut])
def list_jobs(
    request: ApiRequest,
    agent_id: str,
    after: str | None = None,
    before: str | None = None,
    limit: int = Query(100, ge=1, le=1000),
    order: Literal["asc", "desc"] = "desc",
) -> list[ForgetJob]:
    """Newest first, unless `order=asc`; cursors are job ids."""
    agent = get_agent_for_user(request.auth, agent_id)
    jobs = services.list_jobs(agent)
    page = cursor_page(jobs, after=after, before=before, limit=limit, ascending=order == "asc")
    return list(page)


@router.get("/{agent_id}/forget/jobs/{job_id}", response=ForgetJobOut)
def get_job(request: ApiRequest, agent_id: str, job_id: str) -> ForgetJob:
    agent = get_agent_for_user(request.auth, agent_id)
    return services.get_job(agent, job_id)
