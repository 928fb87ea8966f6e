"""The run of a turn: every turn sent through the API or the ADE is a run (trigger
`message`) that clients follow by its id (`run_id` on each streamed message and in
`usage`, `GET /v1/runs/{id}/messages`, `GET /v1/runs/{id}/stream`), and that can be
cancelled between steps.

Unlike background runs these never queue: the turn runs where it was asked for, in the
web process, and its run opens `running`. A heartbeat shows that process is alive; the
clock of `manage.py worker` fails the runs of turns whose process died
(`recover_lost_turns`), so no turn stays `running` for ever.
"""

from __future__ import annotations

import logging
import threading
import time as clock
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from agents.models import Agent, Conversation, Run, RunStatus, RunTrigger
from config.heartbeat import Heartbeat
from config.transactions import commit_without_flush

if TYPE_CHECKING:
    from agents.loop import TurnResult

logger = logging.getLogger("reverie.runs")

LOST_TURN = "the process running the turn stopped (killed or crashed)"


def open_turn(
    agent: Agent,
    conversation: Conversation | None = None,
    *,
    owner_id: int | None = None,
    background: bool = False,
) -> Run:
    """The run of a turn that starts now, stored at once (a turn in the background, whose
    run is followed before the turn starts). Durable with the turn's synchronous commit
    (config/transactions.py): a turn waits for the disk once, not once more for its run."""
    run = new_turn(agent, conversation, owner_id=owner_id, background=background)
    with transaction.atomic():
        commit_without_flush()
        run.save(force_insert=True)
    return run


def new_turn(
    agent: Agent,
    conversation: Conversation | None = None,
    *,
    owner_id: int | None = None,
    background: bool = False,
) -> Run:
    """The run of a turn, not stored yet: the turn stores it with its first writes
    (loop.run_turn's `begin`), so opening it costs one statement and no wait for the disk."""
    now = timezone.now()
    return Run(
        owner_id=owner_id or agent.owner_id,
        organization_id=agent.organization_id,
        run_agent_id=agent.id,
        primary_agent=agent,
        trigger=RunTrigger.MESSAGE,
        status=RunStatus.RUNNING,
        started_at=now,
        heartbeat_at=now,
        metadata={
            "agent_id": agent.id,
            "conversation_id": conversation.id if conversation is not None else None,
            "background": background,
        },
    )


@contextmanager
def beating(run: Run) -> Iterator[None]:
    alive = Run.objects.filter(pk=run.pk, status=RunStatus.RUNNING)
    with Heartbeat(alive, settings.RUN_STALE_SECONDS / 4):
        yield


def start_detached(work: Callable[[], object]) -> threading.Thread:
    """Run a turn apart from the request that asked for it (`background: true`): it goes
    on when the client goes away, and its run says how it ended."""

    def run() -> None:
        try:
            work()
        except Exception:
            logger.exception("a turn in the background failed")
        finally:
            connection.close()

    worker = threading.Thread(target=run, name="background-turn", daemon=True)
    worker.start()
    return worker


def cancel(run: Run) -> bool:
    """Ask the turn to stop at its next step; False if it had already ended."""
    return bool(
        Run.objects.filter(pk=run.pk, status=RunStatus.RUNNING).update(
            status=RunStatus.CANCELLED, stop_reason="cancelled", updated_at=timezone.now()
        )
    )


def cancelled(run_id: str) -> bool:
    return Run.objects.filter(pk=run_id, status=RunStatus.CANCELLED).exists()


def close_turn(run: Run, result: TurnResult, started: float) -> None:
    """Record how the turn ended. A cancelled run stays cancelled. (Called by the turn
    before its synchronous commit, which makes this durable too.)"""
    if result.stop_reason == "cancelled":
        status = RunStatus.CANCELLED
    elif result.stop_reason == "error":
        status = RunStatus.FAILED
    else:
        status = RunStatus.COMPLETED
    fields = {
        "stop_reason": result.stop_reason,
        "error": result.error or "",
        "prompt_tokens": result.prompt_tokens,
        "completion_tokens": result.completion_tokens,
        "step_count": result.step_count,
        "duration_ms": int((clock.monotonic() - started) * 1000),
        "completed_at": timezone.now(),
    }
    ended = Run.objects.filter(pk=run.pk)
    if not ended.filter(status=RunStatus.RUNNING).update(status=status, **fields):
        ended.update(**{**fields, "stop_reason": "cancelled"})


def recover_lost_turns(now: datetime | None = None) -> list[str]:
    """Fail the runs of turns whose web process stopped beating, and take their turns
    off the threads' running marks so sleep-time transcripts move on."""
    now = now or timezone.now()
    stale = now - timedelta(seconds=settings.RUN_STALE_SECONDS)
    lost = list(
        Run.objects.filter(
            trigger=RunTrigger.MESSAGE, status=RunStatus.RUNNING, heartbeat_at__lt=stale
        ).only("id", "primary_agent_id", "metadata")
    )
    for run in lost:
        Run.objects.filter(pk=run.pk, status=RunStatus.RUNNING).update(
            status=RunStatus.FAILED, stop_reason="error", error=LOST_TURN, completed_at=now
        )
        conversation_id = (run.metadata or {}).get("conversation_id")
        if conversation_id:
            Conversation.objects.filter(pk=conversation_id).update(turn_started_seq=None)
        else:
            Agent.objects.filter(pk=run.primary_agent_id).update(turn_started_seq=None)
    return [run.id for run in lost]
