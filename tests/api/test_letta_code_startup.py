"""What Letta Code 0.25.9 sends at start-up, in its order and with its bodies, is accepted
(the table in Letta's clients reference): the key probe, the base tools, the agent with
Letta Code's fields (first with its server tools, refused in Letta's words, then without),
the model update and the agent read back with `include`s."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.factories import TEST_MODEL
from tests.http import patch, post

SYSTEM = "You are a coding agent working in the user's terminal. Be brief."


def create_body(tools: list[str]) -> dict[str, Any]:
    """Letta Code's createAgent body (src/agent/create.ts), with values of our own."""
    return {
        "agent_type": "letta_v1_agent",
        "system": SYSTEM,
        "name": "Letta Code",
        "description": "Letta Code agent created in /home/sam/project",
        "model": TEST_MODEL,
        "context_window_limit": 200000,
        "memory_blocks": [
            {
                "label": "persona",
                "value": "I'm a coding assistant.",
                "description": "Who I am and how I work.",
            },
            {
                "label": "human",
                "value": "Nothing known yet.",
                "description": "What I know about the person I work with.",
            },
        ],
        "tags": ["origin:letta-code"],
        "include_base_tools": False,
        "include_base_tool_rules": False,
        "initial_message_sequence": [],
        "parallel_tool_calls": True,
        "enable_sleeptime": False,
        "compaction_settings": {"model": "letta/auto"},
        "tools": tools,
    }


def test_letta_codes_start_up_requests_are_answered_and_make_its_agent(api):
    probe = api.get("/v1/agents/", {"limit": 1})
    base_tools = api.post("/v1/tools/add-base-tools")
    with_server_tools = post(api, "/v1/agents/", create_body(["web_search", "fetch_webpage"]))
    created = post(api, "/v1/agents/", create_body([]))
    agent_id = created.json()["id"]
    updated = patch(
        api,
        f"/v1/agents/{agent_id}",
        {
            "model": TEST_MODEL,
            "model_settings": {"provider_type": "openai", "parallel_tool_calls": True},
            "context_window_limit": 1047576,
        },
    )
    read = api.get(
        f"/v1/agents/{agent_id}",
        {"include": ["agent.secrets", "agent.tools", "agent.tags", "agent.managed_group"]},
    )

    assert probe.status_code == 200 and probe.json() == []
    assert base_tools.status_code == 200
    assert with_server_tools.status_code == 400
    # Letta Code recognises this wording and retries without its server tools.
    assert with_server_tools.json()["detail"].startswith(
        "Tools not found by name: {'web_search', 'fetch_webpage'}"
    )
    assert created.status_code == 200, created.content
    assert updated.status_code == 200, updated.content
    assert read.status_code == 200, read.content
    agent = read.json()
    assert agent["agent_type"] == "letta_v1_agent"
    assert agent["system"] == SYSTEM
    assert agent["name"] == "Letta Code"
    assert agent["tags"] == ["origin:letta-code"]
    assert agent["tools"] == [] and agent["tool_rules"] == []
    assert agent["enable_sleeptime"] is False and agent["managed_group"] is None
    assert agent["llm_config"]["context_window"] == 1047576
    assert {b["label"]: b["description"] for b in agent["memory"]["blocks"]} == {
        "persona": "Who I am and how I work.",
        "human": "What I know about the person I work with.",
    }
    assert agent["model_settings"]["parallel_tool_calls"] is True
    assert api.get(f"/v1/agents/{agent_id}/messages").json() == []
    assert [a["id"] for a in api.get("/v1/agents/", {"limit": 1}).json()] == [agent_id]


def test_model_settings_set_the_temperature_and_output_tokens(api):
    created = post(
        api,
        "/v1/agents/",
        {
            **create_body([]),
            "model_settings": {"provider_type": "openai", "temperature": 0.2},
        },
    ).json()

    updated = patch(
        api,
        f"/v1/agents/{created['id']}",
        {"model_settings": {"provider_type": "openai", "max_output_tokens": 4096}},
    ).json()

    assert created["llm_config"]["temperature"] == 0.2
    assert updated["llm_config"]["temperature"] == 0.2
    assert updated["llm_config"]["max_tokens"] == 4096
    assert updated["model_settings"]["max_output_tokens"] == 4096


def test_an_initial_message_sequence_becomes_the_start_of_the_history(api):
    body = {
        **create_body([]),
        "initial_message_sequence": [
            {"role": "user", "content": "We work on the parser."},
            {"role": "assistant", "content": [{"type": "text", "text": "Noted."}]},
        ],
    }

    agent = post(api, "/v1/agents/", body).json()

    history = api.get(f"/v1/agents/{agent['id']}/messages").json()
    assert [(m["message_type"], m["content"]) for m in history] == [
        ("user_message", "We work on the parser."),
        ("assistant_message", "Noted."),
    ]


@pytest.mark.django_db(transaction=True)
def test_letta_codes_agent_holds_a_turn_without_server_tools(api, llm):
    agent = post(api, "/v1/agents/", create_body([])).json()
    llm.reply("The parser lives in src/parse.ts.")

    response = post(
        api,
        f"/v1/agents/{agent['id']}/messages",
        {"messages": [{"role": "user", "content": "Where is the parser?"}]},
    )

    assert response.status_code == 200, response.content
    assert [m["content"] for m in response.json()["messages"]] == [
        "The parser lives in src/parse.ts."
    ]
    assert "tools" not in llm.last_request or not llm.last_request["tools"]
    assert llm.last_request["messages"][0]["content"].startswith(SYSTEM)


def test_a_malformed_initial_message_is_a_422_and_makes_no_agent(api):
    body = {**create_body([]), "initial_message_sequence": [{"role": "robot", "content": 1}]}

    response = api.post("/v1/agents/", data=json.dumps(body), content_type="application/json")

    assert response.status_code == 422
    assert api.get("/v1/agents/").json() == []
