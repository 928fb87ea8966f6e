"""Evaluations as background jobs: made and checked up front, carried out a step at a
time, held to budgets, stopped and resumed by people, and picked up again after a worker
died mid-step. Steps are driven here as a worker would (the queue's hand-over happens on
commit, which a test transaction never reaches)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from accounts.access import access_for
from agents import governor
from agents.models import Agent, AgentType, Message, Role, Run, RunTrigger
from config.errors import Conflict, InvalidRequest
from evaluation import material, services
from evaluation.models import Evaluation, EvaluationStatus
from evaluation.runner import Arm, Template, copy_for
from tests.factories import TEST_MODEL, say
from tests.llm_server import _last_user_text

ARITHMETIC = {"kind": "arithmetic", "count": 1, "seed": 3}


def drive(evaluation: Evaluation, limit: int = 20) -> Evaluation:
    """Do its steps as the workers would, until it stops."""
    for _ in range(limit):
        services.run_step(evaluation.id)
        evaluation.refresh_from_db()
        if evaluation.status != EvaluationStatus.QUEUED:
            return evaluation
    raise AssertionError(f"still {evaluation.status} after {limit} steps")


@pytest.fixture
def agent(make_agent):
    return make_agent(blocks={"persona": "I keep count.", "human": ""})


def test_an_evaluation_is_estimated_then_done_step_by_step_and_every_token_is_counted(
    user, agent, llm
):
    evaluation = services.create_evaluation(
        user, agent_id=agent.id, material_spec=ARITHMETIC, arms=["off", "on"], keep_copies=True
    )
    assert evaluation.status == EvaluationStatus.QUEUED
    assert evaluation.steps_total == 2 and evaluation.estimated_tokens > 0
    assert llm.requests == []  # nothing is spent before a worker takes it

    services.run_step(evaluation.id)
    evaluation.refresh_from_db()
    assert (evaluation.status, evaluation.steps_done) == (EvaluationStatus.QUEUED, 1)
    evaluation = drive(evaluation)

    assert (evaluation.status, evaluation.steps_done) == (EvaluationStatus.COMPLETED, 2)
    assert evaluation.finished_at is not None
    copies = Agent.objects.filter(evaluation_id=evaluation.id).exclude(
        agent_type=AgentType.SLEEPTIME
    )
    assert copies.count() == 2
    # Every token of every copy, as the provider reported it, and nothing else.
    runs = Run.objects.filter(primary_agent__in=copies)
    reported = sum(run.prompt_tokens + run.completion_tokens for run in runs)
    assert evaluation.tokens_used == reported > 0
    report = services.summary(evaluation)
    assert [row["arm"] for row in report["arms"]] == ["off", "on"]
    assert report["estimated_tokens"] == evaluation.estimated_tokens
    assert {item["arm"] for item in report["items"]} == {"off", "on"}


def test_copies_go_unless_kept_and_the_agent_evaluated_is_left_alone(user, agent, llm):
    before = list(Message.objects.filter(agent=agent))
    evaluation = services.create_evaluation(
        user, agent_id=agent.id, material_spec=ARITHMETIC, arms=["off"]
    )

    drive(evaluation)

    assert not Agent.objects.filter(evaluation_id=evaluation.id).exists()
    assert list(Message.objects.filter(agent=agent)) == before
    assert Agent.objects.filter(pk=agent.pk).exists()


def test_an_agents_own_history_is_replayed_with_the_questions_a_person_wrote(user, agent, llm):
    say(agent, "My sister is called Ines.")
    say(agent, "She lives in Lisbon.")

    def knows_ines(body: dict[str, Any]) -> str:
        asked = _last_user_text(body.get("messages") or [])
        return "Lisbon." if asked == "Where does my sister live?" else "Noted."

    llm.main.answer_with(knows_ines)
    evaluation = services.create_evaluation(
        user,
        agent_id=agent.id,
        material_spec={
            "kind": "history",
            "questions": [{"question": "Where does my sister live?", "answer": "Lisbon"}],
        },
        arms=["off"],
    )

    evaluation = drive(evaluation)

    assert evaluation.items[0]["turns"] == ["My sister is called Ines.", "She lives in Lisbon."]
    (item,) = services.summary(evaluation)["items"]
    assert [a["correct"] for a in item["answers"]] == [True]


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"material_spec": ARITHMETIC, "arms": ["off"]}, "agent_id"),
        ({"model": TEST_MODEL, "material_spec": {"kind": "poems"}, "arms": ["off"]}, "kind"),
        ({"model": TEST_MODEL, "material_spec": {**ARITHMETIC, "count": 0}, "arms": ["off"]}, "1"),
        ({"model": TEST_MODEL, "material_spec": ARITHMETIC, "arms": ["sometimes"]}, "arm"),
        ({"model": TEST_MODEL, "material_spec": ARITHMETIC, "arms": ["on", "on"]}, "same"),
        ({"model": TEST_MODEL, "material_spec": ARITHMETIC, "arms": []}, "arm"),
        ({"model": "gpt-4", "material_spec": ARITHMETIC, "arms": ["off"]}, "provider/model"),
        ({"model": "nowhere/x", "material_spec": ARITHMETIC, "arms": ["off"]}, "nowhere"),
        (
            {"model": TEST_MODEL, "material_spec": {"kind": "jsonl", "text": "{"}, "arms": ["off"]},
            "line 1",
        ),
        (
            {"model": TEST_MODEL, "material_spec": {"kind": "history"}, "arms": ["off"]},
            "agent_id",
        ),
        (
            {"model": TEST_MODEL, "material_spec": ARITHMETIC, "arms": ["off"], "token_budget": 0},
            "token_budget",
        ),
    ],
)
def test_what_cannot_run_is_refused_up_front_and_nothing_is_made(user, llm, arguments, message):
    with pytest.raises(InvalidRequest, match=message):
        services.create_evaluation(user, **arguments)
    assert not Evaluation.objects.exists()


def test_history_needs_questions_and_something_said(user, agent, llm):
    with pytest.raises(InvalidRequest, match="question"):
        services.create_evaluation(
            user, agent_id=agent.id, material_spec={"kind": "history"}, arms=["off"]
        )
    with pytest.raises(InvalidRequest, match="no messages"):
        services.create_evaluation(
            user,
            agent_id=agent.id,
            material_spec={"kind": "history", "questions": [{"question": "?", "answer": "1"}]},
            arms=["off"],
        )


def test_a_step_that_would_go_over_the_evaluations_budget_is_not_started(user, agent, llm):
    evaluation = services.create_evaluation(
        user, agent_id=agent.id, material_spec=ARITHMETIC, arms=["off"], token_budget=10
    )

    evaluation = drive(evaluation)

    assert evaluation.status == EvaluationStatus.PAUSED
    assert "budget of 10" in evaluation.reason
    assert llm.requests == [] and evaluation.steps_done == 0
    # A person raises the budget and resumes it.
    Evaluation.objects.filter(pk=evaluation.pk).update(token_budget=None)
    services.resume(evaluation)
    assert drive(evaluation).status == EvaluationStatus.COMPLETED


def test_the_organizations_budget_counts_evaluations_and_holds_them(user, agent, llm):
    evaluation = services.create_evaluation(
        user, agent_id=agent.id, material_spec=ARITHMETIC, arms=["off", "on"], keep_copies=True
    )
    services.run_step(evaluation.id)  # the first step, with no budget set
    evaluation.refresh_from_db()
    organization = access_for(user).organization
    organization.daily_token_budget = evaluation.tokens_used + 1
    organization.save()

    (limit,) = governor.organization_limits(organization)
    # The step's tokens, once: not again through the kept copy's runs.
    assert limit.spent == evaluation.tokens_used > 0
    evaluation = drive(evaluation)
    assert evaluation.status == EvaluationStatus.PAUSED
    assert "organization past its daily budget" in evaluation.reason
    assert evaluation.steps_done == 1


def test_a_failed_step_says_why_leaves_nothing_behind_and_resumes(user, agent, llm):
    evaluation = services.create_evaluation(
        user, agent_id=agent.id, material_spec=ARITHMETIC, arms=["off"]
    )
    llm.main.fail(status=400, message="model overloaded", times=1)

    evaluation = drive(evaluation)

    assert evaluation.status == EvaluationStatus.FAILED
    assert "replayed turn 1" in evaluation.reason and "overloaded" in evaluation.reason
    assert not Agent.objects.filter(evaluation_id=evaluation.id).exists()
    services.resume(evaluation)
    assert drive(evaluation).status == EvaluationStatus.COMPLETED


def test_cancelled_it_does_no_more_and_finished_it_cannot_be_cancelled_or_resumed(user, agent, llm):
    evaluation = services.create_evaluation(
        user, agent_id=agent.id, material_spec=ARITHMETIC, arms=["off", "on"]
    )
    services.run_step(evaluation.id)

    services.cancel(evaluation, user)
    assert services.run_step(evaluation.id) == "skipped"
    evaluation.refresh_from_db()
    assert (evaluation.status, evaluation.steps_done) == (EvaluationStatus.CANCELLED, 1)
    assert evaluation.reason == f"cancelled by {user.get_username()}"
    with pytest.raises(Conflict):
        services.cancel(evaluation, user)
    with pytest.raises(Conflict):
        services.resume(evaluation)


def test_a_step_lost_with_its_worker_is_done_again_and_its_spend_kept(user, agent, llm):
    evaluation = services.create_evaluation(
        user, agent_id=agent.id, material_spec=ARITHMETIC, arms=["off"]
    )
    # A worker took the step, replayed a turn into its copy, and died.
    lost_copy = copy_for(
        user,
        Template(**evaluation.template),
        material.from_dict(evaluation.items[0]),
        Arm.parse("off"),
        evaluation.id,
    )
    spent = say(lost_copy, "The first replayed turn.")
    long_ago = timezone.now() - timedelta(hours=1)
    Evaluation.objects.filter(pk=evaluation.pk).update(
        status=EvaluationStatus.RUNNING, heartbeat_at=long_ago
    )

    # The clock sees it has stopped beating and hands it to a worker.
    assert services.recover_lost() == [evaluation.id]
    evaluation.refresh_from_db()
    assert evaluation.status == EvaluationStatus.QUEUED
    evaluation = drive(evaluation)

    assert evaluation.status == EvaluationStatus.COMPLETED
    assert not Agent.objects.filter(pk=lost_copy.pk).exists()
    assert evaluation.tokens_discarded == spent.prompt_tokens + spent.completion_tokens > 0
    organization = access_for(user).organization
    assert services.spend_rows(organization.pk, long_ago)[0]["total_tokens"] == (
        evaluation.tokens_used + evaluation.tokens_discarded
    )


def test_a_busy_worker_is_not_taken_over(user, agent, llm):
    evaluation = services.create_evaluation(
        user, agent_id=agent.id, material_spec=ARITHMETIC, arms=["off"]
    )
    Evaluation.objects.filter(pk=evaluation.pk).update(
        status=EvaluationStatus.RUNNING, heartbeat_at=timezone.now()
    )

    assert services.run_step(evaluation.id) == "skipped"
    assert services.recover_lost() == []
    assert llm.requests == []


def test_deleting_an_evaluation_deletes_its_kept_copies_but_not_while_it_runs(user, agent, llm):
    evaluation = services.create_evaluation(
        user, agent_id=agent.id, material_spec=ARITHMETIC, arms=["off"], keep_copies=True
    )
    with pytest.raises(Conflict):
        services.delete_evaluation(evaluation)
    drive(evaluation)
    assert Agent.objects.filter(evaluation_id=evaluation.id).exists()

    services.delete_evaluation(evaluation)

    assert not Evaluation.objects.filter(pk=evaluation.pk).exists()
    assert not Agent.objects.filter(evaluation_id=evaluation.id).exists()
    assert Run.objects.filter(primary_agent=agent, trigger=RunTrigger.MESSAGE).count() == 0
    assert Message.objects.filter(agent=agent, role=Role.USER).count() == 0


def test_the_organizations_spend_shows_each_evaluation_priced_by_its_models(
    user, agent, llm, settings
):
    settings.MODEL_PRICES = {TEST_MODEL: (2.0, 8.0)}
    evaluation = drive(
        services.create_evaluation(
            user, agent_id=agent.id, material_spec=ARITHMETIC, arms=["off"], keep_copies=True
        )
    )

    report = governor.organization_spend(user)

    (row,) = [row for row in report["days"] if row["agent_id"] == evaluation.id]
    assert row["total_tokens"] == evaluation.tokens_used > 0
    assert row["cost"] == pytest.approx(
        (row["prompt_tokens"] * 2.0 + row["completion_tokens"] * 8.0) / 1_000_000
    )
    # The kept copy's own runs are the evaluation's: not shown a second time.
    assert [r["agent_id"] for r in report["days"]] == [evaluation.id]
    # Without a price for its model, the money is unknown rather than nothing.
    settings.MODEL_PRICES = {}
    (unpriced,) = governor.organization_spend(user)["days"]
    assert unpriced["cost"] is None


def test_an_evaluations_copies_are_not_listed_with_the_organizations_agents(user, agent, llm, api):
    evaluation = drive(
        services.create_evaluation(
            user, agent_id=agent.id, material_spec=ARITHMETIC, arms=["on"], keep_copies=True
        )
    )
    copies = list(Agent.objects.filter(evaluation_id=evaluation.id))
    assert len(copies) == 2  # the copy and its sleep-time agent

    listed = [a["id"] for a in api.get("/v1/agents/").json()]

    assert listed == [agent.id]
    primary = next(c for c in copies if c.agent_type != AgentType.SLEEPTIME)
    assert api.get(f"/v1/agents/{primary.id}").json()["id"] == primary.id


def test_a_step_lost_again_and_again_fails_the_evaluation_instead_of_spending_for_ever(
    user, agent, llm
):
    evaluation = services.create_evaluation(
        user, agent_id=agent.id, material_spec=ARITHMETIC, arms=["off"]
    )
    long_ago = timezone.now() - timedelta(hours=1)
    # Every worker that took the step was lost with it (the queue's timeout, say).
    Evaluation.objects.filter(pk=evaluation.pk).update(
        status=EvaluationStatus.RUNNING, heartbeat_at=long_ago, attempts=services.MAX_ATTEMPTS
    )

    assert services.run_step(evaluation.id) == EvaluationStatus.FAILED
    evaluation.refresh_from_db()
    assert evaluation.status == EvaluationStatus.FAILED
    assert "lost with its worker 3 times" in evaluation.reason
    assert llm.requests == []
    # A person who shortened the material (or raised the timeout) resumes it.
    services.resume(evaluation)
    assert drive(evaluation).status == EvaluationStatus.COMPLETED
