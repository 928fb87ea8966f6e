"""Conversations and turn runs through the official letta-client 1.x SDK, unmodified,
against a live Reverie: what Letta Code and Letta's SDK users send."""

from __future__ import annotations

from typing import Any

import pytest
from letta_client import BadRequestError, Letta, NotFoundError

from tests.factories import TEST_EMBEDDING, TEST_MODEL


@pytest.fixture
def client(live_server_url: str, api_key: str) -> Letta:
    return Letta(base_url=live_server_url, api_key=api_key)


@pytest.fixture
def agent(client: Letta) -> Any:
    return client.agents.create(
        name="threads",
        model=TEST_MODEL,
        embedding=TEST_EMBEDDING,
        memory_blocks=[{"label": "human", "value": ""}, {"label": "persona", "value": "kind"}],
    )


def kinds(chunks: list[Any]) -> list[str]:
    return [chunk.message_type for chunk in chunks]


def test_the_conversation_resource_round_trips(client, agent):
    made = client.conversations.create(agent_id=agent.id, summary="planning")
    assert made.id.startswith("conv-") and made.agent_id == agent.id

    assert client.conversations.retrieve(made.id).summary == "planning"
    client.conversations.update(made.id, description="trip to Oslo")
    assert client.conversations.retrieve(made.id).description == "trip to Oslo"
    listed = client.conversations.list(agent_id=agent.id)
    assert [c.id for c in listed] == [made.id]

    client.conversations.delete(made.id)
    with pytest.raises(NotFoundError):
        client.conversations.retrieve(made.id)


def test_a_streamed_turn_carries_its_run_which_the_sdk_can_read_back(client, agent, llm):
    conversation = client.conversations.create(agent_id=agent.id)
    llm.tool_call("conversation_search", {"query": "tea"}, content="Let me look.")
    llm.tool_call("send_message", {"message": "Nothing about tea yet."})

    chunks = list(
        client.conversations.messages.create(
            conversation.id, messages=[{"role": "user", "content": "tea?"}]
        )
    )
    assert kinds(chunks) == [
        "reasoning_message",
        "tool_call_message",
        "tool_return_message",
        "assistant_message",
        "stop_reason",
        "usage_statistics",
    ]
    run_ids = {chunk.run_id for chunk in chunks[:4]}
    assert len(run_ids) == 1 and None not in run_ids
    (run_id,) = run_ids
    assert chunks[-1].run_id == run_id

    run = client.runs.retrieve(run_id)
    assert run.status == "completed" and run.agent_id == agent.id
    from_run = list(client.runs.messages.list(run_id))
    assert kinds(from_run)[0] == "user_message"
    assert [m.id for m in from_run][1:] == [c.id for c in chunks[:4]]

    history = list(client.conversations.messages.list(conversation.id, order="asc"))
    assert [m.content for m in history if m.message_type == "assistant_message"] == [
        "Nothing about tea yet."
    ]
    # The agent's own history is another thread; the agent's list holds every thread.
    assert list(client.agents.messages.list(agent.id, conversation_id="default")) == []
    assert [m.id for m in client.agents.messages.list(agent.id)] == [m.id for m in history]


def test_a_background_turn_streams_and_a_dropped_stream_resumes(client, agent, llm):
    conversation = client.conversations.create(agent_id=agent.id)
    llm.tool_call("conversation_search", {"query": "x"}, content="Searching.")
    llm.tool_call("send_message", {"message": "Found nothing."})

    chunks = list(
        client.conversations.messages.create(
            conversation.id, messages=[{"role": "user", "content": "find x"}], background=True
        )
    )
    assert kinds(chunks)[-2:] == ["stop_reason", "usage_statistics"]
    call = next(c for c in chunks if c.message_type == "tool_call_message")

    resumed = list(
        client.conversations.messages.stream(conversation.id, starting_after=call.seq_id)
    )
    assert kinds(resumed) == [
        "tool_return_message",
        "assistant_message",
        "stop_reason",
        "usage_statistics",
    ]
    assert resumed[1].content == "Found nothing."
    by_run = list(client.runs.messages.stream(call.run_id, starting_after=0))
    assert [c.id for c in by_run[:-2]] == [c.id for c in chunks[:-2]]
    assert client.runs.retrieve(call.run_id).background is True


def test_the_default_conversation_needs_the_agents_id(client, agent, llm):
    chunks = client.conversations.messages.create(
        "default", agent_id=agent.id, messages=[{"role": "user", "content": "hello"}]
    )
    assert [m.content for m in chunks if m.message_type == "assistant_message"] == ["echo: hello"]
    own = list(client.agents.messages.list(agent.id))
    assert [m.content for m in own if m.message_type == "user_message"] == ["hello"]

    with pytest.raises(BadRequestError, match="agent_id"):
        client.conversations.messages.create("default", messages=[{"role": "user", "content": "x"}])


def test_a_client_tool_goes_through_the_approval_flow(client, agent, llm):
    conversation = client.conversations.create(agent_id=agent.id)
    shell = {
        "name": "ShellCommand",
        "description": "Run a shell command on the user's machine.",
        "parameters": {"type": "object", "properties": {"command": {"type": "string"}}},
    }
    llm.tool_call("ShellCommand", {"command": "cat note.txt"})
    chunks = list(
        client.conversations.messages.create(
            conversation.id,
            messages=[{"role": "user", "content": "read note.txt"}],
            client_tools=[shell],
        )
    )
    (request,) = [c for c in chunks if c.message_type == "approval_request_message"]
    assert request.tool_call.name == "ShellCommand"
    assert [c.stop_reason for c in chunks if c.message_type == "stop_reason"] == [
        "requires_approval"
    ]

    llm.tool_call("send_message", {"message": "It says marmalade."})
    answer = {
        "type": "tool",
        "tool_call_id": request.tool_call.tool_call_id,
        "tool_return": "marmalade",
        "status": "success",
    }
    rest = list(
        client.conversations.messages.create(
            conversation.id,
            messages=[{"type": "approval", "approvals": [answer]}],
            client_tools=[shell],
        )
    )
    assert kinds(rest)[:2] == ["tool_return_message", "assistant_message"]
    assert rest[1].content == "It says marmalade."
