"""When sleep-time runs start: every N-th finished turn, when a conversation goes quiet,
or on demand, with at most one run waiting and one working per sleep-time agent."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest

from agents import runs, sleeptime
from agents.loop import InputMessage, TurnResult
from agents.models import Agent, Group, Run, RunStatus, RunTrigger
from agents.services import send_message, update_agent
from config import env

EVERY_TRY = env.LLM_MAX_RETRIES + 1
TURNS = 7


def say(agent: Agent, text: str = "hello") -> TurnResult:
    return send_message(agent, [InputMessage(role="user", content=text)])


def group_of(primary: Agent) -> Group:
    return Group.objects.get(manager_agent=primary)


def sleeper_of(primary: Agent) -> Agent:
    return group_of(primary).participants.get()


def counter(primary: Agent) -> int | None:
    return group_of(primary).turns_counter


def sleeper_runs(primary: Agent, status: str | None = None) -> list[Run]:
    found = Run.objects.filter(run_agent_id=sleeper_of(primary).id)
    if status is not None:
        found = found.filter(status=status)
    return list(found.order_by("created_at"))


def turns_that_trigger(primary: Agent, turns: int = TURNS) -> list[int]:
    """Talk `turns` times, completing each started run before the next turn."""
    triggered = []
    for number in range(1, turns + 1):
        result = say(primary, f"message {number}")
        assert result.stop_reason == "end_turn"
        if result.run_ids:
            triggered.append(number)
            for run_id in result.run_ids:
                assert runs.execute_run(run_id) == "completed"
    return triggered


def ours(started: list[Run], primary: Agent) -> list[Run]:
    """The runs of `primary` among those fire_idle started (it scans every group)."""
    return [run for run in started if run.primary_agent_id == primary.id]


# --- Every N-th turn -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("frequency", "expected"),
    [(1, [1, 2, 3, 4, 5, 6, 7]), (2, [1, 3, 5, 7]), (3, [1, 4, 7])],
)
def test_turns_one_and_every_nth_after_trigger_a_run(make_agent, llm, frequency, expected):
    primary = make_agent(enable_sleeptime=True, sleeptime_agent_frequency=frequency)

    assert turns_that_trigger(primary) == expected

    assert len(sleeper_runs(primary, RunStatus.COMPLETED)) == len(expected)
    assert sleeper_runs(primary) == sleeper_runs(primary, RunStatus.COMPLETED)
    assert all(run.trigger == RunTrigger.TURN for run in sleeper_runs(primary))


def test_the_default_frequency_of_five_triggers_turns_one_and_six(make_agent, llm):
    primary = make_agent(enable_sleeptime=True)

    assert turns_that_trigger(primary) == [1, 6]


def test_a_triggering_turn_reports_the_run_of_the_sleeper(make_agent, llm):
    primary = make_agent(enable_sleeptime=True, sleeptime_agent_frequency=2)

    result = say(primary)

    assert result.run_ids and len(result.run_ids) == 1
    run = Run.objects.get(pk=result.run_ids[0])
    assert run.run_agent_id == sleeper_of(primary).id
    assert run.primary_agent_id == primary.id
    assert run.group_id == group_of(primary).id
    assert run.status == RunStatus.CREATED
    assert say(primary).run_ids == []


def test_frequency_zero_never_triggers_a_run(make_agent, llm):
    primary = make_agent(enable_sleeptime=True, sleeptime_agent_frequency=0)

    assert turns_that_trigger(primary) == []
    assert sleeper_runs(primary) == []


def test_frequency_none_triggers_every_turn(make_agent, llm):
    primary = make_agent(enable_sleeptime=True)
    group = group_of(primary)
    group.sleeptime_agent_frequency = None
    group.save()

    assert turns_that_trigger(primary) == [1, 2, 3, 4, 5, 6, 7]


def test_a_turn_whose_model_fails_does_not_count(make_agent, llm):
    primary = make_agent(enable_sleeptime=True, sleeptime_agent_frequency=2)
    first = say(primary)
    assert first.run_ids
    assert runs.execute_run(first.run_ids[0]) == "completed"
    before = counter(primary)

    llm.fail(500, times=EVERY_TRY)
    failed = say(primary, "are you there?")

    assert failed.stop_reason == "error"
    assert failed.run_ids is None
    assert counter(primary) == before == 0
    assert say(primary).run_ids == []  # the second finished turn
    assert say(primary).run_ids  # the third finished turn: 1 + 2


def test_a_failed_first_turn_leaves_the_trigger_for_the_first_finished_turn(make_agent, llm):
    primary = make_agent(enable_sleeptime=True, sleeptime_agent_frequency=3)

    llm.fail(500, times=EVERY_TRY)
    failed = say(primary)

    assert failed.stop_reason == "error"
    assert failed.run_ids is None
    assert counter(primary) == -1
    assert sleeper_runs(primary) == []
    assert say(primary).run_ids


# --- Single flight ---------------------------------------------------------------------------


def assert_at_most_one_waiting_and_one_working(primary: Agent) -> None:
    assert len(sleeper_runs(primary, RunStatus.CREATED)) <= 1
    assert len(sleeper_runs(primary, RunStatus.RUNNING)) <= 1


def test_turns_while_a_run_waits_join_it(make_agent, llm):
    primary = make_agent(enable_sleeptime=True, sleeptime_agent_frequency=1)
    first = say(primary).run_ids
    assert first and len(first) == 1

    for _ in range(3):
        assert say(primary).run_ids == first
        assert_at_most_one_waiting_and_one_working(primary)

    assert [run.id for run in sleeper_runs(primary)] == first


def test_a_turn_while_a_run_works_queues_one_follow_up_that_later_turns_join(make_agent, llm):
    primary = make_agent(enable_sleeptime=True, sleeptime_agent_frequency=1)
    (first,) = say(primary).run_ids
    assert say(primary).run_ids == [first]
    assert runs.queue.claim(first) is not None
    assert Run.objects.get(pk=first).status == RunStatus.RUNNING

    follow_up = say(primary).run_ids

    assert follow_up and follow_up != [first]
    assert Run.objects.get(pk=follow_up[0]).status == RunStatus.CREATED
    for _ in range(3):
        assert say(primary).run_ids == follow_up
        assert_at_most_one_waiting_and_one_working(primary)
    assert [run.id for run in sleeper_runs(primary)] == [first, *follow_up]
    assert [run.id for run in sleeper_runs(primary, RunStatus.RUNNING)] == [first]


def test_the_follow_up_waits_until_the_working_run_has_ended(make_agent, llm):
    primary = make_agent(enable_sleeptime=True, sleeptime_agent_frequency=1)
    (first,) = say(primary).run_ids
    runs.queue.claim(first)
    (follow_up,) = say(primary).run_ids

    assert runs.execute_run(follow_up) == "skipped"

    assert Run.objects.get(pk=follow_up).status == RunStatus.CREATED
    assert_at_most_one_waiting_and_one_working(primary)


# --- When the conversation goes quiet --------------------------------------------------------


def quiet_primary(make_agent: Any, idle_seconds: int = 60) -> Agent:
    """A primary whose turns never trigger, with one finished turn not yet processed."""
    primary = make_agent(
        enable_sleeptime=True, sleeptime_agent_frequency=0, sleeptime_idle_seconds=idle_seconds
    )
    assert say(primary, "I am Ada").run_ids == []
    primary.refresh_from_db()
    assert primary.last_turn_at is not None
    return primary


def after_quiet(primary: Agent, seconds: int) -> datetime:
    return primary.last_turn_at + timedelta(seconds=seconds)


def test_a_quiet_conversation_with_unprocessed_messages_starts_one_run(make_agent, llm):
    primary = quiet_primary(make_agent, idle_seconds=60)

    started = ours(sleeptime.fire_idle(now=after_quiet(primary, 61)), primary)

    assert len(started) == 1
    run = started[0]
    assert run.trigger == RunTrigger.IDLE
    assert run.status == RunStatus.CREATED
    assert run.run_agent_id == sleeper_of(primary).id
    assert runs.execute_run(run.id) == "completed"
    run.refresh_from_db()
    assert "I am Ada" in run.transcript


def test_the_idle_trigger_fires_once_per_quiet_spell(make_agent, llm):
    primary = quiet_primary(make_agent)
    assert len(ours(sleeptime.fire_idle(now=after_quiet(primary, 61)), primary)) == 1

    assert ours(sleeptime.fire_idle(now=after_quiet(primary, 61)), primary) == []
    assert ours(sleeptime.fire_idle(now=after_quiet(primary, 3600)), primary) == []
    assert len(sleeper_runs(primary)) == 1


def test_a_new_turn_after_an_idle_run_makes_the_next_quiet_spell_fire_again(make_agent, llm):
    primary = quiet_primary(make_agent)
    (first,) = ours(sleeptime.fire_idle(now=after_quiet(primary, 61)), primary)
    assert runs.execute_run(first.id) == "completed"

    say(primary, "I moved to Paris")
    primary.refresh_from_db()
    started = ours(sleeptime.fire_idle(now=after_quiet(primary, 61)), primary)

    assert len(started) == 1
    assert started[0].id != first.id


def test_idle_seconds_zero_turns_the_idle_trigger_off(make_agent, llm):
    primary = quiet_primary(make_agent, idle_seconds=0)

    assert ours(sleeptime.fire_idle(now=after_quiet(primary, 10**6)), primary) == []
    assert sleeper_runs(primary) == []


def test_nothing_fires_before_the_idle_time_has_passed(make_agent, llm):
    primary = quiet_primary(make_agent, idle_seconds=60)

    assert ours(sleeptime.fire_idle(now=after_quiet(primary, 59)), primary) == []
    assert sleeper_runs(primary) == []
    assert len(ours(sleeptime.fire_idle(now=after_quiet(primary, 61)), primary)) == 1


def test_nothing_fires_once_a_run_has_processed_everything(make_agent, llm):
    primary = quiet_primary(make_agent)
    (manual,) = sleeptime.run_now(group_of(primary))
    assert runs.execute_run(manual.id) == "completed"
    group = group_of(primary)
    primary.refresh_from_db()
    assert group.last_processed_seq == primary.last_turn_end_seq
    assert group.last_processed_message_id

    assert ours(sleeptime.fire_idle(now=after_quiet(primary, 3600)), primary) == []
    assert [run.id for run in sleeper_runs(primary)] == [manual.id]


def test_a_paused_group_never_fires_when_idle(make_agent, llm):
    primary = quiet_primary(make_agent)
    update_agent(primary, {"enable_sleeptime": False}, user=primary.owner)

    assert ours(sleeptime.fire_idle(now=after_quiet(primary, 3600)), primary) == []
    assert sleeper_runs(primary) == []


# --- On demand -------------------------------------------------------------------------------


def test_run_now_starts_a_manual_run(make_agent, llm):
    primary = quiet_primary(make_agent)

    started = sleeptime.run_now(group_of(primary))

    assert len(started) == 1
    assert started[0].trigger == RunTrigger.MANUAL
    assert started[0].status == RunStatus.CREATED
    assert started[0].run_agent_id == sleeper_of(primary).id
    assert runs.execute_run(started[0].id) == "completed"


def test_run_now_joins_the_run_already_queued(make_agent, llm):
    primary = make_agent(enable_sleeptime=True, sleeptime_agent_frequency=1)
    (queued,) = say(primary).run_ids

    started = sleeptime.run_now(group_of(primary))

    assert [run.id for run in started] == [queued]
    assert started[0].trigger == RunTrigger.TURN
    assert len(sleeper_runs(primary)) == 1


def test_run_now_twice_gives_the_same_manual_run(make_agent, llm):
    primary = quiet_primary(make_agent)
    (first,) = sleeptime.run_now(group_of(primary))

    (second,) = sleeptime.run_now(group_of(primary))

    assert second.id == first.id
    assert len(sleeper_runs(primary)) == 1


def test_run_now_with_nothing_new_completes_without_asking_the_model(make_agent, llm):
    primary = make_agent(enable_sleeptime=True)
    (run,) = sleeptime.run_now(group_of(primary))

    assert runs.execute_run(run.id) == "completed"

    run.refresh_from_db()
    assert run.metadata["note"] == "no new messages since the last run"
    assert llm.sleeper.requests == []
