"""Tool rules over the API: every Letta rule type is taken with its fields and returned
as Letta returns it; a rule of no known shape is a 422, one about a tool the agent does
not have a 400, each saying what is wrong."""

from __future__ import annotations

from typing import Any

from tests.http import patch, post

MODEL = {"model": "openai/gpt-4.1-mini", "embedding": "openai/text-embedding-3-small"}


def create(api: Any, **body: Any) -> Any:
    return post(api, "/v1/agents", {**MODEL, **body})


def test_every_rule_type_is_stored_and_returned_in_lettas_shape(api):
    rules = [
        {"tool_name": "conversation_search", "type": "run_first"},
        {"tool_name": "conversation_search", "type": "constrain_child_tools",
         "children": ["send_message"]},
        {"tool_name": "archival_memory_search", "type": "conditional",
         "child_output_mapping": {"[]": "archival_memory_insert"}},
        {"tool_name": "core_memory_append", "type": "max_count_per_step", "max_count_limit": 2},
        {"tool_name": "archival_memory_search", "type": "parent_last_tool",
         "children": ["core_memory_replace"]},
        {"tool_name": "core_memory_append", "type": "required_before_exit"},
        {"tool_name": "archival_memory_insert", "type": "requires_approval"},
        {"tool_name": "send_message", "type": "exit_loop"},
        {"tool_name": "archival_memory_insert", "type": "continue_loop"},
    ]  # fmt: skip
    response = create(api, tool_rules=rules)
    assert response.status_code == 200, response.content
    agent = response.json()
    returned = api.get(f"/v1/agents/{agent['id']}").json()["tool_rules"]
    assert returned == agent["tool_rules"]
    # Each comes back with every field of its type, defaults filled in as Letta does.
    assert returned[0] == {
        "tool_name": "conversation_search",
        "type": "run_first",
        "prompt_template": None,
        "args": None,
    }
    assert returned[1]["child_arg_nodes"] is None
    assert returned[2] == {
        "tool_name": "archival_memory_search",
        "type": "conditional",
        "prompt_template": None,
        "default_child": None,
        "child_output_mapping": {"[]": "archival_memory_insert"},
        "require_output_mapping": False,
    }
    assert returned[3]["max_count_limit"] == 2
    assert [rule["type"] for rule in returned] == [rule["type"] for rule in rules]


def test_patch_replaces_the_rules_and_get_returns_the_new_ones(api):
    agent = create(api).json()
    assert {rule["type"] for rule in agent["tool_rules"]} == {"exit_loop", "continue_loop"}
    rules = [{"tool_name": "conversation_search", "type": "max_count_per_step",
              "max_count_limit": 1}]  # fmt: skip
    response = patch(api, f"/v1/agents/{agent['id']}", {"tool_rules": rules})
    assert response.status_code == 200, response.content
    expected = [{**rules[0], "prompt_template": None}]
    assert response.json()["tool_rules"] == expected
    assert api.get(f"/v1/agents/{agent['id']}").json()["tool_rules"] == expected
    cleared = patch(api, f"/v1/agents/{agent['id']}", {"tool_rules": []})
    assert cleared.json()["tool_rules"] == []


def test_an_unknown_rule_type_is_refused_with_the_known_ones(api):
    response = create(api, tool_rules=[{"tool_name": "send_message", "type": "sometimes"}])
    assert response.status_code == 422
    assert "unknown tool rule type 'sometimes'; one of conditional" in response.content.decode()


def test_a_rule_missing_or_misshaping_its_fields_is_refused(api):
    cases = [
        ({"tool_name": "send_message", "type": "constrain_child_tools"}, "needs children"),
        (
            {"tool_name": "send_message", "type": "parent_last_tool", "children": "core"},
            "must be a list of tool names",
        ),
        (
            {"tool_name": "send_message", "type": "max_count_per_step", "max_count_limit": 0},
            "must be a whole number from 1",
        ),
        (
            {"tool_name": "send_message", "type": "conditional", "child_output_mapping": {}},
            "must map at least one output",
        ),
        ({"tool_name": "send_message", "type": "exit_loop", "children": []}, "has no field"),
    ]
    for rule, message in cases:
        response = create(api, tool_rules=[rule])
        assert response.status_code == 422, rule
        assert message in response.content.decode(), (rule, response.content)


def test_a_rule_about_a_tool_the_agent_lacks_is_a_400_naming_it(api):
    response = create(
        api,
        tool_rules=[{"tool_name": "conversation_search", "type": "constrain_child_tools",
                     "children": ["memory_rethink"]}],
    )  # fmt: skip
    assert response.status_code == 400
    assert "names memory_rethink, not among the agent's tools" in response.content.decode()
    agent = create(api).json()
    response = patch(
        api,
        f"/v1/agents/{agent['id']}",
        {"tool_rules": [{"tool_name": "memory_finish_edits", "type": "exit_loop"}]},
    )
    assert response.status_code == 400
    assert "memory_finish_edits" in response.content.decode()
