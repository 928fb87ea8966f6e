"""The 1.x SDK's auto-pager over an agent's messages, against a live Reverie.

`client.agents.messages.list(...)` iterated asks for page after page (`after` the last
id) until one comes back empty. Stored messages that render to nothing (the return of
`send_message`) used to give an empty page in the middle of the history, and the pager
stopped with half of it.
"""

from __future__ import annotations

import pytest
from letta_client import Letta

from tests.factories import TEST_EMBEDDING, TEST_MODEL


@pytest.fixture
def client(live_server_url: str, api_key: str) -> Letta:
    return Letta(base_url=live_server_url, api_key=api_key)


def test_iterating_the_messages_yields_every_message_of_every_turn(client, llm):
    agent = client.agents.create(name="pager", model=TEST_MODEL, embedding=TEST_EMBEDDING)
    llm.tool_call("send_message", {"message": "Hello, Sam."}, content="A greeting.")
    llm.tool_call("conversation_search", {"query": "tea"}, content="Did we talk about tea?")
    llm.tool_call("send_message", {"message": "Not yet."})
    for text in ["Hi, I am Sam.", "Did I mention tea?"]:
        client.agents.messages.create(
            agent_id=agent.id, messages=[{"role": "user", "content": text}]
        )

    oldest_first = [
        (m.message_type, m.id) for m in client.agents.messages.list(agent.id, limit=1, order="asc")
    ]
    newest_first = [
        (m.message_type, m.id) for m in client.agents.messages.list(agent.id, limit=2, order="desc")
    ]

    assert [kind for kind, _ in oldest_first] == [
        "user_message",
        "reasoning_message",
        "assistant_message",
        "user_message",
        "reasoning_message",
        "tool_call_message",
        "tool_return_message",
        "assistant_message",
    ]
    whole = client.agents.messages.list(agent.id, limit=100, order="asc").items
    assert oldest_first == [(m.message_type, m.id) for m in whole]
    # Newest stored message first; the parts of one stay in their own order.
    stored = [[item for item in oldest_first if item[1] == id_] for id_ in _ids(oldest_first)]
    assert newest_first == [item for group in stored[::-1] for item in group]


def _ids(items: list[tuple[str, str]]) -> list[str]:
    return list(dict.fromkeys(id_ for _, id_ in items))
