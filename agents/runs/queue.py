"""Queueing runs: single flight per agent, follow-ups, and the hand-over to a worker."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from agents.models import ACTIVE_RUN_STATUSES, Agent, Group, Run, RunStatus
from config.tasks import enqueue_on_commit
from memory import events


def enqueue(run: Run) -> None:
    """Hand the run to a worker once the transaction that created it commits."""
    run_id = run.id
    enqueue_on_commit(
        "agents.tasks.execute_run",
        run_id,
        task_name=run_id,
        on_send=lambda: Run.objects.filter(pk=run_id).update(enqueued_at=timezone.now()),
    )


def request_run(group: Group, sleeper: Agent, trigger: str, **fields: Any) -> Run:
    """Queue a run of `sleeper`, or join the one already queued.

    At most one run per sleep-time agent waits and one works. A trigger that arrives
    while a run works queues a follow-up that starts when it ends (so the follow-up
    reads what arrived meanwhile); further triggers join that follow-up. Nothing is
    dropped and nothing runs twice in parallel.
    """
    active = list(
        Run.objects.filter(run_agent_id=sleeper.id, status__in=ACTIVE_RUN_STATUSES).order_by(
            "created_at"
        )
    )
    queued = next((run for run in active if run.status == RunStatus.CREATED), None)
    if queued is not None:
        # The ledger: this trigger ends in the run it joined.
        joined = queued.metadata.get("joined", {})
        joined[trigger] = joined.get(trigger, 0) + 1
        queued.metadata = {**queued.metadata, "joined": joined}
        Run.objects.filter(pk=queued.pk).update(metadata=queued.metadata)
        return queued
    run = Run.objects.create(
        owner=group.owner,
        organization_id=group.organization_id,
        run_agent_id=sleeper.id,
        primary_agent_id=group.manager_agent_id,
        group=group,
        trigger=trigger,
        metadata={"run_type": "sleeptime_agent_send_message_async", "agent_id": sleeper.id},
        **fields,
    )
    if not any(r.status == RunStatus.RUNNING for r in active) and run.not_before is None:
        enqueue(run)
    return run


def claim(run_id: str) -> Run | None:
    """Run `run_id`, now `running` for this worker; None when it is not this worker's to
    start (done, cancelled, taken, not due, or its agent busy)."""
    with transaction.atomic():
        run = Run.objects.select_for_update().filter(pk=run_id).first()
        if run is None or run.status != RunStatus.CREATED:
            return None  # done, cancelled, or another worker has it
        if run.not_before is not None and run.not_before > timezone.now():
            return None  # the clock enqueues it when its back-off is over
        # Lock the agent row: two workers holding two runs of one agent serialise here.
        Agent.objects.select_for_update().filter(pk=run.run_agent_id).first()
        if Run.objects.filter(run_agent_id=run.run_agent_id, status=RunStatus.RUNNING).exists():
            return None  # single flight: this run is started when the running one ends
        now = timezone.now()
        run.status = RunStatus.RUNNING
        run.started_at = now
        run.heartbeat_at = now
        run.save(update_fields=["status", "started_at", "heartbeat_at", "updated_at"])
        events.publish_run_changed(run.id, run.status, [run.primary_agent_id])
    return run


def start_next(agent_id: str) -> None:
    """Enqueue the run that waited for this one (single flight), if it is due."""
    waiting = (
        Run.objects.filter(run_agent_id=agent_id, status=RunStatus.CREATED)
        .filter(Q(not_before__isnull=True) | Q(not_before__lte=timezone.now()))
        .order_by("created_at")
        .first()
    )
    if waiting is not None:
        enqueue(waiting)


def enqueue_due(now: datetime | None = None) -> list[str]:
    """Enqueue waiting runs that are due: retries after their back-off, and runs whose
    job was lost before a worker saw it. (The clock of `manage.py worker`.)"""
    now = now or timezone.now()
    resend_after = now - timedelta(seconds=settings.RUN_STALE_SECONDS)
    running = Run.objects.filter(status=RunStatus.RUNNING).values("run_agent_id")
    due = (
        Run.objects.filter(status=RunStatus.CREATED)
        .filter(Q(not_before__isnull=True) | Q(not_before__lte=now))
        .filter(Q(enqueued_at__isnull=True) | Q(enqueued_at__lt=resend_after))
        .exclude(run_agent_id__in=running)
    )
    sent = []
    with transaction.atomic():
        for run in due.select_for_update(skip_locked=True):
            enqueue(run)
            sent.append(run.id)
    return sent
