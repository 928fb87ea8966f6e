"""What every run goes through once it works: opened `running`, kept alive by a
heartbeat, turns of its agent, then `completed` or `failed` (edits rolled back, a retry
queued where asked). Sleep-time runs, document digests and forget jobs all end here."""

from __future__ import annotations

import json
import logging
import time as clock
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from agents import governor, loop
from agents.models import (
    ACTIVE_RUN_STATUSES,
    Agent,
    Group,
    Message,
    Role,
    Run,
    RunOutcome,
    RunStatus,
    RunTrigger,
)
from agents.runs import ledger, queue
from agents.runs.undo import revert_run
from config.heartbeat import Heartbeat
from memory import events
from memory import services as memory_services
from memory.models import BlockVersion

logger = logging.getLogger("reverie.runs")

MAX_ATTEMPTS = 4  # the first try and three retries
MAX_TOOL_ERRORS = 10
# The failed tool calls a run keeps in its metadata for the ledger (the newest).
KEPT_TOOL_ERRORS = 20
EMPTY_REPLY = "the model's reply was empty (no text and no tool call)"


# --- Opening -------------------------------------------------------------------------------


def open_running(
    agent: Agent,
    *,
    primary: Agent,
    trigger: str,
    metadata: dict[str, Any],
    transcript: str = "",
    wait_seconds: float = 0.0,
) -> Run | None:
    """A run of `agent` for work that starts where it is asked for (a digest, a forget
    job), `running` at once. Single flight as for queued runs: it opens only while no
    other run of `agent` runs, waiting up to `wait_seconds` for one to end; None if it
    never did."""
    deadline = clock.monotonic() + wait_seconds
    group = Group.objects.filter(manager_agent=primary).first()
    while True:
        with transaction.atomic():
            Agent.objects.select_for_update().filter(pk=agent.pk).first()
            busy = Run.objects.filter(run_agent_id=agent.id, status=RunStatus.RUNNING)
            if not busy.exists():
                now = timezone.now()
                run = Run.objects.create(
                    owner_id=primary.owner_id,
                    organization_id=primary.organization_id,
                    run_agent_id=agent.id,
                    primary_agent=primary,
                    group=group,
                    trigger=trigger,
                    status=RunStatus.RUNNING,
                    started_at=now,
                    heartbeat_at=now,
                    transcript=transcript,
                    metadata={"agent_id": agent.id, **metadata},
                )
                events.publish_run_changed(run.id, run.status, [primary.id])
                return run
        if clock.monotonic() > deadline:
            return None
        clock.sleep(1)


# --- Working -------------------------------------------------------------------------------


@contextmanager
def beating(run: Run) -> Iterator[None]:
    """Keep the run's heartbeat while the block runs: a run that stops beating is lost
    (its worker died) and the clock recovers it."""
    alive = Run.objects.filter(pk=run.pk, status=RunStatus.RUNNING)
    with Heartbeat(alive, settings.RUN_STALE_SECONDS / 4):
        yield


def turn(
    run: Run, agent: Agent, text: str, *, max_steps: int, untrusted: bool = False
) -> loop.TurnResult:
    """One turn of the run's agent reading `text`, from a clean context: its memory is
    its blocks, and each turn costs what it reads, not what came before. The run's
    token and step counts add up over its turns, and so do the edits the guards refused,
    the tool calls that failed and the proposals its edits became. `untrusted`: `text`
    is input nobody vouches for."""
    Message.objects.filter(agent=agent, in_context=True).update(in_context=False)
    result = loop.run_turn(
        agent,
        [loop.InputMessage(role="user", content=text)],
        max_steps=max_steps,
        run_id=run.id,
        max_tool_errors=MAX_TOOL_ERRORS,
        untrusted=untrusted,
    )
    with transaction.atomic():
        current = Run.objects.select_for_update().filter(pk=run.pk).first()
        if current is not None:
            metadata = current.metadata
            if result.refusals:
                metadata["refusals"] = [*metadata.get("refusals", []), *result.refusals]
            failed = _failed_calls(result)
            if failed:
                errors = [*metadata.get("tool_errors", []), *failed]
                metadata["tool_errors"] = errors[-KEPT_TOOL_ERRORS:]
            if result.proposals:
                known = metadata.get("proposals", [])
                metadata["proposals"] = [*known, *(p for p in result.proposals if p not in known)]
            if untrusted or result.read_untrusted:
                metadata["untrusted_input"] = True
            run.metadata = {**run.metadata, **metadata}
            Run.objects.filter(pk=run.pk).update(
                prompt_tokens=F("prompt_tokens") + result.prompt_tokens,
                completion_tokens=F("completion_tokens") + result.completion_tokens,
                step_count=F("step_count") + result.step_count,
                model=agent.llm_handle,
                metadata=metadata,
            )
    return result


def _failed_calls(result: loop.TurnResult) -> list[dict[str, str]]:
    """The turn's failed tool calls as the model was shown them: {tool, error}."""
    failed = []
    for message in result.messages:
        if message.role != Role.TOOL or message.tool_status != "error":
            continue
        try:
            shown = json.loads(message.content)
            text = str(shown.get("message", "")) if isinstance(shown, dict) else message.content
        except ValueError:
            text = message.content
        failed.append({"tool": message.tool_name, "error": text[:500]})
    return failed


def unfinished(result: loop.TurnResult, max_steps: int) -> str:
    """Why a turn did not finish its work, or "" when it did."""
    if result.error or result.stop_reason in {"max_steps", "error"}:
        return result.error or f"the agent did not finish within {max_steps} steps"
    return ""


def elapsed_ms(started: float) -> int:
    """Milliseconds since `started` (a time.monotonic() reading)."""
    return int((clock.monotonic() - started) * 1000)


# --- Ending --------------------------------------------------------------------------------


def complete(
    run_id: str,
    result: loop.TurnResult | None = None,
    *,
    duration_ms: int,
    note: str = "",
    backlog: bool = False,
    metadata: dict[str, Any] | None = None,
    skipped: bool = False,
) -> None:
    """End the run `completed`. A sleep-time run moves its group's mark past what it
    read, and with `backlog` queues a follow-up for what it could not read yet. With
    `skipped` the run found nothing to do (`note` says why) and its outcome says so."""
    if not note and result is not None and result.stop_reason == "no_tool_call":
        note = EMPTY_REPLY
    with transaction.atomic():
        run = Run.objects.select_for_update().filter(pk=run_id).first()
        if run is None or run.status != RunStatus.RUNNING:
            return  # recovered as lost meanwhile; its retry owns the work now
        changed = BlockVersion.objects.filter(run_id=run.id, reverts="").exists()
        run.status = RunStatus.COMPLETED
        run.completed_at = timezone.now()
        run.duration_ms = duration_ms
        run.stop_reason = result.stop_reason if result else "end_turn"
        run.metadata = {
            **run.metadata,
            **(metadata or {}),
            "agent_id": run.run_agent_id,
            "changed": changed,
            **({"note": note} if note else {}),
        }
        run.outcome, run.outcome_reason = (
            (RunOutcome.SKIPPED, note) if skipped else ledger.outcome_of(run, changed, note)
        )
        run.save()
        if group_id := run.group_id:
            governor.count_quiet(group_id, run)
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
            sleeper = Agent.objects.filter(pk=run.run_agent_id).first()
            if sleeper is not None:
                queue.request_run(group, sleeper, RunTrigger.BACKLOG)
        queue.start_next(run.run_agent_id)
    logger.info("run %s completed (changed=%s)", run_id, changed)


def fail(
    run_id: str,
    reason: str,
    *,
    result: loop.TurnResult | None = None,
    duration_ms: int | None = None,
    retry: bool = True,
    metadata: dict[str, Any] | None = None,
) -> None:
    """End the run `failed` with its reason, roll back its edits, and (with `retry`, for
    a sleep-time run with attempts left) queue a retry after a back-off."""
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
        # Unlike Letta, which replaced the metadata and lost the agent id with it.
        run.metadata = {
            **run.metadata,
            **(metadata or {}),
            "agent_id": run.run_agent_id,
            "error": reason,
            "rolled_back": rollback["reverted"],
        }
        run.outcome, run.outcome_reason = RunOutcome.FAILED, reason
        run.save()
        ledger.withdraw(run, [*rollback["reverted"], *rollback["unchanged"]])
        events.publish_run_changed(run.id, run.status, [run.primary_agent_id])
        if retry and run.attempt < MAX_ATTEMPTS:
            _schedule_retry(run)
        queue.start_next(run.run_agent_id)
    logger.warning("run %s failed: %s", run_id, reason)


def _schedule_retry(run: Run) -> None:
    group = Group.objects.filter(pk=run.group_id).first()
    sleeper = Agent.objects.filter(pk=run.run_agent_id).first()
    if group is None or sleeper is None:
        return
    delay = settings.SLEEPTIME_RETRY_SECONDS * (4 ** (run.attempt - 1))
    # If a follow-up run is already queued it reads the same messages: it is the retry.
    queue.request_run(
        group,
        sleeper,
        RunTrigger.RETRY,
        retry_of=run.id,
        attempt=run.attempt + 1,
        not_before=timezone.now() + timedelta(seconds=delay),
    )


def recover_lost(now: datetime | None = None) -> list[str]:
    """Fail (and so retry) running runs whose worker stopped beating: killed, crashed,
    or stopped by the queue's timeout. (The clock of `manage.py worker`.)"""
    now = now or timezone.now()
    stale = now - timedelta(seconds=settings.RUN_STALE_SECONDS)
    lost = list(
        Run.objects.filter(status=RunStatus.RUNNING, heartbeat_at__lt=stale)
        .exclude(trigger=RunTrigger.DIGEST)  # resumed from their checkpoint instead
        .exclude(trigger=RunTrigger.MESSAGE)  # turns: turns.recover_lost_turns
        .values_list("pk", flat=True)
    )
    for run_id in lost:
        fail(run_id, "the worker running it stopped (killed, crashed or timed out)")
    return lost
