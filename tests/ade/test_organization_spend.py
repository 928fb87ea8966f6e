"""The organization's spend page: what all its agents' background work spent per day and
per agent, its budgets with what is spent, and the form that sets them (admins only)."""

from __future__ import annotations

from django.urls import reverse

from accounts.models import Organization
from agents import runs, sleeptime
from agents.models import Run
from tests.agents.faults import pair, say
from tests.factories import build_team


def spend_page(client) -> str:
    response = client.get(reverse("agents:spend"))
    assert response.status_code == 200
    return response.content.decode()


def test_the_page_adds_up_every_agents_background_tokens(signed_in, make_agent, llm):
    first, _, _ = pair(make_agent, name="first")
    second, _, _ = pair(make_agent, name="second")
    for agent in (first, second):
        (run_id,) = say(agent, "I moved to Paris")
        runs.execute_run(run_id)
    spent = [r.prompt_tokens + r.completion_tokens for r in Run.objects.exclude(trigger="message")]
    assert all(spent)

    body = spend_page(signed_in)

    assert f"{sum(spent):,} tokens in 2 runs over 30 days" in body
    assert ">first</a>" in body and ">second</a>" in body


def test_an_admin_sets_the_organizations_budgets_and_a_run_over_them_is_skipped(
    signed_in, user, make_agent, llm
):
    primary, _, group = pair(make_agent)
    response = signed_in.post(
        reverse("agents:spend"), {"daily_token_budget": "10", "monthly_token_budget": ""}
    )
    assert response.status_code == 302
    organization = Organization.objects.get(memberships__user=user)
    assert (organization.daily_token_budget, organization.monthly_token_budget) == (10, None)
    assert "The organization, today" in spend_page(signed_in)

    (run,) = sleeptime.run_now(group)
    say(primary, "something new")
    runs.execute_run(run.id)
    run.refresh_from_db()
    assert run.outcome == "skipped"
    assert "organization's daily budget of 10 tokens" in run.outcome_reason


def test_a_bad_budget_shows_an_error_and_changes_nothing(signed_in, user):
    response = signed_in.post(reverse("agents:spend"), {"daily_token_budget": "0"})
    assert response.status_code == 400
    assert "Ensure this value is greater than or equal to 1" in response.content.decode()
    organization = Organization.objects.get(memberships__user=user)
    assert organization.daily_token_budget is None


def test_an_editor_sees_the_budgets_but_cannot_set_them(django_user_model):
    team = build_team(django_user_model)
    client = team.editor.browser
    body = spend_page(client)
    assert "Only an admin of the organization sets its budgets." in body
    response = client.post(reverse("agents:spend"), {"daily_token_budget": "5"})
    assert response.status_code == 400
    assert "your role there is editor" in response.content.decode()
    assert Organization.objects.get(pk=team.organization.pk).daily_token_budget is None


def test_an_evaluations_spend_is_a_row_of_its_own_linked_to_it(signed_in, user, make_agent, llm):
    from evaluation import services as evaluations

    agent = make_agent(name="measured")
    evaluation = evaluations.create_evaluation(
        user,
        agent_id=agent.id,
        material_spec={"kind": "arithmetic", "count": 1, "seed": 2},
        arms=["off"],
    )
    evaluations.run_step(evaluation.id)
    evaluation.refresh_from_db()
    assert evaluation.tokens_used > 0

    body = spend_page(signed_in)

    link = reverse("evaluation:detail", args=[evaluation.id])
    assert f'<a href="{link}">Evaluation {evaluation.id[11:19]}</a>' in body
    assert f"{evaluation.tokens_used:,} tokens in 1 run over 30 days" in body
