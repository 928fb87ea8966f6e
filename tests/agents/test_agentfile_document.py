"""Reading an Agent File (agents/agentfile/document.py, framework-free): what each part of
Letta's message and tool shapes becomes, and what a file Letta's server wrote may hold."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from agents.agentfile.document import AgentFileInvalid, agent_name, read

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "agentfiles" / "letta_sleeptime.af"
TYPES = ("memgpt_v2_agent", "letta_v1_agent", "sleeptime_agent")


def fixture() -> dict[str, Any]:
    return copy.deepcopy(json.loads(FIXTURE.read_text()))


def one_message(message: dict[str, Any]) -> Any:
    document = fixture()
    message = {"id": "message-99", "created_at": None, **message}
    document["agents"][0]["messages"].append(message)
    return read(document, agent_types=TYPES).agents[0].messages[-1]


def test_the_fixture_reads_with_its_references_resolved():
    document = read(fixture(), agent_types=TYPES)
    primary, sleeper = document.agents
    assert (primary.model, sleeper.model) == ("openai/gpt-4o-mini", "openai/gpt-4.1-mini")
    assert document.participants() == {"agent-1"}
    assert [group.frequency for group in document.groups] == [3]
    assert {tool.name: tool.builtin for tool in document.tools.values()}[
        "watering_schedule"
    ] is False
    assert document.tools["tool-4"].builtin  # Letta's web_search: its own, Reverie lacks it
    # The agent had a file of the source open: the source is attached to it.
    assert primary.source_ids == ["source-0"]


def test_a_summary_alert_gives_its_summary_and_other_messages_none():
    document = read(fixture(), agent_types=TYPES)
    by_id = {m.id: m for m in document.agents[0].messages}
    assert by_id["message-1"].summary == (
        "Priya introduced herself: she grows tomatoes and basil on a balcony in Lisbon. "
        "Juniper greeted her."
    )
    assert by_id["message-2"].summary is None


def test_content_parts_become_text_reasoning_tool_calls_and_returns():
    message = one_message(
        {
            "role": "assistant",
            "content": [
                {"type": "reasoning", "is_native": True, "reasoning": "Think.", "signature": "s"},
                {"type": "redacted_reasoning", "data": "xxx"},
                {
                    "type": "summarized_reasoning",
                    "id": "r",
                    "summary": [{"index": 0, "text": "Sum."}],
                },
                {"type": "text", "text": "Hello"},
                {"type": "image", "source": {"type": "url", "url": "https://example.com/a.png"}},
                {
                    "type": "tool_call",
                    "id": "call_1",
                    "name": "send_message",
                    "input": {"message": "hi"},
                },
            ],
        }
    )
    assert message.reasoning == "Think.\nSum."
    assert message.text == "Hello\n[image]"
    assert [(c.id, c.name, json.loads(c.arguments)) for c in message.tool_calls] == [
        ("call_1", "send_message", {"message": "hi"})
    ]


def test_a_tool_message_answering_several_calls_keeps_each_return():
    message = one_message(
        {
            "role": "tool",
            "content": [],
            "tool_returns": [
                {"tool_call_id": "a", "status": "success", "func_response": "one"},
                {
                    "tool_call_id": "b",
                    "status": "error",
                    "func_response": [{"type": "text", "text": "two"}],
                },
            ],
        }
    )
    assert [(r.tool_call_id, r.status, r.text) for r in message.tool_returns] == [
        ("a", "success", "one"),
        ("b", "error", "two"),
    ]


def test_the_legacy_function_role_is_a_tool_message():
    assert one_message({"role": "function", "content": "ok", "tool_call_id": "x"}).role == "tool"


def test_an_llm_config_without_a_handle_names_the_model_by_endpoint_type():
    document = fixture()
    document["agents"][0]["llm_config"]["handle"] = None
    document["agents"][0]["llm_config"]["model_endpoint_type"] = "anthropic"
    assert read(document, agent_types=TYPES).agents[0].model == "anthropic/gpt-4o-mini"


def test_a_json_string_in_a_tool_calls_arguments_or_an_object_both_read():
    message = one_message(
        {
            "role": "assistant",
            "content": [],
            "tool_calls": [
                {"id": "c", "type": "function", "function": {"name": "f", "arguments": {"a": 1}}}
            ],
        }
    )
    assert json.loads(message.tool_calls[0].arguments) == {"a": 1}


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("Juniper", "Juniper"),
        ("Évie the 🌱 bot", "Evie the bot"),
        ("Co/pilot", "Co-pilot"),
        ("", "imported-agent"),
        ("🌱", "imported-agent"),
    ],
)
def test_agent_names_are_made_of_what_reverie_accepts(name, expected):
    assert agent_name(name) == expected


def test_an_agent_that_manages_two_groups_is_refused():
    document = fixture()
    second = copy.deepcopy(document["groups"][0])
    second["id"] = "group-1"
    document["groups"].append(second)
    with pytest.raises(AgentFileInvalid) as refused:
        read(document, agent_types=TYPES)
    assert refused.value.message.startswith("groups[1].manager_config.manager_agent_id:")


def test_a_group_may_not_list_its_manager_among_its_sleeptime_agents():
    document = fixture()
    document["groups"][0]["agent_ids"].append("agent-0")
    with pytest.raises(AgentFileInvalid) as refused:
        read(document, agent_types=TYPES)
    assert refused.value.message == (
        "groups[0].agent_ids[1]: 'agent-0' manages this group; its sleep-time agents are the others"
    )
