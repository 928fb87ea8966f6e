"""The Configuration panel of the agent page: its facts, the edit form behind "Edit", and
saving it, all or nothing."""

from __future__ import annotations

import json
from typing import Any

from django.urls import reverse

from agents.models import Agent
from agents.tools import TOOLS
from tests.ade import HTMX
from tests.factories import make_agent as build_agent


def config_url(agent: Agent) -> str:
    return reverse("agents:config", args=[agent.id])


def config_post(client: Any, agent: Agent, htmx: bool = False, **fields: Any) -> Any:
    """The form as the agent fills it, with `fields` typed over it."""
    data: dict[str, Any] = {
        "name": agent.name,
        "model": agent.llm_handle,
        "embedding": agent.embedding_handle,
        "context_window": str(agent.context_window),
        "description": agent.description,
        "system": agent.system,
        "tools": list(agent.tools),
        **fields,
    }
    return client.post(config_url(agent), data, **(HTMX if htmx else {}))


def saved_state(agent: Agent) -> tuple[Any, ...]:
    fresh = Agent.objects.get(pk=agent.pk)
    return (
        fresh.name,
        fresh.llm_handle,
        fresh.embedding_handle,
        fresh.context_window,
        fresh.system,
        list(fresh.tools),
    )


def test_the_page_shows_the_facts_and_an_edit_button(signed_in, make_agent):
    agent = make_agent(name="helper")
    body = signed_in.get(reverse("agents:detail", args=[agent.id])).content.decode()
    assert '<div id="config" class="config">' in body
    assert f'hx-get="{config_url(agent)}"' in body
    assert "<code>openai/gpt-4.1</code>" in body


def test_edit_answers_htmx_with_the_form_filled_in(signed_in, make_agent):
    agent = make_agent(name="helper")
    response = signed_in.get(config_url(agent), **HTMX)
    body = response.content.decode()
    assert response.status_code == 200
    assert body.lstrip().startswith('<div id="config"')
    assert "<html" not in body
    assert f'hx-post="{config_url(agent)}"' in body and f'action="{config_url(agent)}"' in body
    assert 'name="name" value="helper"' in body
    assert 'value="openai/gpt-4.1"' in body
    assert f'value="{agent.context_window}"' in body
    assert set(agent.tools) < set(TOOLS)  # so some boxes are left unchecked
    for number, name in enumerate(TOOLS):
        box = f'<input type="checkbox" name="tools" value="{name}" id="id_tools_{number}"'
        assert box + (" checked>" if name in agent.tools else ">") in body


def test_edit_without_htmx_is_the_whole_page_with_the_form(signed_in, make_agent):
    agent = make_agent()
    response = signed_in.get(config_url(agent))
    body = response.content.decode()
    assert response.status_code == 200
    assert "<html" in body and 'class="config-form"' in body


def test_valid_changes_are_saved_and_shown_in_place(signed_in, make_agent):
    agent = make_agent(name="helper")
    tools = [name for name in agent.tools if name != "send_message"]
    assert tools != list(agent.tools)

    response = config_post(
        signed_in,
        agent,
        htmx=True,
        name="renamed",
        system="You are terse.",
        tools=tools,
        context_window="8000",
    )

    body = response.content.decode()
    assert response.status_code == 200
    assert body.lstrip().startswith('<div id="config"')
    assert "Saved." in body and "<dd>renamed</dd>" in body and "8000 tokens" in body
    assert "<pre>You are terse.</pre>" in body
    assert "<code>send_message</code>" not in body
    agent.refresh_from_db()
    assert agent.name == "renamed"
    assert agent.system == "You are terse."
    assert agent.context_window == 8000
    assert sorted(agent.tools) == sorted(tools)


def test_a_plain_post_redirects_back_with_a_message(signed_in, make_agent):
    agent = make_agent()
    response = config_post(signed_in, agent, model="openai/gpt-4.1-mini")
    assert response.status_code == 302
    assert response["Location"] == reverse("agents:detail", args=[agent.id]) + "#config"
    agent.refresh_from_db()
    assert agent.llm_handle == "openai/gpt-4.1-mini"
    body = signed_in.get(response["Location"]).content.decode()
    assert "Saved the configuration." in body


def test_a_bad_model_handle_is_shown_in_place_and_nothing_is_saved(signed_in, make_agent):
    agent = make_agent(name="helper")
    before = saved_state(agent)

    response = config_post(signed_in, agent, htmx=True, name="renamed", model="nope")

    body = response.content.decode()
    assert response.status_code == 200  # htmx swaps 2xx answers only
    assert body.lstrip().startswith('<div id="config"')
    assert "Model handle &#x27;nope&#x27; must look like &#x27;provider/model-name&#x27;." in body
    assert 'value="nope"' in body and 'value="renamed"' in body  # kept for a correction
    # The name came before the handle in the same update; it went back with it.
    assert saved_state(agent) == before


def test_a_small_context_window_is_refused_on_the_whole_page(signed_in, make_agent):
    agent = make_agent()
    before = saved_state(agent)
    response = config_post(signed_in, agent, context_window="999", system="changed")
    body = response.content.decode()
    assert response.status_code == 400
    assert "<html" in body and "context_window must be at least 1000 tokens." in body
    assert saved_state(agent) == before


def test_an_unknown_tool_is_refused_and_nothing_is_saved(signed_in, make_agent):
    agent = make_agent()
    before = saved_state(agent)
    response = config_post(signed_in, agent, htmx=True, tools=["rm_rf"], name="renamed")
    body = response.content.decode()
    assert "rm_rf is not one of the available choices" in body
    assert saved_state(agent) == before


def test_another_persons_agent_is_not_found(signed_in, stranger):
    theirs = build_agent(stranger, name="theirs")
    before = saved_state(theirs)
    assert signed_in.get(config_url(theirs)).status_code == 404
    assert config_post(signed_in, theirs, name="mine").status_code == 404
    assert saved_state(theirs) == before


def test_a_script_in_the_system_prompt_is_escaped(signed_in, make_agent):
    agent = make_agent()
    script = "<script>alert(1)</script>"
    response = config_post(signed_in, agent, htmx=True, system=script, description=script)
    assert "<script>alert" not in response.content.decode()
    agent.refresh_from_db()
    assert agent.system == script
    for url in (reverse("agents:detail", args=[agent.id]), config_url(agent)):
        body = signed_in.get(url).content.decode()
        assert "<script>alert" not in body
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in body


def test_a_context_budget_is_set_shown_and_one_too_small_refused(signed_in, make_agent):
    agent = make_agent()

    response = config_post(signed_in, agent, htmx=True, context_token_budget="4000")

    assert response.status_code == 200
    assert Agent.objects.get(pk=agent.pk).context_token_budget == 4000
    assert "prompts kept under 4000" in response.content.decode()
    refused = config_post(signed_in, agent, context_token_budget="500", system="changed")
    assert refused.status_code == 400
    assert "context_token_budget is 0 (the model&#x27;s window) or at least 1000" in (
        refused.content.decode()
    )
    fresh = Agent.objects.get(pk=agent.pk)
    assert (fresh.context_token_budget, fresh.system) == (4000, agent.system)


def test_the_form_shows_the_tool_rules_and_saves_new_ones(signed_in, make_agent):
    agent = make_agent()
    form = signed_in.get(config_url(agent), **HTMX).content.decode()
    assert "Tool rules (JSON)" in form and "&quot;exit_loop&quot;" in form
    rules = [{"tool_name": "conversation_search", "type": "max_count_per_step",
              "max_count_limit": 2}]  # fmt: skip
    response = config_post(signed_in, agent, htmx=True, tool_rules=json.dumps(rules))
    assert response.status_code == 200
    assert Agent.objects.get(pk=agent.pk).tool_rules == [{**rules[0], "prompt_template": None}]


def test_an_empty_tool_rules_field_leaves_the_rules_as_they_are(signed_in, make_agent):
    agent = make_agent()
    config_post(signed_in, agent, htmx=True, tool_rules="", system="changed")
    fresh = Agent.objects.get(pk=agent.pk)
    assert fresh.system == "changed" and fresh.tool_rules == agent.tool_rules


def test_bad_tool_rules_are_shown_by_the_field_and_nothing_is_saved(signed_in, make_agent):
    agent = make_agent()
    cases = [
        ("[{", "This is not JSON"),
        ('{"tool_name": "send_message"}', "Give a JSON list of rules"),
        ('[{"tool_name": "send_message", "type": "often"}]', "unknown tool rule type"),
    ]
    for text, message in cases:
        response = config_post(signed_in, agent, htmx=True, tool_rules=text, system="changed")
        body = response.content.decode()
        assert 'id="id_tool_rules_error"' in body and message in body, text
    wrong_tool = json.dumps([{"tool_name": "memory_rethink", "type": "exit_loop"}])
    body = config_post(signed_in, agent, htmx=True, tool_rules=wrong_tool).content.decode()
    assert "memory_rethink, not among the agent&#x27;s tools" in body
    assert saved_state(agent) == saved_state(Agent.objects.get(pk=agent.pk))
    assert Agent.objects.get(pk=agent.pk).tool_rules == agent.tool_rules
