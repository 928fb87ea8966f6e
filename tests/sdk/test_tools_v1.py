"""Custom tools through the official letta-client 1.x SDK against a live Reverie: made
from source, found, changed, attached to an agent, called in its turn, deleted."""

from __future__ import annotations

import pytest
from letta_client import ConflictError, Letta, NotFoundError

from tests.factories import TEST_EMBEDDING, TEST_MODEL

SOURCE = '''
def shout(text: str) -> str:
    """Say it louder.

    Args:
        text: What to say.
    """
    return text.upper() + "!"
'''


@pytest.fixture
def client(live_server_url: str, api_key: str) -> Letta:
    return Letta(base_url=live_server_url, api_key=api_key)


def test_a_custom_tool_made_with_the_sdk_runs_in_an_agents_turn(client, llm):
    tool = client.tools.create(source_code=SOURCE, tags=["voice"])
    assert tool.name == "shout" and tool.tool_type == "custom"
    assert tool.json_schema["parameters"]["required"] == ["text"]
    assert [t.id for t in client.tools.list(name="shout")] == [tool.id]
    with pytest.raises(ConflictError):
        client.tools.create(source_code=SOURCE)
    upserted = client.tools.upsert(source_code=SOURCE.replace("louder", "much louder"))
    assert upserted.id == tool.id and upserted.description == "Say it much louder."

    agent = client.agents.create(name="loud", model=TEST_MODEL, embedding=TEST_EMBEDDING)
    client.agents.tools.attach(tool.id, agent_id=agent.id)
    assert "shout" in [t.name for t in client.agents.tools.list(agent_id=agent.id)]
    llm.tool_call("shout", {"text": "hello"})
    llm.tool_call("send_message", {"message": "HELLO!"})

    response = client.agents.messages.create(
        agent_id=agent.id, messages=[{"role": "user", "content": "shout hello"}]
    )

    returns = [m for m in response.messages if m.message_type == "tool_return_message"]
    assert [r.status for r in returns] == ["success"]
    assert "HELLO!" in returns[0].tool_return
    client.tools.delete(tool.id)
    with pytest.raises(NotFoundError):
        client.tools.retrieve(tool.id)
    assert "shout" not in [t.name for t in client.agents.retrieve(agent.id).tools]
