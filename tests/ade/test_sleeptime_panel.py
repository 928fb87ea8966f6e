"""The sleep-time section of the agent page: its settings form, "Consolidate now", the
list of the latest runs, and dismissing insights."""

from __future__ import annotations

from typing import Any

from django.db import connection
from django.template.loader import render_to_string
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from agents import runs, sleeptime
from agents.loop import InputMessage
from agents.models import Agent, Group, Insight, Run
from agents.services import send_message
from tests.ade import HTMX
from tests.factories import make_agent as build_agent


def page(client: Any, agent: Agent) -> str:
    response = client.get(reverse("agents:detail", args=[agent.id]))
    assert response.status_code == 200
    return response.content.decode()


def settings_post(client: Any, agent: Agent, **fields: Any) -> Any:
    data = {"frequency": "5", "idle_seconds": "300", "model": "openai/gpt-4.1", **fields}
    if data.pop("enabled", True):
        data["enabled"] = "on"
    extra = HTMX if data.pop("htmx", False) else {}
    return client.post(reverse("agents:sleeptime", args=[agent.id]), data, **extra)


def group_of(agent: Agent) -> Group:
    group = sleeptime.group_of(agent)
    assert group is not None
    return group


def sleeper_model(agent: Agent) -> str | None:
    return sleeptime.sleeptime_model(group_of(agent))


def turn_and_run(agent: Agent, text: str) -> Run:
    """One turn that starts a run (frequency 1), executed as a worker would."""
    (run_id,) = send_message(agent, [InputMessage(role="user", content=text)]).run_ids or []
    runs.execute_run(run_id)
    return Run.objects.get(pk=run_id)


# --- Settings -----------------------------------------------------------------------------


def test_switching_sleeptime_on_creates_the_pair_with_the_settings_given(signed_in, make_agent):
    agent = make_agent(name="helper")
    assert sleeptime.group_of(agent) is None

    response = settings_post(
        signed_in, agent, frequency="3", idle_seconds="60", model="openai/gpt-4.1-mini"
    )

    assert response.status_code == 302
    assert response["Location"] == reverse("agents:detail", args=[agent.id]) + "#sleeptime"
    agent.refresh_from_db()
    assert agent.enable_sleeptime is True
    group = group_of(agent)
    assert group.sleeptime_agent_frequency == 3
    assert group.sleeptime_idle_seconds == 60
    assert sleeper_model(agent) == "openai/gpt-4.1-mini"
    body = page(signed_in, agent)
    assert "Saved the sleep-time settings." in body
    assert "every 3 turns" in body and "after 60 s" in body
    assert "helper-sleeptime" in body


def test_switching_sleeptime_off_pauses_it_and_keeps_the_pair(signed_in, make_agent):
    agent = make_agent(enable_sleeptime=True)
    response = settings_post(signed_in, agent, enabled=False, htmx=True)
    body = response.content.decode()
    assert response.status_code == 200
    agent.refresh_from_db()
    assert agent.enable_sleeptime is False
    assert group_of(agent).participants.count() == 1
    assert '<span class="badge paused">paused</span>' in body


def test_an_htmx_post_answers_with_the_section_alone(signed_in, make_agent):
    agent = make_agent(enable_sleeptime=True)
    response = settings_post(signed_in, agent, frequency="2", idle_seconds="0", htmx=True)
    body = response.content.decode()
    assert response.status_code == 200
    assert "<html" not in body
    assert body.lstrip().startswith('<div id="sleeptime"')
    assert "every 2 turns" in body
    assert "When quiet</dt>\n        <dd>off</dd>" in body
    assert "Saved." in body
    assert group_of(agent).sleeptime_agent_frequency == 2


def test_a_bad_model_handle_is_shown_in_place_and_nothing_is_saved(signed_in, make_agent):
    agent = make_agent(enable_sleeptime=True)
    response = settings_post(signed_in, agent, frequency="2", model="nope", htmx=True)
    body = response.content.decode()
    assert response.status_code == 200  # htmx swaps 2xx answers only
    assert body.lstrip().startswith('<div id="sleeptime"')
    assert "Model handle &#x27;nope&#x27; must look like &#x27;provider/model-name&#x27;." in body
    assert 'value="nope"' in body  # the typed value is kept for a correction
    group = group_of(agent)
    assert group.sleeptime_agent_frequency == 5
    assert sleeper_model(agent) == "openai/gpt-4.1"


def test_a_refused_first_switch_on_leaves_no_pair_behind(signed_in, make_agent):
    agent = make_agent()
    response = settings_post(signed_in, agent, model="nope")
    assert response.status_code == 400
    body = response.content.decode()
    assert "<html" in body
    assert "must look like" in body
    agent.refresh_from_db()
    assert not agent.enable_sleeptime
    assert sleeptime.group_of(agent) is None
    assert not Agent.objects.filter(name=f"{agent.name}-sleeptime").exists()


def test_a_negative_number_is_a_field_error_and_nothing_is_saved(signed_in, make_agent):
    agent = make_agent(enable_sleeptime=True)
    response = settings_post(signed_in, agent, frequency="-1", idle_seconds="10", htmx=True)
    body = response.content.decode()
    assert 'class="field has-error"' in body
    assert "greater than or equal to 0" in body
    assert group_of(agent).sleeptime_idle_seconds == 300


def test_another_persons_agent_cannot_be_configured(signed_in, stranger):
    theirs = build_agent(stranger, name="theirs")
    assert settings_post(signed_in, theirs).status_code == 404
    assert signed_in.post(reverse("agents:sleeptime_run", args=[theirs.id])).status_code == 404
    assert sleeptime.group_of(theirs) is None


# --- Consolidate now ----------------------------------------------------------------------


def test_consolidate_now_queues_a_manual_run_and_says_so(signed_in, make_agent):
    agent = make_agent(enable_sleeptime=True)
    response = signed_in.post(reverse("agents:sleeptime_run", args=[agent.id]), **HTMX)
    body = response.content.decode()
    (run,) = Run.objects.filter(primary_agent=agent)
    assert run.trigger == "manual" and run.status == "created"
    assert "Consolidation queued" in body
    assert f'href="{reverse("agents:run", args=[run.id])}"' in body


def test_consolidate_now_without_htmx_redirects_with_a_message(signed_in, make_agent):
    agent = make_agent(enable_sleeptime=True)
    response = signed_in.post(reverse("agents:sleeptime_run", args=[agent.id]), follow=True)
    (run,) = Run.objects.filter(primary_agent=agent, trigger="manual")
    assert f"Consolidation queued ({run.id})." in response.content.decode()


def test_consolidate_now_without_sleeptime_says_to_switch_it_on(signed_in, make_agent):
    agent = make_agent()
    response = signed_in.post(reverse("agents:sleeptime_run", args=[agent.id]), **HTMX)
    assert "turn sleep-time on first" in response.content.decode()
    assert not Run.objects.filter(primary_agent=agent).exists()


# --- The latest runs ----------------------------------------------------------------------


def test_the_page_lists_the_latest_runs_with_their_changes_and_tokens(signed_in, make_agent, llm):
    agent = make_agent(enable_sleeptime=True, blocks={"human": "Name: unknown"})
    (run_id,) = send_message(agent, [InputMessage(role="user", content="I am Ada")]).run_ids or []
    llm.sleeper.tool_call(
        "memory_replace", {"label": "human", "old_str": "Name: unknown", "new_str": "Name: Ada"}
    )
    runs.execute_run(run_id)
    run = Run.objects.get(pk=run_id)
    body = page(signed_in, agent)
    assert f'href="{reverse("agents:run", args=[run.id])}"' in body
    assert '<span class="badge run-completed">completed</span>' in body
    total = run.prompt_tokens + run.completion_tokens
    assert f"1 block changed, {total} tokens" in body


def test_the_page_costs_the_same_queries_for_one_and_five_runs(
    signed_in, make_agent, llm, django_assert_num_queries
):
    agent = make_agent(enable_sleeptime=True, sleeptime_agent_frequency=1)
    turn_and_run(agent, "first")
    with CaptureQueriesContext(connection) as captured:
        page(signed_in, agent)
    one = len(captured.captured_queries)
    for number in range(4):
        llm.sleeper.tool_call("memory_insert", {"label": "human", "new_str": f"fact {number}"})
        turn_and_run(agent, f"turn {number}")
    with django_assert_num_queries(one):
        body = page(signed_in, agent)
    # Each run is listed in the sleep-time panel and has its card in the chat.
    assert body.count('id="chat-run-') == 5
    assert body.count('href="/runs/') == 10


def test_only_the_ten_newest_runs_are_listed(signed_in, make_agent, llm):
    agent = make_agent(enable_sleeptime=True, sleeptime_agent_frequency=1)
    made = [turn_and_run(agent, f"turn {number}") for number in range(11)]
    body = page(signed_in, agent)
    panel = body[body.index('id="sleeptime"') : body.index('id="chat"')]
    assert panel.count('href="/runs/') == 10
    assert f"/runs/{made[0].id}/" not in panel
    assert panel.index(f"/runs/{made[10].id}/") < panel.index(f"/runs/{made[1].id}/")


# --- Insights -----------------------------------------------------------------------------


def make_insight(agent: Agent, title: str = "Ada moved") -> Insight:
    return Insight.objects.create(agent=agent, title=title, body="She lives in Paris now.")


def test_dismissing_an_insight_with_htmx_removes_its_card(signed_in, make_agent):
    agent = make_agent(enable_sleeptime=True)
    insight = make_insight(agent)
    url = reverse("agents:insight_dismiss", args=[agent.id, insight.id])
    body = page(signed_in, agent)
    assert f'hx-post="{url}"' in body
    assert "{#" not in body and "{%" not in body

    response = signed_in.post(url, **HTMX)

    assert response.status_code == 200 and response.content == b""
    insight.refresh_from_db()
    assert insight.dismissed_at is not None
    assert "Ada moved" not in page(signed_in, agent)


def test_dismissing_without_htmx_redirects_back(signed_in, make_agent):
    agent = make_agent()
    insight = make_insight(agent)
    response = signed_in.post(reverse("agents:insight_dismiss", args=[agent.id, insight.id]))
    assert response.status_code == 302
    assert response["Location"] == reverse("agents:detail", args=[agent.id]) + "#insights"
    insight.refresh_from_db()
    assert insight.dismissed_at is not None


def test_an_insight_of_another_agent_or_person_is_not_found(signed_in, make_agent, stranger):
    mine = make_agent(name="mine")
    other = make_agent(name="other")
    theirs = build_agent(stranger, name="theirs")
    for agent, insight in ((mine, make_insight(other)), (theirs, make_insight(theirs))):
        url = reverse("agents:insight_dismiss", args=[agent.id, insight.id])
        assert signed_in.post(url).status_code == 404
        insight.refresh_from_db()
        assert insight.dismissed_at is None


def test_the_live_insight_keeps_its_out_of_band_wrapper_and_its_dismiss_button(make_agent):
    agent = make_agent()
    insight = make_insight(agent, title="<script>alert(1)</script>")
    html = render_to_string("agents/partials/_insight.html", {"insight": insight, "oob": True})
    assert html.lstrip().startswith('<div hx-swap-oob="afterbegin:#insights">')
    assert html.rstrip().endswith("</div>")
    assert reverse("agents:insight_dismiss", args=[agent.id, insight.id]) in html
    assert "<script>alert" not in html
    assert "{%" not in html and "{#" not in html  # template comments stay comments


def test_the_recent_turns_kept_in_the_prompt_are_set_and_shown(signed_in, make_agent):
    agent = make_agent(enable_sleeptime=True)

    response = settings_post(signed_in, agent, tail_turns="3", htmx=True)

    assert Agent.objects.get(pk=agent.pk).context_tail_turns == 3
    assert "the last 3 turns once read, and a summary" in response.content.decode()
    off = settings_post(signed_in, agent, tail_turns="0", htmx=True)
    assert "every turn until the context is full" in off.content.decode()
    refused = settings_post(signed_in, agent, tail_turns="-1", htmx=True)
    assert "greater than or equal to 0" in refused.content.decode()
    assert Agent.objects.get(pk=agent.pk).context_tail_turns == 0
