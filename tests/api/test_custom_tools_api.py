"""`/v1/tools` for the organization's own tools, as Letta's SDKs call it: create from
source (the schema read from the signature and docstring), upsert, read, change, delete,
and attach to agents. Running them is tests/toolbox's; here nothing is run."""

from __future__ import annotations

from typing import Any

from django.test import Client

from accounts.services import create_api_key
from tests.factories import TEST_EMBEDDING, TEST_MODEL, make_user

ROLL = '''
import random


def roll(sides: int, times: int = 1, label: str | None = None) -> str:
    """Roll dice and say what came up.

    Args:
        sides (int): How many sides each die has.
        times: How many dice to roll.
        label: Printed before the result.
    """
    return ", ".join(str(random.randint(1, sides)) for _ in range(times))
'''


def create(api: Client, source: str = ROLL, **fields: Any) -> Any:
    return api.post(
        "/v1/tools/", {"source_code": source, **fields}, content_type="application/json"
    )


def new_agent(api: Client, **fields: Any) -> dict[str, Any]:
    response = api.post(
        "/v1/agents/",
        {"name": "tooled", "model": TEST_MODEL, "embedding": TEST_EMBEDDING, **fields},
        content_type="application/json",
    )
    assert response.status_code == 200, response.content
    return response.json()


def test_a_tool_made_from_source_has_the_schema_of_its_function(api):
    response = create(api, tags=["dice"])

    assert response.status_code == 200, response.content
    tool = response.json()
    assert tool["id"].startswith("tool-") and tool["name"] == "roll"
    assert tool["tool_type"] == "custom" and tool["source_type"] == "python"
    assert tool["description"] == "Roll dice and say what came up."
    assert tool["json_schema"] == {
        "name": "roll",
        "description": "Roll dice and say what came up.",
        "parameters": {
            "type": "object",
            "properties": {
                "sides": {"type": "integer", "description": "How many sides each die has."},
                "times": {"type": "integer", "description": "How many dice to roll."},
                "label": {"type": "string", "description": "Printed before the result."},
            },
            "required": ["sides"],
        },
    }
    assert tool["tags"] == ["dice"] and tool["return_char_limit"] == 6000
    assert api.get(f"/v1/tools/{tool['id']}").json() == tool
    assert tool in api.get("/v1/tools/", {"name": "roll"}).json()
    assert api.get("/v1/tools/", {"tool_types": "custom"}).json() == [tool]


def test_bad_source_and_names_taken_are_refused_with_the_reason(api):
    broken = create(api, "def roll(:\n    pass\n")
    assert broken.status_code == 400
    assert "not valid Python" in broken.json()["detail"] and "line 1" in broken.json()["detail"]
    assert "defines no function" in create(api, "x = 1\n").json()["detail"]
    assert "*args" in create(api, "def f(*args):\n    pass\n").json()["detail"]

    built_in = create(api, "def send_message(message: str) -> str:\n    return message\n")
    assert built_in.status_code == 409
    assert "built-in" in built_in.json()["detail"]
    assert create(api).status_code == 200
    again = create(api)
    assert again.status_code == 409 and "already exists" in again.json()["detail"]
    assert api.get("/v1/tools/", {"tool_types": "custom"}).json()[0]["name"] == "roll"


def test_upsert_replaces_the_tool_of_the_same_name(api):
    first = create(api).json()

    changed = api.put(
        "/v1/tools/",
        {"source_code": ROLL.replace("Roll dice and", "Throw dice and"), "tags": ["v2"]},
        content_type="application/json",
    )

    assert changed.status_code == 200, changed.content
    assert changed.json()["id"] == first["id"]
    assert changed.json()["description"].startswith("Throw dice")
    assert changed.json()["tags"] == ["v2"]


def test_a_given_schema_and_arguments_schema_win_over_the_derived_one(api):
    parameters = {
        "type": "object",
        "properties": {"sides": {"type": "integer", "minimum": 2}},
        "required": ["sides"],
    }
    tool = create(api, args_json_schema=parameters, description="Dice.").json()

    assert tool["json_schema"]["parameters"] == parameters
    assert tool["json_schema"]["description"] == "Dice."
    wrong = create(
        api, ROLL.replace("def roll", "def throw"), json_schema={"name": "nothing_like_it"}
    )
    assert wrong.status_code == 400
    assert "no function named 'nothing_like_it'" in wrong.json()["detail"]


def test_environment_values_are_never_shown_and_requirements_are_checked(api):
    tool = create(api, environment={"DICE_SEED": "s3cret-value"}).json()

    assert tool["environment_variables"] == ["DICE_SEED"]
    assert "s3cret-value" not in api.get(f"/v1/tools/{tool['id']}").content.decode()
    bad = api.patch(
        f"/v1/tools/{tool['id']}",
        {"pip_requirements": [{"name": "requests", "version": "--index-url http://evil"}]},
        content_type="application/json",
    )
    assert bad.status_code == 400 and "not a version" in bad.json()["detail"]
    good = api.patch(
        f"/v1/tools/{tool['id']}",
        {"pip_requirements": [{"name": "six", "version": "==1.16.0"}]},
        content_type="application/json",
    )
    assert good.json()["pip_requirements"] == [{"name": "six", "version": "==1.16.0"}]


def test_agents_take_tools_by_name_or_id_and_attach_and_detach_them(api):
    tool = create(api).json()
    by_name = new_agent(api, tools=["roll"])
    by_id = new_agent(api, tool_ids=[tool["id"]], include_base_tools=False)

    assert "roll" in [t["name"] for t in by_name["tools"]]
    assert [t["name"] for t in by_id["tools"]] == ["roll"]
    missing = api.post(
        "/v1/agents/",
        {"model": TEST_MODEL, "embedding": TEST_EMBEDDING, "tools": ["no_such_tool"]},
        content_type="application/json",
    )
    assert missing.status_code == 400 and "no_such_tool" in missing.json()["detail"]

    plain = new_agent(api)
    attached = api.patch(f"/v1/agents/{plain['id']}/tools/attach/{tool['id']}")
    assert attached.status_code == 200, attached.content
    assert "roll" in [t["name"] for t in attached.json()["tools"]]
    listed = api.get(f"/v1/agents/{plain['id']}/tools").json()
    assert listed[-1]["id"] == tool["id"]
    detached = api.patch(f"/v1/agents/{plain['id']}/tools/detach/{tool['id']}")
    assert "roll" not in [t["name"] for t in detached.json()["tools"]]
    assert api.patch(f"/v1/agents/{plain['id']}/tools/attach/tool-nope").status_code == 404


def test_renaming_or_deleting_a_tool_follows_through_to_its_agents(api):
    tool = create(api).json()
    agent = new_agent(
        api, tools=["roll"], tool_rules=[{"tool_name": "roll", "type": "continue_loop"}]
    )

    renamed = api.patch(
        f"/v1/tools/{tool['id']}",
        {"source_code": ROLL.replace("def roll", "def throw")},
        content_type="application/json",
    )
    assert renamed.json()["name"] == "throw"
    state = api.get(f"/v1/agents/{agent['id']}").json()
    assert "throw" in [t["name"] for t in state["tools"]]
    assert {"tool_name": "throw", "type": "continue_loop", "prompt_template": None} in (
        state["tool_rules"]
    )

    assert api.delete(f"/v1/tools/{tool['id']}").status_code == 200
    state = api.get(f"/v1/agents/{agent['id']}").json()
    assert "throw" not in [t["name"] for t in state["tools"]]
    assert all(rule["tool_name"] != "throw" for rule in state["tool_rules"])
    assert api.get(f"/v1/tools/{tool['id']}").status_code == 404


def test_another_organization_sees_none_of_the_tools(api):
    tool = create(api).json()
    _, key = create_api_key(make_user("stranger"))
    stranger = Client(headers={"Authorization": f"Bearer {key}"})

    assert stranger.get(f"/v1/tools/{tool['id']}").status_code == 404
    assert stranger.get("/v1/tools/", {"tool_types": "custom"}).json() == []
    assert stranger.delete(f"/v1/tools/{tool['id']}").status_code == 404
    refused = stranger.post(
        "/v1/agents/",
        {"model": TEST_MODEL, "embedding": TEST_EMBEDDING, "tool_ids": [tool["id"]]},
        content_type="application/json",
    )
    assert refused.status_code == 404
    # Its own tool of the same name is its own.
    assert create(stranger).status_code == 200
