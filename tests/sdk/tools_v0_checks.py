"""Custom-tool and MCP checks run with the official letta-client 0.1.x SDK (Fern),
unmodified, inside `.venv-sdk0`, as `sources_v0_checks.py` does:

    .venv-sdk0/bin/python tests/sdk/tools_v0_checks.py <base_url> <api_key> <check> [args...]

`tests/sdk/test_tools_v0.py` drives it, scripting the fake model and starting the MCP
server the checks register.
"""

from __future__ import annotations

import sys

from letta_client import Letta, StreamableHttpServerConfig
from v0_harness import TEST_EMBEDDING, TEST_MODEL, Checks, say

SOURCE = '''
def shout(text: str) -> str:
    """Say it louder.

    Args:
        text: What to say.
    """
    return text.upper() + "!"
'''

check = Checks()


@check
def custom_tool_in_a_turn(client: Letta, base_url: str) -> None:
    tool = client.tools.create(source_code=SOURCE, tags=["voice"])
    assert tool.name == "shout", tool
    assert tool.json_schema["parameters"]["required"] == ["text"], tool.json_schema
    again = client.tools.upsert(source_code=SOURCE.replace("louder", "much louder"))
    assert again.id == tool.id and again.description == "Say it much louder.", again
    agent = client.agents.create(name="loud", model=TEST_MODEL, embedding=TEST_EMBEDDING)
    client.agents.tools.attach(agent_id=agent.id, tool_id=tool.id)
    assert "shout" in [t.name for t in client.agents.retrieve(agent.id).tools]
    response = client.agents.messages.create(
        agent_id=agent.id, messages=[{"role": "user", "content": "shout hello"}]
    )
    returns = [m for m in response.messages if m.message_type == "tool_return_message"]
    assert [r.status for r in returns] == ["success"], returns
    assert "HELLO!" in returns[0].tool_return, returns
    client.agents.tools.detach(agent_id=agent.id, tool_id=tool.id)
    client.tools.delete(tool.id)
    say("custom tool made, attached, run, detached and deleted")


@check
def mcp_server_tools(client: Letta, base_url: str, mcp_url: str) -> None:
    client.tools.add_mcp_server(
        request=StreamableHttpServerConfig(server_name="calc", server_url=mcp_url)
    )
    assert "calc" in client.tools.list_mcp_servers()
    names = {tool.name for tool in client.tools.list_mcp_tools_by_server(mcp_server_name="calc")}
    assert "add" in names, names
    tool = client.tools.add_mcp_tool(mcp_server_name="calc", mcp_tool_name="add")
    assert tool.name == "add" and tool.tool_type == "external_mcp", tool
    agent = client.agents.create(name="calc", model=TEST_MODEL, embedding=TEST_EMBEDDING)
    client.agents.tools.attach(agent_id=agent.id, tool_id=tool.id)
    response = client.agents.messages.create(
        agent_id=agent.id, messages=[{"role": "user", "content": "2+3?"}]
    )
    returns = [m for m in response.messages if m.message_type == "tool_return_message"]
    assert [r.status for r in returns] == ["success"], returns
    assert "5" in returns[0].tool_return, returns
    client.tools.delete_mcp_server(mcp_server_name="calc")
    assert "add" not in [t.name for t in client.agents.retrieve(agent.id).tools]
    say("MCP server added, its tool added, attached and run, the server deleted")


if __name__ == "__main__":
    sys.exit(check.main(sys.argv))
