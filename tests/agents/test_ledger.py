"""The ledger: every trigger of background work (a turn, the idle timer, a person's
button, a backlog, a forget job; digests in tests/sources/test_untrusted_sources.py)
ends in one recorded state, applied, awaiting review, no change, skipped or failed,
with the reason a person reads. Nothing is dropped unrecorded."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from agents import runs, sleeptime
from agents.models import Agent, Run, RunTrigger
from forgetting import tasks as forgetting_tasks
from forgetting.services import jobs as forgetting_jobs
from forgetting.services import request_forget
from memory import proposals
from memory import services as memory_services
from memory.models import Proposal
from memory.services import Actor
from tests.agents.faults import (
    FACTS,
    HUMAN,
    assert_nothing_lost,
    execute,
    pair,
    say,
    started_run,
    value,
)
from tests.llm_server import ScriptedLLM

OUTCOMES = {"applied", "awaiting_review", "no_change", "skipped", "failed"}


def background_runs(primary: Agent) -> list[Run]:
    return list(
        Run.objects.filter(primary_agent=primary)
        .exclude(trigger=RunTrigger.MESSAGE)
        .order_by("created_at")
    )


def assert_all_recorded(primary: Agent) -> None:
    """Every background run of `primary` that ended has an outcome, and says why unless it
    simply applied its edits."""
    for run in background_runs(primary):
        if run.is_active:
            continue
        assert run.outcome in OUTCOMES, run
        if run.outcome != "applied":
            assert run.outcome_reason, run


def idle_now(primary: Agent) -> list[Run]:
    primary.refresh_from_db()
    assert primary.last_turn_at is not None
    started = sleeptime.fire_idle(now=primary.last_turn_at + timedelta(seconds=61))
    return [run for run in started if run.primary_agent_id == primary.id]


# --- One recorded state per trigger ---------------------------------------------------------


def test_a_turn_whose_run_changes_memory_ends_applied(make_agent, llm: ScriptedLLM):
    primary, _, _ = pair(make_agent)
    run = started_run(primary, "Puff is a ginger cat, not a black one")
    llm.sleeper.tool_call(
        "memory_replace",
        {"label": "human", "old_str": "a black cat", "new_str": "a ginger cat"},
    )

    run = execute(run)

    assert (run.trigger, run.outcome, run.outcome_reason) == ("turn", "applied", "")
    assert "Pet: a ginger cat called Puff" in value(primary)
    assert_all_recorded(primary)


def test_an_idle_run_that_changes_nothing_says_so(make_agent, llm: ScriptedLLM):
    primary, _, _ = pair(make_agent, sleeptime_agent_frequency=0, sleeptime_idle_seconds=60)
    assert say(primary, "nice weather today") == []

    (run,) = idle_now(primary)
    run = execute(run)

    assert (run.trigger, run.outcome) == ("idle", "no_change")
    assert run.outcome_reason == "the agent read everything and changed nothing"
    assert_all_recorded(primary)


def test_a_manual_run_with_nothing_new_says_there_was_nothing_new(make_agent, llm: ScriptedLLM):
    _, _, group = pair(make_agent)

    (run,) = sleeptime.run_now(group)
    run = execute(run)

    assert (run.trigger, run.outcome) == ("manual", "skipped")
    assert run.outcome_reason == "no new messages since the last run"
    assert llm.sleeper.requests == []


def test_a_backlog_is_worked_off_by_runs_that_each_record_their_outcome(
    make_agent, llm: ScriptedLLM, monkeypatch
):
    monkeypatch.setattr(runs.execute, "TRANSCRIPT_TOKENS", 60)  # one turn per run
    primary, sleeper, _ = pair(make_agent)
    (first,) = {run_id for text in ("I am Ada", "I like tea") for run_id in say(primary, text)}
    llm.sleeper.tool_call("memory_insert", {"label": "human", "new_str": "Says hello a lot"})

    first_run = execute(Run.objects.get(pk=first))
    backlog = Run.objects.get(run_agent_id=sleeper.id, status="created")
    backlog_run = execute(backlog)

    assert (first_run.trigger, first_run.outcome) == ("turn", "applied")
    assert backlog_run.trigger == "backlog"
    assert backlog_run.outcome == "no_change"
    assert_all_recorded(primary)


def test_a_forget_run_ends_applied_even_past_the_deletion_budget(make_agent, llm: ScriptedLLM):
    matter = "Zephyr-Quokka"
    long_line = f"Leads {matter}, launching it on May 3 with the whole team in Paris"
    primary, _, _ = pair(make_agent, tools=["forget"], blocks={"human": f"Name: Ada\n{long_line}"})
    job = request_forget(primary, matter, who="7")
    # On the worker, the literal mention reads [forgotten] when the memory agent looks.
    forgotten = "\n" + long_line.replace(matter, "[forgotten]")
    llm.sleeper.tool_call("memory_forget", {"label": "human", "old_str": forgotten})

    assert forgetting_tasks.run_forget_job(job.id) == "completed"

    job.refresh_from_db()
    (run,) = Run.objects.filter(pk__in=job.run_ids)
    assert (run.trigger, run.outcome, run.outcome_reason) == ("forget", "applied", "")
    assert run.metadata.get("refusals", []) == []
    # Nearly all of the block went, far past its 30% per run: a person asked for it.
    assert value(primary) == "Name: Ada"
    assert_all_recorded(primary)


# --- Paused ---------------------------------------------------------------------------------


def test_a_paused_group_records_its_triggers_as_skipped_runs(make_agent, llm: ScriptedLLM):
    primary, _, group = pair(make_agent, sleeptime_idle_seconds=60)
    sleeptime.set_paused(group, True)

    (by_turn,) = say(primary, "I adopted a second cat")
    (by_idle,) = idle_now(primary)

    for run_id, trigger in ((by_turn, "turn"), (by_idle.id, "idle")):
        run = Run.objects.get(pk=run_id)
        assert (run.trigger, run.status, run.outcome) == (trigger, "completed", "skipped")
        assert run.outcome_reason == "sleep-time is paused for this agent"
    assert llm.sleeper.requests == []
    assert value(primary) == HUMAN
    assert_all_recorded(primary)


def test_a_run_queued_before_the_pause_is_skipped_when_its_turn_comes(make_agent, llm):
    primary, _, group = pair(make_agent)
    run = started_run(primary, "I adopted a second cat")
    sleeptime.set_paused(group, True)

    run = execute(run)

    assert (run.outcome, run.outcome_reason) == ("skipped", "sleep-time is paused for this agent")
    assert llm.sleeper.requests == []
    group.refresh_from_db()
    assert group.last_processed_seq is None  # a later run reads these messages


def test_a_person_can_still_run_a_paused_group_by_hand(make_agent, llm: ScriptedLLM):
    primary, _, group = pair(make_agent)
    sleeptime.set_paused(group, True)
    say(primary, "I adopted a second cat, Mittens")
    llm.sleeper.tool_call("memory_insert", {"label": "human", "new_str": "Pet: Mittens, a cat"})

    (run,) = sleeptime.run_now(group)
    run = execute(run)

    assert (run.trigger, run.outcome) == ("manual", "applied")
    assert "Pet: Mittens, a cat" in value(primary)
    assert_nothing_lost(primary)


def test_a_persons_request_that_joined_a_queued_run_is_carried_out_while_paused(
    make_agent, llm: ScriptedLLM
):
    primary, _, group = pair(make_agent)
    queued = started_run(primary, "I adopted a second cat, Mittens")
    sleeptime.set_paused(group, True)
    (joined,) = sleeptime.run_now(group)
    assert joined.id == queued.id
    llm.sleeper.tool_call("memory_insert", {"label": "human", "new_str": "Pet: Mittens, a cat"})

    run = execute(queued)

    assert run.outcome == "applied"
    assert run.metadata["joined"] == {"manual": 1}


# --- Joined triggers ---------------------------------------------------------------------------


def test_triggers_that_join_a_waiting_run_are_counted_on_it(make_agent, llm: ScriptedLLM):
    primary, _, group = pair(make_agent)
    run = started_run(primary, "I like tea")
    assert say(primary, "and coffee") == [run.id]
    assert say(primary, "and cocoa") == [run.id]
    assert [r.id for r in sleeptime.run_now(group)] == [run.id]

    run = execute(run)

    assert run.metadata["joined"] == {"turn": 2, "manual": 1}
    assert run.outcome == "no_change"
    assert [r.id for r in background_runs(primary)] == [run.id]
    for text in ("I like tea", "and coffee", "and cocoa"):
        assert text in run.transcript
    assert_all_recorded(primary)


def test_a_failed_run_and_its_retry_each_end_in_one_state(make_agent, llm: ScriptedLLM, settings):
    settings.SLEEPTIME_RETRY_SECONDS = 60
    primary, _, _ = pair(make_agent)
    run = started_run(primary, "I like tea")
    llm.sleeper.fail(500, "down for maintenance", times=10)

    run = execute(run)

    assert (run.outcome, run.status) == ("failed", "failed")
    assert "down for maintenance" in run.outcome_reason
    retry = Run.objects.get(retry_of=run.id)
    Run.objects.filter(pk=retry.id).update(not_before=None)
    llm.sleeper.reset()
    llm.sleeper.tool_call("memory_insert", {"label": "human", "new_str": "Drinks: tea"})

    retry = execute(retry)

    assert (retry.trigger, retry.outcome) == ("retry", "applied")
    assert "I like tea" in retry.transcript
    assert value(primary) == HUMAN + "\nDrinks: tea"
    assert_all_recorded(primary)
    assert FACTS[0] in value(primary)


def test_a_forget_job_whose_memory_agent_stays_busy_leaves_a_skipped_run(
    make_agent, llm: ScriptedLLM, monkeypatch
):
    monkeypatch.setattr(forgetting_jobs, "BUSY_WAIT_SECONDS", 0)
    primary, sleeper, _ = pair(make_agent, tools=["forget"])
    busy = started_run(primary, "I like tea")
    Run.objects.filter(pk=busy.id).update(status="running")
    job = request_forget(primary, "Zephyr-Quokka", who="7")

    assert forgetting_tasks.run_forget_job(job.id) == "failed"

    job.refresh_from_db()
    assert "stayed busy" in job.error
    (skipped,) = Run.objects.filter(primary_agent=primary, trigger=RunTrigger.FORGET)
    assert (skipped.outcome, skipped.run_agent_id) == ("skipped", sleeper.id)
    assert "stayed busy" in skipped.outcome_reason
    assert skipped.metadata["forget_job"] == job.id


def _review_run(make_agent: Any, llm: ScriptedLLM) -> tuple[Agent, Run]:
    """A run whose two edits of a block under review wait as one proposal."""
    primary, _, _ = pair(make_agent)
    block = memory_services.get_agent_block(primary, "human")
    memory_services.update_block(block.id, actor=Actor.system(), requires_review=True)
    llm.sleeper.tool_call(
        "memory_replace",
        {"label": "human", "old_str": "and writer", "new_str": "and poet"},
    )
    llm.sleeper.tool_call(
        "memory_replace",
        {"label": "human", "old_str": "due in March", "new_str": "due in April"},
    )
    run = execute(started_run(primary, "I write poems now, and my notes are due in April"))
    assert run.outcome == "awaiting_review"
    return primary, run


def test_a_run_awaiting_review_says_applied_once_a_person_accepts_part_of_it(
    make_agent, llm: ScriptedLLM
):
    primary, run = _review_run(make_agent, llm)
    (proposal,) = Proposal.objects.filter(run_id=run.id)
    reviewer = primary.owner

    proposals.accept(proposal.id, reviewer, [1])
    run.refresh_from_db()
    assert run.outcome == "awaiting_review"  # hunk 0 is still undecided

    proposals.reject(proposal.id, reviewer)
    run.refresh_from_db()
    assert run.outcome == "applied"
    assert run.outcome_reason == f"reviewed by {reviewer.get_username()}: accepted in part"
    assert "due in April" in value(primary)
    assert "Works as: mathematician and writer" in value(primary)


def test_a_run_whose_proposals_are_all_rejected_changed_nothing(make_agent, llm: ScriptedLLM):
    primary, run = _review_run(make_agent, llm)
    (proposal,) = Proposal.objects.filter(run_id=run.id)

    proposals.reject(proposal.id, primary.owner)

    run.refresh_from_db()
    assert run.outcome == "no_change"
    assert "every proposed edit rejected" in run.outcome_reason
    assert value(primary) == HUMAN
