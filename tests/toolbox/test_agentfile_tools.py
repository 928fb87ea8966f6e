"""An Agent File with a custom tool and tool rules imports, and its agent uses them: the
rules decide what the model is offered, the tool runs in the sandbox, its result comes
back. The file is written here in Letta's schema, as Letta's server exports one."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from agents.models import Agent, Message, Role
from tests.factories import TEST_EMBEDDING, TEST_MODEL, say
from toolbox.sandbox import available

SOURCE = '''
def lookup_order(order_id: str) -> str:
    """Look an order up.

    Args:
        order_id: The order's number, e.g. A-17.
    """
    import os
    return f"order {order_id}: shipped ({os.environ['SHOP']})"
'''


def agent_file() -> dict[str, Any]:
    model, embedding = TEST_MODEL.split("/", 1), TEST_EMBEDDING.split("/", 1)
    return {
        "agents": [
            {
                "id": "agent-0",
                "name": "shop-helper",
                "agent_type": "memgpt_v2_agent",
                "system": "You help with orders.",
                "llm_config": {
                    "model": model[1],
                    "model_endpoint_type": model[0],
                    "context_window": 32000,
                },
                "embedding_config": {
                    "embedding_model": embedding[1],
                    "embedding_endpoint_type": embedding[0],
                },
                "block_ids": [],
                "tool_ids": ["tool-0", "tool-1"],
                "tool_rules": [
                    {"tool_name": "lookup_order", "type": "run_first"},
                    {"tool_name": "send_message", "type": "exit_loop"},
                ],
                "messages": [],
                "in_context_message_ids": [],
            }
        ],
        "blocks": [],
        "tools": [
            {
                "id": "tool-0",
                "name": "send_message",
                "tool_type": "letta_core",
                "source_code": None,
            },
            {
                "id": "tool-1",
                "name": "lookup_order",
                "tool_type": "custom",
                "source_type": "python",
                "source_code": SOURCE,
                "tags": ["shop"],
                "return_char_limit": 50000,
            },
        ],
        "groups": [],
        "files": [],
        "sources": [],
        "mcp_servers": [],
    }


@pytest.fixture(autouse=True)
def _sandbox(settings: Any, tmp_path_factory: Any) -> None:
    settings.TOOL_ENVS_DIR = Path(tmp_path_factory.mktemp("agentfile-tool-envs"))
    settings.TOOL_SANDBOX = "bwrap"
    if available() is not None:
        pytest.fail(f"The sandbox does not work on this machine: {available()}")


def test_an_imported_agent_uses_its_custom_tool_as_its_rules_say(api, llm):
    upload = SimpleUploadedFile("shop.af", json.dumps(agent_file()).encode(), "application/json")
    response = api.post(
        "/v1/agents/import", {"file": upload, "secrets": json.dumps({"SHOP": "Corner Shop"})}
    )
    assert response.status_code == 200, response.content
    (agent_id,) = response.json()["agent_ids"]
    agent = Agent.objects.get(pk=agent_id)
    assert agent.tools == ["send_message", "lookup_order"]
    llm.tool_call("lookup_order", {"order_id": "A-17"})
    llm.tool_call("send_message", {"message": "Your order A-17 has shipped."})

    result = say(agent, "Where is my order A-17?")

    assert result.stop_reason == "end_turn"
    first, second = llm.requests[-2:]
    # run_first: the first step offers the custom tool alone, and makes the model call it.
    assert [tool["function"]["name"] for tool in first["tools"]] == ["lookup_order"]
    assert first["tool_choice"] == {"type": "function", "function": {"name": "lookup_order"}}
    assert {tool["function"]["name"] for tool in second["tools"]} == {
        "send_message",
        "lookup_order",
    }
    (answer,) = Message.objects.filter(agent=agent, role=Role.TOOL, tool_name="lookup_order")
    assert answer.tool_status == "success"
    assert json.loads(answer.content)["message"] == "order A-17: shipped (Corner Shop)"
