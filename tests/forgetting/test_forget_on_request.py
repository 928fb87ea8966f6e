"""Forgetting on request: the primary's `forget` tool queues a job; the job purges the
matter, has the sleep-time agent rewrite the blocks without it (`memory_forget`), and
leaves a result the user can see."""

from __future__ import annotations

import pytest

from agents.models import Agent, Message, Run
from agents.tools import ToolContext, ToolError, execute
from forgetting import tasks
from forgetting.models import ForgetJob
from forgetting.services import FORGET_RUN_TRANSCRIPT, request_forget
from tests.factories import pair, run_sleeper_now, say
from tests.forgetting.support import grep_database, history_text, value

MATTER = "Zephyr-Quokka"


def forgetful_pair(make_agent):
    """A primary that may be asked to forget, whose memory agent wrote the matter down."""
    return pair(make_agent, tools=["forget"], blocks={"human": "Name: Ada"})


def learn(primary, group, llm) -> None:
    say(primary, f"I lead {MATTER}; it launches on May 3")
    llm.sleeper.tool_call(
        "memory_insert", {"label": "human", "new_str": f"Leads {MATTER}, launch on May 3"}
    )
    run_sleeper_now(group)
    assert MATTER in value(primary)


def ask_to_forget(primary, llm) -> ForgetJob:
    llm.tool_call("forget", {"matter": MATTER})
    assert say(primary, f"Please forget everything about {MATTER}").stop_reason == "end_turn"
    (job,) = ForgetJob.objects.filter(agent_id=primary.id)
    return job


def test_asked_to_forget_the_agent_queues_a_job_and_its_reply_does_not_repeat_it(make_agent, llm):
    primary, _, group = forgetful_pair(make_agent)
    learn(primary, group, llm)

    job = ask_to_forget(primary, llm)

    assert (job.status, job.who) == ("queued", f"agent:{primary.id}")
    (answer,) = Message.objects.filter(agent=primary, tool_name="forget")
    assert job.id in answer.content
    assert MATTER not in answer.content


def test_the_job_purges_the_matter_and_the_memory_agent_erases_what_concerned_it(make_agent, llm):
    primary, _, group = forgetful_pair(make_agent)
    learn(primary, group, llm)
    job = ask_to_forget(primary, llm)
    # On the worker, the blocks read "Leads [forgotten], ..." when the memory agent looks.
    llm.sleeper.tool_call(
        "memory_forget", {"label": "human", "old_str": "\nLeads [forgotten], launch on May 3"}
    )

    assert tasks.run_forget_job(job.id) == "completed"

    assert value(primary) == "Name: Ada"
    assert "May 3" not in history_text(primary)
    assert grep_database(MATTER) == {}
    assert grep_database("launch on May 3") == {}
    assert say(primary, "hello").stop_reason == "end_turn"


def test_the_jobs_result_shows_what_was_purged_and_the_run_that_rewrote_the_blocks(make_agent, llm):
    primary, sleeper, group = forgetful_pair(make_agent)
    learn(primary, group, llm)
    job = ask_to_forget(primary, llm)

    tasks.run_forget_job(job.id)

    job.refresh_from_db()
    assert (job.status, job.error, job.matter) == ("completed", "", "")
    (run,) = Run.objects.filter(pk__in=job.run_ids)
    assert (run.status, run.trigger, run.run_agent_id) == ("completed", "forget", sleeper.id)
    assert run.metadata["run_type"] == "forget"
    assert run.transcript == FORGET_RUN_TRANSCRIPT
    tombstone = job.tombstone
    assert tombstone is not None
    assert (tombstone.kind, tombstone.who) == ("matter", f"agent:{primary.id}")
    # Two questions, two echoed replies, and the call to `forget` itself.
    assert tombstone.details["messages"] == 5
    assert tombstone.details["versions"] >= 2
    assert tombstone.count == sum(tombstone.details.values())


def test_a_job_is_carried_out_once(make_agent, llm):
    primary, _, _ = forgetful_pair(make_agent)
    job = request_forget(primary, MATTER, who="7")

    assert tasks.run_forget_job(job.id) == "completed"
    assert tasks.run_forget_job(job.id) == "skipped"
    assert tasks.run_forget_job("forget-missing") == "skipped"


def test_when_the_memory_agent_fails_the_job_says_so_and_the_matter_is_still_gone(make_agent, llm):
    primary, _, group = forgetful_pair(make_agent)
    learn(primary, group, llm)
    job = ask_to_forget(primary, llm)
    llm.sleeper.fail(500, "the model is down", times=20)

    assert tasks.run_forget_job(job.id) == "failed"

    job.refresh_from_db()
    assert "failed" in job.error
    assert job.matter == ""
    assert job.tombstone is not None
    assert grep_database(MATTER) == {}


def test_a_job_for_an_agent_deleted_meanwhile_fails_and_forgets_the_matter(make_agent, llm):
    primary, _, _ = forgetful_pair(make_agent)
    job = request_forget(primary, MATTER, who="7")
    Agent.objects.filter(pk=primary.pk).delete()

    assert tasks.run_forget_job(job.id) == "failed"

    job.refresh_from_db()
    assert (job.error, job.matter) == ("the agent was deleted", "")


def test_a_memory_agent_made_before_the_tool_existed_is_given_it(make_agent, llm):
    primary, sleeper, _ = forgetful_pair(make_agent)
    Agent.objects.filter(pk=sleeper.pk).update(
        tools=[name for name in sleeper.tools if name != "memory_forget"]
    )

    tasks.run_forget_job(request_forget(primary, MATTER, who="7").id)

    sleeper.refresh_from_db()
    assert "memory_forget" in sleeper.tools
    offered = [tool["function"]["name"] for tool in llm.sleeper.last_request["tools"]]
    assert "memory_forget" in offered


def test_memory_forget_is_refused_outside_a_forget_run(make_agent):
    _, sleeper, _ = pair(make_agent, blocks={"human": "Leads the launch"})
    ctx = ToolContext(agent=sleeper, turn_id="t", run_id="")

    with pytest.raises(ToolError, match="only available while you carry out a request"):
        execute(ctx, "memory_forget", {"label": "human", "old_str": "Leads the launch"})

    assert value(sleeper) == "Leads the launch"


def test_the_letta_tool_sets_are_unchanged_and_forget_is_opt_in(make_agent, llm):
    primary, sleeper, _ = pair(make_agent)

    assert primary.tools == ["send_message", "conversation_search", "archival_memory_search"]
    assert "memory_forget" in sleeper.tools
    llm.tool_call("forget", {"matter": MATTER})
    say(primary, "forget it")
    (answer,) = Message.objects.filter(agent=primary, tool_name="forget")
    assert answer.tool_status == "error"
    assert not ForgetJob.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_outside_a_test_transaction_the_request_is_queued_and_carried_out(user, llm):
    """Committed for real: the job is handed to the queue after the commit, with its id
    only, and runs its transactions, locks and heartbeat as on a worker."""
    from django_q.models import OrmQ

    from tests.factories import make_agent as build_agent

    primary = build_agent(user, name="chat", enable_sleeptime=True, tools=["forget"])
    say(primary, f"I lead {MATTER}")
    job = ask_to_forget(primary, llm)
    (queued,) = [q for q in OrmQ.objects.all() if q.func() == "forgetting.tasks.run_forget_job"]
    assert queued.task["args"] == (job.id,)

    assert tasks.run_forget_job(job.id) == "completed"

    assert grep_database(MATTER) == {}
    assert say(primary, "hello").stop_reason == "end_turn"
