"""Background runs: executing one, failing and retrying it, recovering lost ones, undoing it.

A run is a Run row plus a django-q2 job that carries only its id. The row is the truth:
the job claims it (`created` -> `running`), a heartbeat shows the worker is alive, and it
ends `completed` or `failed`. Every failure is visible on the row and retried with
back-off as a new run; the edits of a failed attempt are rolled back first, so a retry
starts from where the failed run started and nothing is applied twice.
"""

from __future__ import annotations

import logging
import time as clock
from datetime import datetime, timedelta
from typing import Any, TypedDict

from django.conf import settings
from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from accounts.access import organization_of
from agents import llm, loop, transcript
from agents.models import ACTIVE_RUN_STATUSES, Agent, Group, Message, Run, RunStatus, RunTrigger
from config.errors import Conflict, NotFound
from config.heartbeat import Heartbeat
from memory import events
from memory import services as memory_services
from memory.models import BlockVersion

logger = logging.getLogger("reverie.runs")

MAX_ATTEMPTS = 4  # the first try and three retries
MAX_TOOL_ERRORS = 10
TRANSCRIPT_TOKENS = 8000
# A backlog run reads at most this many messages, whatever their size.
MAX_TRANSCRIPT_MESSAGES = 2000


def _setting(name: str) -> float:
    return float(settings.REVERIE[name])  # type: ignore[arg-type]


# --- Queueing ------------------------------------------------------------------------------


def enqueue(run: Run) -> None:
    """Hand the run to a worker once the transaction that created it commits."""
    run_id = run.id

    def send() -> None:
        from django_q.tasks import async_task

        Run.objects.filter(pk=run_id).update(enqueued_at=timezone.now())
        async_task("agents.tasks.execute_run", run_id, task_name=run_id)

    transaction.on_commit(send)


# --- Executing -----------------------------------------------------------------------------


def _claim(run_id: str) -> Run | None:
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


def execute_run(run_id: str) -> str:
    """Do run `run_id` if it is still to be done. Safe to call twice: only one claims it."""
    run = _claim(run_id)
    if run is None:
        return "skipped"
    started = clock.monotonic()
    beating = Run.objects.filter(pk=run.id, status=RunStatus.RUNNING)
    with Heartbeat(beating, _setting("RUN_STALE_SECONDS") / 4):
        try:
            _work(run, started)
        except Exception as error:  # never leave a run in `running` behind
            logger.exception("run %s crashed", run.id)
            fail(run.id, f"internal error: {error}", duration_ms=_ms(started))
    return Run.objects.filter(pk=run.id).values_list("status", flat=True).first() or "gone"


def _ms(started: float) -> int:
    return int((clock.monotonic() - started) * 1000)


def _work(run: Run, started: float) -> None:
    sleeper = Agent.objects.filter(pk=run.run_agent_id).first()
    group = Group.objects.filter(pk=run.group_id).select_related("manager_agent").first()
    if sleeper is None or group is None:
        fail(run.id, "the sleep-time agent or its group was deleted", retry=False)
        return
    primary = group.manager_agent
    after = group.last_processed_seq or 0
    until = primary.last_turn_end_seq or 0
    messages = list(
        Message.objects.filter(agent=primary, seq__gt=after, seq__lte=until).order_by("seq")[
            :MAX_TRANSCRIPT_MESSAGES
        ]
    )
    if not messages:
        complete(run.id, None, duration_ms=_ms(started), note="no new messages since the last run")
        return
    budget = min(TRANSCRIPT_TOKENS, max(1000, sleeper.context_window // 4))
    part = transcript.render(messages, budget)
    last = messages[part.last]
    backlog = not part.complete or len(messages) == MAX_TRANSCRIPT_MESSAGES
    Run.objects.filter(pk=run.id).update(
        transcript=part.text,
        transcript_after_seq=after,
        transcript_until_seq=last.seq,
        transcript_until_message_id=last.uid,
        metadata={**run.metadata, "backlog_remaining": backlog},
    )
    try:
        llm.ensure_configured(sleeper.llm_handle)
    except llm.ProviderNotConfigured as error:
        fail(run.id, str(error), duration_ms=_ms(started))
        return
    # Each run starts from a clean context: its memory is the blocks, and what it reads
    # is only what is new, so a run costs what is new, not the whole history.
    Message.objects.filter(agent=sleeper, in_context=True).update(in_context=False)
    result = loop.run_turn(
        sleeper,
        [loop.InputMessage(role="user", content=part.text)],
        max_steps=loop.DEFAULT_MAX_STEPS,
        run_id=run.id,
        max_tool_errors=MAX_TOOL_ERRORS,
    )
    if result.error or result.stop_reason in {"max_steps", "error"}:
        reason = result.error or f"the agent did not finish within {loop.DEFAULT_MAX_STEPS} steps"
        fail(run.id, reason, result=result, duration_ms=_ms(started))
        return
    complete(run.id, result, duration_ms=_ms(started), backlog=backlog)


def complete(
    run_id: str,
    result: loop.TurnResult | None,
    *,
    duration_ms: int,
    note: str = "",
    backlog: bool = False,
) -> None:
    with transaction.atomic():
        run = Run.objects.select_for_update().filter(pk=run_id).first()
        if run is None or run.status != RunStatus.RUNNING:
            return  # recovered as lost meanwhile; its retry owns the work now
        changed = BlockVersion.objects.filter(run_id=run.id).exists()
        run.status = RunStatus.COMPLETED
        run.completed_at = timezone.now()
        run.duration_ms = duration_ms
        run.stop_reason = result.stop_reason if result else "end_turn"
        if result is not None:
            run.prompt_tokens = result.prompt_tokens
            run.completion_tokens = result.completion_tokens
            run.step_count = result.step_count
        run.metadata = {
            **run.metadata,
            "agent_id": run.run_agent_id,
            "changed": changed,
            **({"note": note} if note else {}),
        }
        run.save()
        events.publish_run_changed(run.id, run.status, [run.primary_agent_id])
        group = Group.objects.select_for_update().filter(pk=run.group_id).first()
        if group is not None and run.transcript_until_seq is not None:
            # Only forward: a late run never moves the mark back over newer work.
            if (group.last_processed_seq or 0) < run.transcript_until_seq:
                group.last_processed_seq = run.transcript_until_seq
                group.last_processed_message_id = run.transcript_until_message_id
                group.save(
                    update_fields=["last_processed_seq", "last_processed_message_id", "updated_at"]
                )
        if group is not None and backlog:
            from agents.sleeptime import request_run

            sleeper = Agent.objects.filter(pk=run.run_agent_id).first()
            if sleeper is not None:
                request_run(group, sleeper, RunTrigger.BACKLOG)
        _start_next(run.run_agent_id)
    logger.info("run %s completed (changed=%s)", run_id, changed)


def fail(
    run_id: str,
    reason: str,
    *,
    result: loop.TurnResult | None = None,
    duration_ms: int | None = None,
    retry: bool = True,
) -> None:
    """Mark the run failed with its reason, roll back its edits, and schedule a retry."""
    with transaction.atomic():
        run = Run.objects.select_for_update().filter(pk=run_id).first()
        if run is None or run.status not in ACTIVE_RUN_STATUSES:
            return
        rollback = revert_run(run, memory_services.Actor.system(run.id), mark=False)
        run.status = RunStatus.FAILED
        run.error = reason
        run.completed_at = timezone.now()
        run.duration_ms = duration_ms
        run.stop_reason = (result.stop_reason if result else "") or "error"
        if run.stop_reason == "end_turn":
            run.stop_reason = "error"
        if result is not None:
            run.prompt_tokens = result.prompt_tokens
            run.completion_tokens = result.completion_tokens
            run.step_count = result.step_count
        # Unlike Letta, which replaced the metadata and lost the agent id with it.
        run.metadata = {
            **run.metadata,
            "agent_id": run.run_agent_id,
            "error": reason,
            "rolled_back": rollback["reverted"],
        }
        run.save()
        events.publish_run_changed(run.id, run.status, [run.primary_agent_id])
        if retry and run.attempt < MAX_ATTEMPTS:
            _schedule_retry(run)
        _start_next(run.run_agent_id)
    logger.warning("run %s failed: %s", run_id, reason)


def _schedule_retry(run: Run) -> None:
    from agents.sleeptime import request_run

    group = Group.objects.filter(pk=run.group_id).first()
    sleeper = Agent.objects.filter(pk=run.run_agent_id).first()
    if group is None or sleeper is None:
        return
    delay = _setting("SLEEPTIME_RETRY_SECONDS") * (4 ** (run.attempt - 1))
    # If a follow-up run is already queued it reads the same messages: it is the retry.
    request_run(
        group,
        sleeper,
        RunTrigger.RETRY,
        retry_of=run.id,
        attempt=run.attempt + 1,
        not_before=timezone.now() + timedelta(seconds=delay),
    )


def _start_next(agent_id: str) -> None:
    """Enqueue the run that waited for this one (single flight), if it is due."""
    waiting = (
        Run.objects.filter(run_agent_id=agent_id, status=RunStatus.CREATED)
        .filter(Q(not_before__isnull=True) | Q(not_before__lte=timezone.now()))
        .order_by("created_at")
        .first()
    )
    if waiting is not None:
        enqueue(waiting)


# --- The clock -----------------------------------------------------------------------------


def recover_lost(now: datetime | None = None) -> list[str]:
    """Fail (and so retry) running runs whose worker stopped beating: killed, crashed,
    or stopped by the queue's timeout."""
    now = now or timezone.now()
    stale = now - timedelta(seconds=_setting("RUN_STALE_SECONDS"))
    lost = list(
        Run.objects.filter(status=RunStatus.RUNNING, heartbeat_at__lt=stale)
        .exclude(trigger=RunTrigger.DIGEST)  # resumed from their checkpoint instead
        .values_list("pk", flat=True)
    )
    for run_id in lost:
        fail(run_id, "the worker running it stopped (killed, crashed or timed out)")
    return lost


def enqueue_due(now: datetime | None = None) -> list[str]:
    """Enqueue waiting runs that are due: retries after their back-off, and runs whose
    job was lost before a worker saw it."""
    now = now or timezone.now()
    resend_after = now - timedelta(seconds=_setting("RUN_STALE_SECONDS"))
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


def tick(now: datetime | None = None) -> None:
    """One beat of the clock that runs beside the workers (`manage.py worker`)."""
    from agents.sleeptime import fire_idle
    from sources.ingest import recover_ingestion

    recover_lost(now)
    fire_idle(now)
    enqueue_due(now)
    recover_ingestion(now)


# --- Reading -------------------------------------------------------------------------------


def get_run_for_user(user: Any, run_id: str) -> Run:
    run = Run.objects.filter(organization=organization_of(user), pk=run_id).first()
    if run is None:
        raise NotFound(f"Run '{run_id}' not found")
    return run


def list_runs(
    user: Any,
    *,
    agent_ids: list[str] | None = None,
    statuses: list[str] | None = None,
    active: bool = False,
    after: str | None = None,
    before: str | None = None,
    limit: int = 50,
    ascending: bool = False,
) -> QuerySet[Run]:
    from config.pagination import cursor_page

    runs = Run.objects.filter(organization=organization_of(user))
    if agent_ids:
        # A primary's id finds the runs that tend its memory, too.
        runs = runs.filter(Q(run_agent_id__in=agent_ids) | Q(primary_agent_id__in=agent_ids))
    if statuses:
        runs = runs.filter(status__in=statuses)
    if active:
        runs = runs.filter(status__in=ACTIVE_RUN_STATUSES)
    return cursor_page(runs, after=after, before=before, limit=limit, ascending=ascending)


def run_messages(run: Run) -> QuerySet[Message]:
    return Message.objects.filter(run_id=run.id).order_by("seq")


def run_versions(run: Run) -> list[BlockVersion]:
    return list(BlockVersion.objects.filter(run_id=run.id).order_by("created_at", "number"))


# --- Undo ----------------------------------------------------------------------------------


class RevertReport(TypedDict):
    run_id: str
    reverted: list[dict[str, Any]]
    unchanged: list[dict[str, Any]]
    conflicts: list[dict[str, Any]]


def revert_run(run: Run, actor: memory_services.Actor, *, mark: bool = True) -> RevertReport:
    """Undo every edit the run made that nothing has overwritten since.

    Edits are taken back one by one, newest first, each as a three-way merge with the
    block's current value: later edits by others on other lines stay; an edit whose lines
    were changed again since is reported as a conflict and left alone.
    """
    if run.status in ACTIVE_RUN_STATUSES and mark:
        raise Conflict("The run is still in progress; wait for it to end, then revert it.")
    report: RevertReport = {"run_id": run.id, "reverted": [], "unchanged": [], "conflicts": []}
    tag = f"run:{run.id}#"
    # Each undo is tagged with the edit it took back, so an edit is undone at most once:
    # reverting again (or after the failure rollback) never undoes a person's later
    # change that happens to look like the run's.
    undone = set(
        BlockVersion.objects.filter(reverts__startswith=tag).values_list("reverts", flat=True)
    )
    edits = BlockVersion.objects.filter(run_id=run.id, reverts="").order_by("-id")
    for version in edits:
        entry = {"block_id": version.block_id, "label": version.label, "version": version.number}
        key = f"{tag}{version.pk}"
        if key in undone:
            report["unchanged"].append(entry)
            continue
        outcome, why = memory_services.undo_change(
            version.block_id, version.previous_value, version.value, actor, reverts=key
        )
        if outcome == "conflict":
            report["conflicts"].append({**entry, "reason": why})
        else:
            report[outcome].append(entry)
    if mark and not report["conflicts"]:
        Run.objects.filter(pk=run.id).update(reverted_at=timezone.now())
    return report
