"""The official letta-client 1.x SDK, unmodified, against a live Reverie."""

from __future__ import annotations

import pytest
from letta_client import AuthenticationError, BadRequestError, Letta, NotFoundError

from tests.factories import TEST_EMBEDDING, TEST_MODEL


@pytest.fixture
def client(live_server_url: str, api_key: str) -> Letta:
    return Letta(base_url=live_server_url, api_key=api_key)


@pytest.fixture
def agent(client: Letta):
    return client.agents.create(
        name="sdk-agent",
        model=TEST_MODEL,
        embedding=TEST_EMBEDDING,
        memory_blocks=[
            {"label": "human", "value": "Name: Sam", "limit": 100},
            {"label": "persona", "value": "You are a helpful assistant."},
        ],
    )


def test_a_new_agent_has_its_blocks_and_tools(client, agent):
    fetched = client.agents.retrieve(agent.id)
    assert fetched.name == "sdk-agent"
    assert sorted(block.label for block in fetched.blocks) == ["human", "persona"]
    assert "send_message" in [tool.name for tool in fetched.tools]
    assert fetched.llm_config.model == "gpt-4.1"


def test_chatting_returns_the_assistant_reply(client, agent, llm):
    response = client.agents.messages.create(
        agent_id=agent.id, messages=[{"role": "user", "content": "hello"}]
    )
    replies = [m for m in response.messages if m.message_type == "assistant_message"]
    assert [m.content for m in replies] == ["echo: hello"]
    assert response.stop_reason.stop_reason == "end_turn"
    assert response.usage.total_tokens > 0


def test_streaming_with_create_yields_messages_then_the_stop_reason(client, agent, llm):
    llm.tool_call("archival_memory_search", {"query": "cats"}, content="Let me look.")
    llm.tool_call("send_message", {"message": "Nothing about cats yet."})
    chunks = list(
        client.agents.messages.create(
            agent_id=agent.id, messages=[{"role": "user", "content": "cats?"}], streaming=True
        )
    )
    kinds = [chunk.message_type for chunk in chunks]
    assert kinds == [
        "reasoning_message",
        "tool_call_message",
        "tool_return_message",
        "assistant_message",
        "stop_reason",
        "usage_statistics",
    ]
    assert chunks[3].content == "Nothing about cats yet."


def test_the_deprecated_stream_method_works_too(client, agent, llm):
    chunks = list(
        client.agents.messages.stream(
            agent_id=agent.id, messages=[{"role": "user", "content": "yo"}]
        )
    )
    assert any(c.message_type == "assistant_message" and c.content == "echo: yo" for c in chunks)


def test_blocks_can_be_read_and_edited_by_label_and_by_id(client, agent):
    human = client.agents.blocks.retrieve("human", agent_id=agent.id)
    assert human.value == "Name: Sam"
    client.agents.blocks.update("human", agent_id=agent.id, value="Name: Sam\nLikes tea")
    assert client.blocks.retrieve(human.id).value == "Name: Sam\nLikes tea"
    client.blocks.update(human.id, value="Name: Samantha")
    assert client.agents.blocks.retrieve("human", agent_id=agent.id).value == "Name: Samantha"


def test_an_over_limit_block_edit_is_refused_and_changes_nothing(client, agent):
    with pytest.raises(BadRequestError) as refused:
        client.agents.blocks.update("human", agent_id=agent.id, value="x" * 101)
    assert "limit" in str(refused.value.body)
    assert client.agents.blocks.retrieve("human", agent_id=agent.id).value == "Name: Sam"


def test_a_block_shared_by_two_agents_lists_both(client, agent):
    other = client.agents.create(name="other", model=TEST_MODEL, embedding=TEST_EMBEDDING)
    human = client.agents.blocks.retrieve("human", agent_id=agent.id)
    client.agents.blocks.attach(human.id, agent_id=other.id)
    sharing = list(client.blocks.agents.list(human.id))
    assert sorted(a.id for a in sharing) == sorted([agent.id, other.id])


def test_archival_memory_can_be_inserted_listed_and_searched(client, agent):
    client.agents.passages.create(agent.id, text="The user's cat is called Miso.")
    client.agents.passages.create(agent.id, text="Quarterly revenue grew four percent.")
    assert len(client.agents.passages.list(agent.id)) == 2
    found = client.agents.passages.search(agent.id, query="what is the cat called")
    assert found.results[0].content == "The user's cat is called Miso."


def test_message_history_pages_through_every_message(client, agent, llm):
    for text in ["one", "two", "three"]:
        client.agents.messages.create(
            agent_id=agent.id, messages=[{"role": "user", "content": text}]
        )
    everything = list(client.agents.messages.list(agent.id, limit=2))
    users = [m.content for m in everything if m.message_type == "user_message"]
    assert users == ["one", "two", "three"]
    assert len({(m.id, m.otid) for m in everything}) == len(everything)


def test_a_wrong_api_key_is_a_401(live_server_url):
    with pytest.raises(AuthenticationError):
        Letta(base_url=live_server_url, api_key="rev-wrong").agents.list()


def test_another_users_agent_is_not_found(client, agent, live_server_url, django_db_blocker):
    from accounts.services import create_api_key, get_or_create_user

    with django_db_blocker.unblock():
        stranger, _ = get_or_create_user("stranger")
        _, key = create_api_key(stranger)
    with pytest.raises(NotFoundError):
        Letta(base_url=live_server_url, api_key=key).agents.retrieve(agent.id)


def test_a_turn_whose_model_is_down_ends_with_an_error_saying_why(client, agent, llm):
    llm.fail(status=503, message="overloaded", times=10)
    response = client.agents.messages.create(
        agent_id=agent.id, messages=[{"role": "user", "content": "anyone there?"}]
    )
    assert response.stop_reason.stop_reason == "error"
    errors = [m for m in response.messages if m.message_type == "error_message"]
    assert errors and "503" in errors[0].message and "overloaded" in errors[0].message

    llm.reset()
    again = client.agents.messages.create(
        agent_id=agent.id, messages=[{"role": "user", "content": "back?"}]
    )
    assert again.stop_reason.stop_reason == "end_turn"
    users = [
        m.content for m in client.agents.messages.list(agent.id) if m.message_type == "user_message"
    ]
    assert users == ["anyone there?", "back?"]


def test_a_streamed_turn_whose_model_is_down_reports_the_error_in_the_stream(client, agent, llm):
    llm.fail(status=500, message="boom", times=10)
    chunks = list(
        client.agents.messages.create(
            agent_id=agent.id, messages=[{"role": "user", "content": "hi"}], streaming=True
        )
    )
    kinds = [chunk.message_type for chunk in chunks]
    assert kinds == ["error_message", "stop_reason", "usage_statistics"]
    assert "boom" in chunks[0].message
    assert chunks[1].stop_reason == "error"
