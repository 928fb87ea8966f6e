"""Background runs of a sleep-time agent: what one records, how it fails and is retried,
how a backlog is worked off, how its edits are undone, and that nobody's edit is lost.

Tests run inside a transaction, so the queue's on-commit enqueue never fires: each test
calls `runs.execute_run` itself, as a worker would.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from agents import loop, runs, sleeptime, tools
from agents.loop import InputMessage
from agents.models import Agent, Group, Insight, Message, Run
from agents.services import delete_agent, dismiss_insight, list_insights, send_message
from config.errors import Conflict, NotFound
from memory import services as memory_services
from memory.models import BlockVersion
from memory.services import Actor
from tests.llm_server import make_tool_call

PROFILE = "Name: unknown\nLikes: ?\nCity: ?"

# --- Helpers --------------------------------------------------------------------------------


def pair(make_agent: Any, **overrides: Any) -> tuple[Agent, Agent, Group]:
    """A primary with sleep-time on, its sleep-time agent and their group."""
    overrides.setdefault("name", "chat")
    overrides.setdefault("blocks", {"human": PROFILE})
    primary = make_agent(enable_sleeptime=True, **overrides)
    group = sleeptime.group_of(primary)
    assert group is not None
    (sleeper,) = sleeptime.sleeptime_agents(group)
    return primary, sleeper, group


def say(agent: Agent, text: str) -> list[str]:
    """One turn of the primary; the ids of the runs it started."""
    return send_message(agent, [InputMessage(role="user", content=text)]).run_ids or []


def started_run(agent: Agent, text: str) -> Run:
    (run_id,) = say(agent, text)
    return Run.objects.get(pk=run_id)


def value(agent: Agent, label: str = "human") -> str:
    return memory_services.get_agent_block(agent, label).value


def versions(agent: Agent, label: str = "human") -> list[BlockVersion]:
    return list(memory_services.get_agent_block(agent, label).versions.order_by("number"))


def last_message(agent: Agent) -> Message:
    message = Message.objects.filter(agent=agent).order_by("seq").last()
    assert message is not None
    return message


def waiting_run(sleeper: Agent) -> Run | None:
    return Run.objects.filter(run_agent_id=sleeper.id, status="created").first()


def tool_names(messages: Any) -> list[str]:
    return [call["name"] for message in messages for call in message.tool_calls or []]


def replace_name(llm: Any, new: str, old: str = "unknown") -> None:
    """Script the sleep-time agent to rewrite the name line (then finish, its default)."""
    llm.sleeper.tool_call(
        "memory_replace", {"label": "human", "old_str": f"Name: {old}", "new_str": f"Name: {new}"}
    )


def completed_run_that_renamed(make_agent: Any, llm: Any, new: str = "Ada") -> tuple[Agent, Run]:
    primary, _, _ = pair(make_agent)
    run = started_run(primary, f"I am {new}")
    replace_name(llm, new)
    assert runs.execute_run(run.id) == "completed"
    run.refresh_from_db()
    return primary, run


def later_retry_seconds(settings: Any, seconds: int) -> None:
    settings.SLEEPTIME_RETRY_SECONDS = seconds


def go_down_after_first_tool_call(llm: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """The sleep-time model answers until its first tool call has run, then fails."""
    real_execute = loop.execute

    def execute_then_fail(ctx: Any, name: str, arguments: dict[str, Any]) -> str:
        try:
            return real_execute(ctx, name, arguments)
        finally:
            llm.sleeper.fail(500, "the model went down", times=10)

    monkeypatch.setattr(loop, "execute", execute_then_fail)


# --- A completed run ----------------------------------------------------------------------


def test_a_completed_run_records_what_it_read_what_it_cost_and_what_it_changed(make_agent, llm):
    primary, sleeper, _ = pair(make_agent)
    run = started_run(primary, "I am Ada, I like tea")
    call = make_tool_call(
        "memory_replace", {"label": "human", "old_str": "Name: unknown", "new_str": "Name: Ada"}
    )
    llm.sleeper.reply(tool_calls=[call])

    assert runs.execute_run(run.id) == "completed"

    run.refresh_from_db()
    assert run.status == "completed"
    assert "user: I am Ada, I like tea" in run.transcript
    assert "assistant: echo: I am Ada, I like tea" in run.transcript
    assert run.prompt_tokens > 0
    assert run.completion_tokens > 0
    assert run.step_count == 2  # the edit, then memory_finish_edits
    assert run.duration_ms is not None and run.duration_ms >= 0
    assert run.started_at is not None and run.completed_at >= run.started_at
    assert run.stop_reason == "end_turn"
    assert run.error == ""
    assert run.metadata["agent_id"] == sleeper.id
    assert run.metadata["changed"] is True
    assert value(primary) == "Name: Ada\nLikes: ?\nCity: ?"
    (edit,) = BlockVersion.objects.filter(run_id=run.id)
    assert edit.tool_call_id == call.id
    assert edit.actor_type == "agent"
    assert edit.actor_agent_id == sleeper.id
    assert runs.run_versions(run) == [edit]


def test_a_runs_messages_are_its_transcript_and_its_tool_calls(make_agent, llm):
    primary, sleeper, _ = pair(make_agent)
    run = started_run(primary, "I am Ada")
    replace_name(llm, "Ada")

    runs.execute_run(run.id)

    run.refresh_from_db()
    messages = list(runs.run_messages(run))
    assert messages[0].role == "user"
    assert messages[0].content == run.transcript
    assert {message.agent_id for message in messages} == {sleeper.id}
    assert tool_names(messages) == ["memory_replace", "memory_finish_edits"]
    assert [m.tool_status for m in messages if m.role == "tool"] == ["success", "success"]


def test_a_completed_run_marks_the_primarys_turn_as_processed(make_agent, llm):
    primary, _, group = pair(make_agent)
    run = started_run(primary, "I am Ada")
    turn_end = last_message(primary)

    runs.execute_run(run.id)

    group.refresh_from_db()
    run.refresh_from_db()
    assert group.last_processed_seq == turn_end.seq
    assert group.last_processed_message_id == turn_end.uid
    assert run.transcript_until_message_id == turn_end.uid
    assert run.transcript_after_seq == 0


def test_the_next_run_reads_only_what_came_after_the_previous_run(make_agent, llm):
    primary, _, group = pair(make_agent, sleeptime_agent_frequency=1)
    first = started_run(primary, "I am Ada")
    runs.execute_run(first.id)
    first.refresh_from_db()

    second = started_run(primary, "I moved to London")
    assert runs.execute_run(second.id) == "completed"

    second.refresh_from_db()
    assert "user: I moved to London" in second.transcript
    assert "I am Ada" not in second.transcript
    assert second.transcript_after_seq == first.transcript_until_seq
    group.refresh_from_db()
    assert group.last_processed_message_id == last_message(primary).uid


def test_a_run_that_changed_nothing_completes_and_says_so(make_agent, llm):
    primary, _, _ = pair(make_agent)
    run = started_run(primary, "nice weather today")

    assert runs.execute_run(run.id) == "completed"  # the sleeper just finishes

    run.refresh_from_db()
    assert run.metadata["changed"] is False
    assert value(primary) == PROFILE
    assert not BlockVersion.objects.filter(run_id=run.id).exists()


def test_a_run_with_nothing_new_to_read_completes_without_asking_the_model(make_agent, llm):
    primary, _, group = pair(make_agent)
    first = started_run(primary, "I am Ada")
    runs.execute_run(first.id)
    requests_before = len(llm.sleeper.requests)

    (again,) = sleeptime.run_now(group)
    assert runs.execute_run(again.id) == "completed"

    again.refresh_from_db()
    assert len(llm.sleeper.requests) == requests_before
    assert again.metadata["changed"] is False
    assert "no new messages" in again.metadata["note"]


def test_executing_a_run_twice_does_it_once(make_agent, llm):
    primary, _, _ = pair(make_agent)
    run = started_run(primary, "I am Ada")
    replace_name(llm, "Ada")

    assert runs.execute_run(run.id) == "completed"
    assert runs.execute_run(run.id) == "skipped"

    assert len(llm.sleeper.requests) == 2
    assert value(primary).startswith("Name: Ada\n")


# --- Failing and retrying -----------------------------------------------------------------


def test_a_run_whose_model_fails_is_failed_visibly_and_retried_later(make_agent, llm, settings):
    later_retry_seconds(settings, 60)
    primary, sleeper, group = pair(make_agent)
    run = started_run(primary, "I am Ada")
    llm.sleeper.fail(500, "the sleeper's model is down", times=10)

    assert runs.execute_run(run.id) == "failed"

    run.refresh_from_db()
    assert run.status == "failed"
    assert "500" in run.error and "the sleeper's model is down" in run.error
    assert run.metadata["agent_id"] == sleeper.id
    assert run.metadata["error"] == run.error
    assert run.completed_at is not None
    group.refresh_from_db()
    assert group.last_processed_seq is None
    assert group.last_processed_message_id == ""
    retry = Run.objects.get(retry_of=run.id)
    assert retry.trigger == "retry"
    assert retry.status == "created"
    assert retry.attempt == 2
    assert retry.run_agent_id == sleeper.id
    assert retry.not_before > timezone.now() + timedelta(seconds=30)


def test_a_retry_waits_for_its_back_off_then_reads_what_the_failed_run_read(
    make_agent, llm, settings
):
    later_retry_seconds(settings, 60)
    primary, _, group = pair(make_agent)
    failed = started_run(primary, "I am Ada, I like tea")
    llm.sleeper.fail(500, "down", times=10)
    runs.execute_run(failed.id)
    failed.refresh_from_db()
    retry = Run.objects.get(retry_of=failed.id)

    assert runs.execute_run(retry.id) == "skipped"
    retry.refresh_from_db()
    assert retry.status == "created"

    llm.sleeper.reset()  # the model is back
    Run.objects.filter(pk=retry.id).update(not_before=timezone.now() - timedelta(seconds=1))
    assert runs.execute_run(retry.id) == "completed"

    retry.refresh_from_db()
    assert "user: I am Ada, I like tea" in failed.transcript
    assert "user: I am Ada, I like tea" in retry.transcript
    assert retry.transcript_after_seq == failed.transcript_after_seq
    group.refresh_from_db()
    assert group.last_processed_message_id == last_message(primary).uid


def test_each_retry_waits_four_times_longer_and_the_last_attempt_is_not_retried(
    make_agent, llm, settings
):
    later_retry_seconds(settings, 60)
    primary, sleeper, _ = pair(make_agent)
    run = started_run(primary, "I am Ada")
    llm.sleeper.fail(500, "down", times=100)
    attempts = []
    for _ in range(runs.MAX_ATTEMPTS + 1):
        Run.objects.filter(pk=run.id).update(not_before=None)
        assert runs.execute_run(run.id) == "failed"
        attempts.append(run.id)
        retry = Run.objects.filter(retry_of=run.id).first()
        if retry is None:
            break
        assert retry.attempt == len(attempts) + 1
        wait = (retry.not_before - timezone.now()).total_seconds()
        expected = 60 * 4 ** (len(attempts) - 1)
        assert expected - 10 < wait <= expected
        run = retry

    assert len(attempts) == runs.MAX_ATTEMPTS
    assert waiting_run(sleeper) is None


def test_the_clock_enqueues_a_retry_only_once_its_back_off_is_over(make_agent, llm, settings):
    later_retry_seconds(settings, 60)
    primary, _, _ = pair(make_agent)
    failed = started_run(primary, "I am Ada")
    llm.sleeper.fail(500, "down", times=10)
    runs.execute_run(failed.id)
    retry = Run.objects.get(retry_of=failed.id)

    assert retry.id not in runs.enqueue_due()
    assert retry.id in runs.enqueue_due(retry.not_before + timedelta(seconds=1))


def test_a_failed_runs_edits_are_rolled_back(make_agent, llm, monkeypatch):
    primary, sleeper, _ = pair(make_agent)
    run = started_run(primary, "I am Ada")
    replace_name(llm, "Ada")
    go_down_after_first_tool_call(llm, monkeypatch)

    assert runs.execute_run(run.id) == "failed"

    assert value(primary) == PROFILE
    _, edit, rollback = versions(primary)
    assert edit.value == "Name: Ada\nLikes: ?\nCity: ?"
    assert edit.run_id == run.id
    assert edit.actor_agent_id == sleeper.id
    assert rollback.reverts.startswith(f"run:{run.id}#")
    assert rollback.previous_value == edit.value
    assert rollback.value == PROFILE
    assert rollback.actor_type == "system"
    run.refresh_from_db()
    assert "the model went down" in run.error
    assert [entry["label"] for entry in run.metadata["rolled_back"]] == ["human"]


def test_a_run_making_too_many_failed_tool_calls_is_stopped_and_failed(make_agent, llm):
    primary, _, _ = pair(make_agent)
    run = started_run(primary, "I am Ada")
    for _ in range(runs.MAX_TOOL_ERRORS + 2):
        llm.sleeper.tool_call(
            "memory_replace", {"label": "human", "old_str": "not in the block", "new_str": "x"}
        )

    assert runs.execute_run(run.id) == "failed"

    run.refresh_from_db()
    assert run.stop_reason == "invalid_tool_call"
    assert f"{runs.MAX_TOOL_ERRORS} failed tool calls" in run.error
    assert run.step_count == runs.MAX_TOOL_ERRORS
    assert len(llm.sleeper.requests) == runs.MAX_TOOL_ERRORS  # it stopped asking
    assert llm.sleeper.pending_replies == 2
    assert value(primary) == PROFILE


def test_a_run_that_does_not_finish_within_its_steps_is_failed_and_undone(
    make_agent, llm, monkeypatch
):
    monkeypatch.setattr(loop, "DEFAULT_MAX_STEPS", 3)
    primary, _, _ = pair(make_agent)
    run = started_run(primary, "I am Ada")
    for fact in ("Pet: cat", "Job: mathematician", "Tea: green"):
        llm.sleeper.tool_call("memory_insert", {"label": "human", "new_str": fact})

    assert runs.execute_run(run.id) == "failed"

    run.refresh_from_db()
    assert run.stop_reason == "max_steps"
    assert "within 3 steps" in run.error
    assert run.step_count == 3
    assert value(primary) == PROFILE
    assert len(run.metadata["rolled_back"]) == 3


def test_a_run_whose_worker_stopped_beating_is_failed_undone_and_retried(
    make_agent, llm, settings, user
):
    settings.RUN_STALE_SECONDS = 60
    primary, sleeper, _ = pair(make_agent)
    run = started_run(primary, "I am Ada")
    long_ago = timezone.now() - timedelta(minutes=10)
    Run.objects.filter(pk=run.id).update(
        status="running", started_at=long_ago, heartbeat_at=long_ago
    )
    # It had made an edit before its worker died.
    memory_services.edit_block_as_agent(
        sleeper,
        "human",
        lambda text: text.replace("unknown", "Ada"),
        Actor.for_agent(sleeper.id, run.id),
    )

    lost = runs.recover_lost()

    assert run.id in lost
    run.refresh_from_db()
    assert run.status == "failed"
    assert "worker" in run.error
    assert value(primary) == PROFILE
    retry = Run.objects.get(retry_of=run.id)
    assert (retry.trigger, retry.status, retry.attempt) == ("retry", "created", 2)


def test_a_running_run_with_a_fresh_heartbeat_is_left_alone(make_agent, llm, settings):
    settings.RUN_STALE_SECONDS = 60
    primary, _, _ = pair(make_agent)
    run = started_run(primary, "I am Ada")
    now = timezone.now()
    Run.objects.filter(pk=run.id).update(status="running", started_at=now, heartbeat_at=now)

    lost = runs.recover_lost()

    assert run.id not in lost
    run.refresh_from_db()
    assert run.status == "running"
    assert run.error == ""
    assert not Run.objects.filter(retry_of=run.id).exists()


def delete_the_sleeper(sleeper: Agent, group: Group) -> None:
    delete_agent(sleeper)


def delete_the_group(sleeper: Agent, group: Group) -> None:
    group.delete()


@pytest.mark.parametrize("delete", [delete_the_sleeper, delete_the_group])
def test_a_run_whose_sleeper_or_group_was_deleted_fails_without_retry(make_agent, llm, delete):
    primary, sleeper, group = pair(make_agent)
    run = started_run(primary, "I am Ada")
    delete(sleeper, group)

    assert runs.execute_run(run.id) == "failed"

    run.refresh_from_db()
    assert "deleted" in run.error
    assert not Run.objects.filter(retry_of=run.id).exists()
    assert llm.sleeper.requests == []
    assert value(primary) == PROFILE


# --- A backlog ------------------------------------------------------------------------------


def test_a_backlog_is_read_one_slice_per_run_until_everything_is_processed(
    make_agent, llm, monkeypatch
):
    monkeypatch.setattr(runs.execute, "TRANSCRIPT_TOKENS", 60)  # room for one turn at a time
    primary, sleeper, group = pair(make_agent, sleeptime_agent_frequency=1)
    texts = ["I am Ada", "I like green tea", "I live in London"]
    run_ids = {run_id for text in texts for run_id in say(primary, text)}
    (first_id,) = run_ids  # later turns joined the run already waiting

    assert runs.execute_run(first_id) == "completed"

    first = Run.objects.get(pk=first_id)
    assert "user: I am Ada" in first.transcript
    assert "green tea" not in first.transcript
    assert first.metadata["backlog_remaining"] is True
    backlog = waiting_run(sleeper)
    assert backlog is not None and backlog.trigger == "backlog"
    group.refresh_from_db()
    assert group.last_processed_seq == first.transcript_until_seq
    assert group.last_processed_seq < Agent.objects.get(pk=primary.pk).last_turn_end_seq

    done = [first]
    for _ in range(10):
        waiting = waiting_run(sleeper)
        if waiting is None:
            break
        assert runs.execute_run(waiting.id) == "completed"
        done.append(Run.objects.get(pk=waiting.id))

    assert len(done) == len(texts)
    for run, text in zip(done, texts, strict=True):
        assert f"user: {text}" in run.transcript
        assert [other for other in texts if other in run.transcript] == [text]
    assert done[-1].metadata["backlog_remaining"] is False
    group.refresh_from_db()
    assert group.last_processed_message_id == last_message(primary).uid


# --- Undoing a run -----------------------------------------------------------------------


def test_reverting_a_run_undoes_its_edits_as_the_person_who_asked(make_agent, llm, user):
    primary, run = completed_run_that_renamed(make_agent, llm)

    report = runs.revert_run(run, Actor.for_user(user))

    assert [entry["label"] for entry in report["reverted"]] == ["human"]
    assert report["conflicts"] == []
    assert value(primary) == PROFILE
    undo = versions(primary)[-1]
    assert undo.actor_type == "user"
    assert undo.actor_user == user
    assert undo.reverts.startswith(f"run:{run.id}#")
    run.refresh_from_db()
    assert run.reverted_at is not None


def test_reverting_a_run_keeps_a_persons_later_edit_on_other_lines(make_agent, llm, user):
    primary, run = completed_run_that_renamed(make_agent, llm)
    block = memory_services.get_agent_block(primary, "human")
    memory_services.update_block(
        block.id, actor=Actor.for_user(user), value="Name: Ada\nLikes: ?\nCity: London"
    )

    report = runs.revert_run(run, Actor.for_user(user))

    assert report["conflicts"] == []
    assert value(primary) == "Name: unknown\nLikes: ?\nCity: London"


def test_reverting_a_run_whose_edit_was_overwritten_reports_a_conflict_and_keeps_the_newer_text(
    make_agent, llm, user
):
    primary, run = completed_run_that_renamed(make_agent, llm)
    block = memory_services.get_agent_block(primary, "human")
    newer = "Name: Ada Lovelace\nLikes: ?\nCity: ?"
    memory_services.update_block(block.id, actor=Actor.for_user(user), value=newer)
    count = len(versions(primary))

    report = runs.revert_run(run, Actor.for_user(user))

    (conflict,) = report["conflicts"]
    assert conflict["label"] == "human"
    assert conflict["reason"]
    assert report["reverted"] == []
    assert value(primary) == newer
    assert len(versions(primary)) == count
    run.refresh_from_db()
    assert run.reverted_at is None


def test_reverting_a_run_twice_changes_nothing_the_second_time(make_agent, llm, user):
    primary, run = completed_run_that_renamed(make_agent, llm)
    runs.revert_run(run, Actor.for_user(user))
    count = len(versions(primary))

    again = runs.revert_run(run, Actor.for_user(user))

    assert again["reverted"] == []
    assert again["conflicts"] == []
    assert value(primary) == PROFILE
    assert len(versions(primary)) == count


def test_reverting_twice_a_run_that_edited_one_line_twice_reports_no_conflict(
    make_agent, llm, user
):
    primary, _, _ = pair(make_agent)
    run = started_run(primary, "I am Ada Lovelace")
    replace_name(llm, "Ada")
    replace_name(llm, "Ada Lovelace", old="Ada")
    assert runs.execute_run(run.id) == "completed"
    run.refresh_from_db()
    assert value(primary) == "Name: Ada Lovelace\nLikes: ?\nCity: ?"
    first = runs.revert_run(run, Actor.for_user(user))
    assert len(first["reverted"]) == 2
    assert value(primary) == PROFILE
    count = len(versions(primary))

    again = runs.revert_run(run, Actor.for_user(user))

    # Nobody touched the block since the first revert: there is nothing left to undo.
    assert again["conflicts"] == []
    assert again["reverted"] == []
    assert value(primary) == PROFILE
    assert len(versions(primary)) == count


def test_reverting_a_run_again_does_not_undo_a_persons_edit_made_after_the_first_revert(
    make_agent, llm, user
):
    primary, run = completed_run_that_renamed(make_agent, llm)
    runs.revert_run(run, Actor.for_user(user))
    block = memory_services.get_agent_block(primary, "human")
    # The person decides the name was right after all and types it in themselves.
    mine = "Name: Ada\nLikes: ?\nCity: ?"
    memory_services.update_block(block.id, actor=Actor.for_user(user), value=mine)

    again = runs.revert_run(run, Actor.for_user(user))

    assert again["reverted"] == []
    assert value(primary) == mine


def test_reverting_an_active_run_is_refused(make_agent, llm, user):
    primary, _, _ = pair(make_agent)
    run = started_run(primary, "I am Ada")

    with pytest.raises(Conflict):
        runs.revert_run(run, Actor.for_user(user))

    Run.objects.filter(pk=run.id).update(status="running")
    run.refresh_from_db()
    with pytest.raises(Conflict):
        runs.revert_run(run, Actor.for_user(user))


# --- No lost updates ------------------------------------------------------------------------


def test_a_person_saving_over_an_older_version_keeps_the_runs_edit_on_other_lines(
    make_agent, llm, user
):
    primary, _, _ = pair(make_agent)
    block = memory_services.get_agent_block(primary, "human")
    opened = block.version  # the person opens the editor
    run = started_run(primary, "I am Ada")
    replace_name(llm, "Ada")
    runs.execute_run(run.id)  # meanwhile the run edits the name

    saved = memory_services.update_block(
        block.id,
        actor=Actor.for_user(user),
        base_version=opened,
        value="Name: unknown\nLikes: chess\nCity: ?",
    )

    assert saved.value == "Name: Ada\nLikes: chess\nCity: ?"
    assert value(primary) == "Name: Ada\nLikes: chess\nCity: ?"


def test_a_person_saving_the_same_line_over_an_older_version_is_refused_and_the_run_stays(
    make_agent, llm, user
):
    primary, _, _ = pair(make_agent)
    block = memory_services.get_agent_block(primary, "human")
    opened = block.version
    run = started_run(primary, "I am Ada")
    replace_name(llm, "Ada")
    runs.execute_run(run.id)

    with pytest.raises(Conflict) as refused:
        memory_services.update_block(
            block.id,
            actor=Actor.for_user(user),
            base_version=opened,
            value="Name: Grace\nLikes: ?\nCity: ?",
        )

    assert refused.value.status == 409
    assert refused.value.extra == {
        "current_value": "Name: Ada\nLikes: ?\nCity: ?",
        "current_version": opened + 1,
    }
    assert value(primary) == "Name: Ada\nLikes: ?\nCity: ?"


def stale_context(sleeper: Agent, seen: int) -> tools.ToolContext:
    """What the sleep-time agent's tools get when the model read the block at `seen`."""
    return tools.ToolContext(
        agent=sleeper, turn_id="turn", run_id="run-test", seen_versions={"human": seen}
    )


def test_a_rewrite_from_a_stale_view_is_refused_and_the_persons_edit_stays(make_agent, llm, user):
    primary, sleeper, _ = pair(make_agent)
    block = memory_services.get_agent_block(primary, "human")
    read = block.version  # the model is shown the block
    person = "Name: unknown\nLikes: chess\nCity: ?"
    memory_services.update_block(block.id, actor=Actor.for_user(user), value=person)

    with pytest.raises(tools.ToolError) as refused:
        tools.execute(
            stale_context(sleeper, read),
            "memory_rethink",
            {"label": "human", "new_memory": "Name: Ada"},
        )

    message = str(refused.value)
    assert "changed by someone else" in message
    assert "Read it" in message
    assert "Likes: chess" in message  # the current text, to re-read
    assert value(primary) == person


def test_a_rewrite_from_a_fresh_view_goes_through(make_agent, llm, user):
    primary, sleeper, _ = pair(make_agent)
    block = memory_services.get_agent_block(primary, "human")

    tools.execute(
        stale_context(sleeper, block.version),
        "memory_rethink",
        {"label": "human", "new_memory": "Name: Ada"},
    )

    assert value(primary) == "Name: Ada"


def test_a_targeted_edit_from_a_stale_view_lands_on_the_fresh_value(make_agent, llm, user):
    primary, sleeper, _ = pair(make_agent)
    block = memory_services.get_agent_block(primary, "human")
    ctx = stale_context(sleeper, block.version)
    memory_services.update_block(
        block.id, actor=Actor.for_user(user), value="Name: unknown\nLikes: chess\nCity: ?"
    )

    tools.execute(
        ctx,
        "memory_replace",
        {"label": "human", "old_str": "Name: unknown", "new_str": "Name: Ada"},
    )

    assert value(primary) == "Name: Ada\nLikes: chess\nCity: ?"
    assert ctx.seen_versions["human"] == memory_services.get_agent_block(primary, "human").version


def test_a_rewrite_refused_in_a_run_is_a_failed_tool_call_and_changes_nothing(
    make_agent, llm, user, monkeypatch
):
    primary, _, _ = pair(make_agent)
    block = memory_services.get_agent_block(primary, "human")
    run = started_run(primary, "I am Ada")
    person = "Name: unknown\nLikes: chess\nCity: ?"
    real_execute = loop.execute

    def person_saves_first(ctx: Any, name: str, arguments: dict[str, Any]) -> str:
        if name == "memory_rethink":  # the person saves while the model was thinking
            memory_services.update_block(block.id, actor=Actor.for_user(user), value=person)
        return real_execute(ctx, name, arguments)

    monkeypatch.setattr(loop, "execute", person_saves_first)
    llm.sleeper.tool_call("memory_rethink", {"label": "human", "new_memory": "Name: Ada"})

    assert runs.execute_run(run.id) == "completed"

    assert value(primary) == person
    (result,) = [m for m in runs.run_messages(run) if m.tool_name == "memory_rethink"]
    assert result.tool_status == "error"
    assert "changed by someone else" in json.loads(result.content)["message"]


# --- Insights -------------------------------------------------------------------------------


def test_an_insight_surfaced_by_the_sleeper_is_shown_on_the_primary(make_agent, llm):
    primary, sleeper, _ = pair(make_agent)
    run = started_run(primary, "I skipped lunch again, third day in a row")
    llm.sleeper.tool_call(
        "surface_insight",
        {"title": "Skipped meals", "body": "Three days without lunch.", "severity": "warning"},
    )

    assert runs.execute_run(run.id) == "completed"

    (insight,) = list_insights(primary)
    assert insight.agent_id == primary.id
    assert insight.run_id == run.id
    assert (insight.title, insight.body, insight.severity) == (
        "Skipped meals",
        "Three days without lunch.",
        "warning",
    )
    assert not Insight.objects.filter(agent=sleeper).exists()


def test_a_dismissed_insight_leaves_the_list_but_not_the_history(make_agent, llm):
    primary, _, _ = pair(make_agent)
    run = started_run(primary, "I skipped lunch again")
    llm.sleeper.tool_call("surface_insight", {"title": "Skipped meals", "body": "Again."})
    runs.execute_run(run.id)
    (insight,) = list_insights(primary)
    assert insight.severity == "info"

    dismissed = dismiss_insight(primary, insight.id)

    assert dismissed.dismissed_at is not None
    assert list(list_insights(primary)) == []
    assert list(list_insights(primary, include_dismissed=True)) == [insight]
    with pytest.raises(NotFound):
        dismiss_insight(primary, "insight-unknown")


def test_an_insight_with_an_unknown_severity_is_a_failed_tool_call(make_agent, llm):
    primary, _, _ = pair(make_agent)
    run = started_run(primary, "I skipped lunch again")
    llm.sleeper.tool_call(
        "surface_insight", {"title": "Skipped meals", "body": "Again.", "severity": "urgent"}
    )

    assert runs.execute_run(run.id) == "completed"

    assert not Insight.objects.filter(agent=primary).exists()
    (result,) = [m for m in runs.run_messages(run) if m.tool_name == "surface_insight"]
    assert result.tool_status == "error"
    assert "severity must be one of info, warning, critical" in result.content


# --- Listing ---------------------------------------------------------------------------------


def test_runs_are_listed_under_the_primary_and_the_sleeper(make_agent, llm, user):
    primary, sleeper, _ = pair(make_agent)
    done = started_run(primary, "I am Ada")
    runs.execute_run(done.id)
    (waiting,) = sleeptime.run_now(sleeptime.group_of(primary))

    def listed(**filters: object) -> list[str]:
        return [run.id for run in runs.list_runs(user, ascending=True, **filters)]

    by_primary = listed(agent_ids=[primary.id], background=True)
    by_sleeper = listed(agent_ids=[sleeper.id])
    active = listed(agent_ids=[primary.id], active=True)
    completed = listed(statuses=["completed"], background=True)

    assert by_primary == by_sleeper == [done.id, waiting.id]
    assert active == [waiting.id]
    assert completed == [done.id]
    # The turn that started the run is a run of the primary too, and only of it.
    (turn,) = listed(agent_ids=[primary.id], background=False)
    assert listed(agent_ids=[primary.id]) == [turn, done.id, waiting.id]
    assert Run.objects.get(pk=turn).trigger == "message"
