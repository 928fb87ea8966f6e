"""`/v1/runs`: the runs of turns and background runs, their messages, streams, edits, undo."""

from __future__ import annotations

from typing import Any, Literal

from ninja import Query, Router, Schema

from agents import runs
from agents.api.turns import event_stream, follow_run
from agents.letta_format import Rendering
from agents.models import Run
from agents.schemas import Outcome, RunDetailOut, RunOut, Trigger
from agents.services import message_page
from config.pagination import is_ascending
from config.requests import ApiRequest
from memory.services import Actor

runs_router = Router(tags=["runs"])


class RevertOut(Schema):
    run_id: str
    reverted: list[dict[str, Any]]
    unchanged: list[dict[str, Any]]
    conflicts: list[dict[str, Any]]


@runs_router.get("", response=list[RunOut])
def list_runs(
    request: ApiRequest,
    agent_id: str | None = None,
    agent_ids: list[str] = Query(None),
    statuses: list[Literal["created", "running", "completed", "failed", "cancelled"]] = Query(None),
    active: bool = False,
    background: bool | None = None,
    conversation_id: str | None = None,
    outcome: list[Outcome] = Query(None),
    trigger: list[Trigger] = Query(None),
    after: str | None = None,
    before: str | None = None,
    limit: int = Query(50, ge=1, le=1000),
    order: Literal["asc", "desc"] | None = None,
    ascending: bool | None = None,
) -> list[Run]:
    """Newest first, unless `order=asc` (or the 0.1.x SDK's `ascending=true`).

    Reverie's ledger filters, each repeatable: `outcome` (how a background run ended:
    applied, awaiting_review, no_change, skipped, failed; runs still working and turns
    have none) and `trigger` (what started it: turn, idle, manual, retry, backlog,
    digest, forget, or message for a turn's own run)."""
    wanted = [*(agent_ids or []), *([agent_id] if agent_id else [])]
    page = runs.list_runs(
        request.auth,
        agent_ids=wanted or None,
        statuses=list(statuses) if statuses else None,
        active=active,
        background=background,
        conversation_id=conversation_id,
        outcomes=list(outcome) if outcome else None,
        triggers=list(trigger) if trigger else None,
        after=after,
        before=before,
        limit=limit,
        ascending=is_ascending(order, ascending, default=False),
    )
    return list(page)


@runs_router.get("/active", response=list[RunOut])
def list_active_runs(
    request: ApiRequest,
    agent_id: str | None = None,
    agent_ids: list[str] = Query(None),
) -> list[Run]:
    """Runs waiting or working (the 0.1.x SDK's `runs.list_active`)."""
    wanted = [*(agent_ids or []), *([agent_id] if agent_id else [])]
    page = runs.list_runs(request.auth, agent_ids=wanted or None, active=True, limit=1000)
    return list(page)


@runs_router.get("/{run_id}", response=RunDetailOut)
def retrieve_run(request: ApiRequest, run_id: str) -> Run:
    run = runs.get_run_for_user(request.auth, run_id)
    run.versions = runs.run_versions(run)  # type: ignore[attr-defined]
    run.messages = list(runs.run_messages(run))  # type: ignore[attr-defined]
    return run


@runs_router.get("/{run_id}/messages")
def run_messages(
    request: ApiRequest,
    run_id: str,
    after: str | None = None,
    before: str | None = None,
    limit: int = Query(100, ge=1, le=10000),
    order: Literal["asc", "desc"] = "asc",
) -> list[dict[str, Any]]:
    """The run's conversation: the transcript it was given, its tool calls and results."""
    run = runs.get_run_for_user(request.auth, run_id)
    return message_page(
        runs.run_messages(run), after=after, before=before, limit=limit, order=order
    )


class RunStreamIn(Schema):
    starting_after: int | None = None
    include_pings: bool = False
    batch_size: int | None = None
    poll_interval: float | None = None


def _follow(request: ApiRequest, run_id: str, payload: RunStreamIn) -> Any:
    run = runs.get_run_for_user(request.auth, run_id)
    return event_stream(
        follow_run(run.id, Rendering(), None, starting_after=payload.starting_after)
    )


@runs_router.post("/{run_id}/stream")
def stream_run(request: ApiRequest, run_id: str, payload: RunStreamIn) -> Any:
    """The run's messages as an event stream, from after `starting_after` (a `seq_id`),
    ending with its stop reason and usage once it ends."""
    return _follow(request, run_id, payload)


@runs_router.get("/{run_id}/stream")
def stream_run_get(request: ApiRequest, run_id: str, payload: RunStreamIn = Query(...)) -> Any:
    return _follow(request, run_id, payload)


@runs_router.post("/{run_id}/revert", response=RevertOut)
def revert_run(request: ApiRequest, run_id: str) -> Any:
    """Undo the run's edits that nothing overwrote since; report the others."""
    run = runs.get_run_for_user(request.auth, run_id)
    return runs.revert_run(run, Actor.for_user(request.auth))
