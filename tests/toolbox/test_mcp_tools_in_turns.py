"""An MCP server's tool in an agent's turn: offered with the server's schema, called on
the server, its answer (or its error) read by the model; deleting the server takes the
tool from the agent. The repo's own MCP server (tests/toolbox/mcp_server.py)."""

from __future__ import annotations

import json
from typing import Any

from agents import services as agent_services
from agents.models import Agent, Message, Role
from tests.factories import say
from toolbox import mcp_servers


def register(user: Any, url: str) -> Any:
    return mcp_servers.create_mcp_server(
        user, "calc", mcp_servers.ServerConfig(server_type="streamable_http", server_url=url)
    )


def results(agent: Agent, name: str) -> list[tuple[str, str]]:
    rows = Message.objects.filter(agent=agent, role=Role.TOOL, tool_name=name).order_by("seq")
    return [(row.tool_status, json.loads(row.content)["message"]) for row in rows]


def test_the_model_calls_an_mcp_tool_and_reads_its_answer(make_agent, user, llm, mcp_http_url):
    server = register(user, mcp_http_url)
    add = mcp_servers.attach_mcp_tool(server, "add", user)
    fail = mcp_servers.attach_mcp_tool(server, "fail", user)
    agent = make_agent()
    agent_services.attach_tool(agent, add.id)
    agent = agent_services.attach_tool(agent, fail.id)
    llm.tool_call("add", {"a": 2, "b": 3})
    llm.tool_call("fail", {})
    llm.tool_call("send_message", {"message": "5, and the other one failed."})

    result = say(agent, "2+3?")

    assert result.stop_reason == "end_turn"
    offered = [tool["function"] for tool in llm.requests[-3]["tools"]]
    assert next(tool for tool in offered if tool["name"] == "add") == add.json_schema
    ((status, answer),) = results(agent, "add")
    assert status == "success" and answer.strip() == "5"
    ((status, answer),) = results(agent, "fail")
    assert status == "error" and answer


def test_deleting_the_server_takes_its_tools_from_agents(make_agent, user, llm, mcp_http_url):
    server = register(user, mcp_http_url)
    add = mcp_servers.attach_mcp_tool(server, "add", user)
    agent = agent_services.attach_tool(make_agent(), add.id)
    assert "add" in agent.tools

    mcp_servers.delete_mcp_server(server)

    agent.refresh_from_db()
    assert "add" not in agent.tools
