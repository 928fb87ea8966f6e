"""Custom tools and MCP servers through the official letta-client 0.1.x SDK (Fern), against
a live Reverie: the check runs from `tools_v0_checks.py` in `.venv-sdk0`; this side scripts
the fake model (and, for MCP, runs the repo's own MCP server, tests/toolbox/mcp_server.py)."""

from __future__ import annotations

from tests.sdk.v0 import run_v0_check
from tests.toolbox.conftest import mcp_http_url  # noqa: F401  (the MCP server, a fixture)


def test_a_custom_tool_made_with_the_0_1_sdk_runs_in_a_turn(live_server_url, api_key, llm):
    llm.tool_call("shout", {"text": "hello"})
    llm.tool_call("send_message", {"message": "HELLO!"})

    run_v0_check("tools_v0_checks.py", "custom_tool_in_a_turn", live_server_url, api_key)


def test_an_mcp_servers_tool_added_with_the_0_1_sdk_runs_in_a_turn(
    live_server_url, api_key, llm, request
):
    url = request.getfixturevalue("mcp_http_url")
    llm.tool_call("add", {"a": 2, "b": 3})
    llm.tool_call("send_message", {"message": "5"})

    run_v0_check("tools_v0_checks.py", "mcp_server_tools", live_server_url, api_key, url)
