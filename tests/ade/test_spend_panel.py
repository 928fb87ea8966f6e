"""Cost in the sleep-time panel: background tokens per day as a chart with its numbers,
money where the model is priced, the budgets with what is spent, the agent's budget
form, pausing and resuming, and the back-off of quiet runs."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from django.test import Client
from django.urls import reverse

from agents import runs, sleeptime
from agents.models import Agent, Group, Run
from tests.ade import HTMX
from tests.factories import pair, say


def page(client: Client, agent: Agent) -> str:
    response = client.get(reverse("agents:detail", args=[agent.id]))
    assert response.status_code == 200
    return response.content.decode()


def today() -> str:
    return datetime.now(UTC).date().isoformat()


def finished_turn_run(agent: Agent, text: str) -> Run:
    (run_id,) = say(agent, text).run_ids or []
    assert runs.execute_run(run_id) == "completed"
    return Run.objects.get(pk=run_id)


def budget_post(client: Client, agent: Agent, daily: str, monthly: str, **extra: Any) -> Any:
    data = {"daily_token_budget": daily, "monthly_token_budget": monthly}
    return client.post(reverse("agents:sleeptime_budget", args=[agent.id]), data, **extra)


def test_the_chart_shows_todays_background_tokens_and_their_cost(
    signed_in, make_agent, llm, settings
):
    settings.MODEL_PRICES = {"openai/gpt-4.1": (2.0, 8.0)}
    primary, _, group = pair(make_agent, sleeptime_agent_frequency=1)
    first = finished_turn_run(primary, "I am Ada")
    second = finished_turn_run(primary, "I like tea")
    skipped = runs.record_skipped(group, "turn", "sleep-time is paused for this agent")
    tokens = sum(r.prompt_tokens + r.completion_tokens for r in (first, second, skipped))
    assert tokens > 0
    dollars = sum(
        (r.prompt_tokens * 2.0 + r.completion_tokens * 8.0) / 1_000_000 for r in (first, second)
    )

    body = page(signed_in, primary)

    bars = re.findall(r'<rect class="spend-bar"[^>]*data-date="([^"]+)"', body)
    assert len(bars) == 30 and bars[-1] == today()
    assert f'data-date="{today()}" data-tokens="{tokens}"' in body
    assert f"<title>{today()}: {tokens:,} tokens in 3 runs, ${dollars:.4f}</title>" in body
    row = re.search(rf'<tr id="spend-{today()}">(.*?)</tr>', body)
    assert row is not None
    assert f'<td class="num">3</td><td class="num">{tokens:,}</td>' in row.group(1)
    assert f"${dollars:.4f}" in row.group(1)


def test_without_a_price_the_chart_shows_tokens_only(signed_in, make_agent, llm, settings):
    settings.MODEL_PRICES = {}
    primary, _, _ = pair(make_agent, sleeptime_agent_frequency=1)
    run = finished_turn_run(primary, "I am Ada")

    body = page(signed_in, primary)

    tokens = run.prompt_tokens + run.completion_tokens
    assert f"<title>{today()}: {tokens:,} tokens in 1 run</title>" in body
    assert "$" not in body.split('class="spend"', 1)[1].split("</section>", 1)[0]


def test_the_budget_form_saves_blank_removes_and_bad_input_changes_nothing(signed_in, make_agent):
    primary, _, group = pair(make_agent)

    saved = budget_post(signed_in, primary, "20000", "", **HTMX)
    assert "Saved the token budgets." in saved.content.decode()
    group.refresh_from_db()
    assert (group.daily_token_budget, group.monthly_token_budget) == (20000, None)
    body = page(signed_in, primary)
    assert "This agent, today" in body and "0 of 20,000 tokens" in body
    assert 'name="daily_token_budget" value="20000"' in body

    refused = budget_post(signed_in, primary, "0", "500000", **HTMX).content.decode()
    assert "Ensure this value is greater than or equal to 1." in refused
    group.refresh_from_db()
    assert (group.daily_token_budget, group.monthly_token_budget) == (20000, None)

    budget_post(signed_in, primary, "", "")
    group.refresh_from_db()
    assert (group.daily_token_budget, group.monthly_token_budget) == (None, None)
    assert "No token budget holds for this agent." in page(signed_in, primary)


def test_pausing_records_triggers_as_skipped_and_resuming_runs_again(signed_in, make_agent, llm):
    primary, _, group = pair(make_agent, sleeptime_agent_frequency=1)
    url = reverse("agents:sleeptime_pause", args=[primary.id])

    paused = signed_in.post(url, {"paused": "1"}, **HTMX).content.decode()
    assert "Paused: triggers are recorded as skipped until you resume." in paused
    assert '<button type="submit" class="button">Resume</button>' in paused
    group.refresh_from_db()
    assert group.paused
    say(primary, "I am Ada")
    skipped = Run.objects.background().get(primary_agent=primary)
    assert (skipped.outcome, skipped.outcome_reason) == (
        "skipped",
        "sleep-time is paused for this agent",
    )

    response = signed_in.post(url, {"paused": "0"})
    assert response.status_code == 302
    group.refresh_from_db()
    assert not group.paused
    assert '<button type="submit" class="button">Pause</button>' in page(signed_in, primary)


def test_the_panel_shows_the_back_off_of_quiet_runs(signed_in, make_agent, settings):
    settings.SLEEPTIME_BACKOFF_MAX = 8
    primary, _, group = pair(make_agent)
    assert "<dt>Back-off</dt>\n        <dd>none</dd>" in page(signed_in, primary)

    Group.objects.filter(pk=group.pk).update(quiet_runs=2)

    body = page(signed_in, primary)
    assert "2 quiet runs in a row: triggered runs wait 4\N{MULTIPLICATION SIGN} as long" in body


def test_a_primary_without_sleeptime_has_no_budget_or_pause_controls(signed_in, make_agent):
    agent = make_agent(name="solo")
    assert sleeptime.group_of(agent) is None

    body = page(signed_in, agent)

    assert "Save budgets" not in body and ">Pause</button>" not in body
    refused = budget_post(signed_in, agent, "100", "", **HTMX).content.decode()
    assert "turn sleep-time on first" in refused
