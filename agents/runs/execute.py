"""A sleep-time run at work: it reads what is new in its primary's conversation."""

from __future__ import annotations

import logging
import time as clock
from typing import Any

from django.db.models import F

import llm
from agents import compaction, governor, loop, threads, transcript
from agents.models import Agent, Conversation, Group, Message, Role, Run, RunTrigger
from agents.runs import ledger, lifecycle, queue

logger = logging.getLogger("reverie.runs")

TRANSCRIPT_TOKENS = 8000
# A backlog run reads at most this many messages, whatever their size.
MAX_TRANSCRIPT_MESSAGES = 2000


def execute_run(run_id: str) -> str:
    """Do run `run_id` if it is still to be done. Safe to call twice: only one claims it."""
    run = queue.claim(run_id)
    if run is None:
        return "skipped"
    started = clock.monotonic()
    with lifecycle.beating(run):
        try:
            _work(run, started)
        except Exception as error:  # never leave a run in `running` behind
            logger.exception("run %s crashed", run.id)
            lifecycle.fail(
                run.id, f"internal error: {error}", duration_ms=lifecycle.elapsed_ms(started)
            )
    return Run.objects.filter(pk=run.id).values_list("status", flat=True).first() or "gone"


def _untrusted(primary: Agent, messages: list[Message]) -> bool:
    """Whether the transcript holds input nobody vouches for: messages of an untrusted
    conversation, or results of the primary's searches that may quote one, or an
    untrusted source's passages (the transcript shows tool results)."""
    read = {m.conversation_id for m in messages} - {None}
    if read and Conversation.objects.filter(pk__in=read, trusted=False).exists():
        return True
    searched = {m.tool_name for m in messages if m.role == Role.TOOL}
    if "archival_memory_search" in searched and primary.sources.filter(trusted=False).exists():
        return True
    return "conversation_search" in searched and (
        Conversation.objects.filter(agent=primary, trusted=False).exists()
    )


def _work(run: Run, started: float) -> None:
    sleeper = Agent.objects.filter(pk=run.run_agent_id).first()
    group = Group.objects.filter(pk=run.group_id).select_related("manager_agent").first()
    if sleeper is None or group is None:
        lifecycle.fail(run.id, "the sleep-time agent or its group was deleted", retry=False)
        return
    primary = group.manager_agent
    # A person who asks for a run gets it while paused (sleeptime.run_now), also when
    # their request joined a run another trigger had queued.
    asked = run.trigger == RunTrigger.MANUAL or RunTrigger.MANUAL in run.metadata.get("joined", {})
    if group.paused and not asked:
        ledger.skip(run, "sleep-time is paused for this agent")
        return
    after = group.last_processed_seq or 0
    until = threads.transcript_until(primary)
    messages = list(
        Message.objects.filter(agent=primary, seq__gt=after, seq__lte=until).order_by("seq")[
            :MAX_TRANSCRIPT_MESSAGES
        ]
    )
    if not messages:
        lifecycle.complete(
            run.id,
            duration_ms=lifecycle.elapsed_ms(started),
            note="no new messages since the last run",
            skipped=True,
        )
        return
    budget = min(TRANSCRIPT_TOKENS, max(1000, sleeper.context_window // 4))
    named = {m.conversation_id for m in messages if m.conversation_id is not None}
    labels = threads.conversation_labels(primary, named) if named else {}
    part = transcript.render(messages, budget, labels)
    last = messages[part.last]
    untrusted = _untrusted(primary, messages[: part.last + 1])
    backlog = not part.complete or len(messages) == MAX_TRANSCRIPT_MESSAGES
    run.metadata = {**run.metadata, "backlog_remaining": backlog}
    Run.objects.filter(pk=run.id).update(
        transcript=part.text,
        transcript_after_seq=after,
        transcript_until_seq=last.seq,
        transcript_until_message_id=last.uid,
        metadata=run.metadata,
    )
    prompt = loop.estimate_tokens(loop.compile_system(sleeper)) + loop.estimate_tokens(part.text)
    expected = governor.estimate(prompt)
    Run.objects.filter(pk=run.id).update(metadata={**run.metadata, "estimate_tokens": expected})
    refused = governor.over_budget(primary, expected)
    if refused:
        # Not read: the next run within budget reads these messages too.
        Run.objects.filter(pk=run.id).update(transcript_until_seq=None)
        ledger.skip(run, refused)
        return
    try:
        llm.ensure_configured(sleeper.llm_handle)
    except llm.ProviderNotConfigured as error:
        lifecycle.fail(run.id, str(error), duration_ms=lifecycle.elapsed_ms(started))
        return
    result = lifecycle.turn(
        run, sleeper, part.text, max_steps=loop.DEFAULT_MAX_STEPS, untrusted=untrusted
    )
    reason = lifecycle.unfinished(result, loop.DEFAULT_MAX_STEPS)
    if reason:
        lifecycle.fail(run.id, reason, result=result, duration_ms=lifecycle.elapsed_ms(started))
        return
    # What the run read leaves the primary's prompt, unless some of what it made of it
    # waits for a person: then the next run's compaction takes it.
    compacted = {} if result.proposals else _compact(run, primary, last.seq)
    lifecycle.complete(
        run.id,
        result,
        duration_ms=lifecycle.elapsed_ms(started),
        backlog=backlog,
        metadata=compacted,
    )


def _compact(run: Run, primary: Agent, until_seq: int) -> dict[str, Any]:
    """Compaction after the run (agents/compaction.py): its summary's tokens are the
    run's; what it did, or why it could not, goes on the run."""
    try:
        done = compaction.after_run(primary, until_seq)
    except llm.LLMError as error:
        logger.warning("run %s: compaction failed: %s", run.id, error)
        return {"compaction_error": str(error)}
    if not done.messages:
        return {}
    Run.objects.filter(pk=run.id).update(
        prompt_tokens=F("prompt_tokens") + done.prompt_tokens,
        completion_tokens=F("completion_tokens") + done.completion_tokens,
    )
    return {"compacted_messages": done.messages}
