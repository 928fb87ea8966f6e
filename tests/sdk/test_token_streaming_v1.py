"""Token streaming (`stream_tokens=True`) with the official letta-client 1.x SDK against
a live Reverie: the reply and the reasoning come in chunks that share the id of the
message they become, and listing the messages afterwards shows those ids."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

import pytest
from letta_client import Letta
from letta_client.types.agents.assistant_message import AssistantMessage
from letta_client.types.agents.reasoning_message import ReasoningMessage

from tests.factories import TEST_EMBEDDING, TEST_MODEL
from tests.llm_server import make_tool_call

REPLY = "Foxes are quick, dogs are lazy, and both are good company."


@pytest.fixture
def client(live_server_url: str, api_key: str) -> Letta:
    return Letta(base_url=live_server_url, api_key=api_key)


@pytest.fixture
def agent(client: Letta) -> Any:
    return client.agents.create(
        name="token-streamer",
        model=TEST_MODEL,
        embedding=TEST_EMBEDDING,
        memory_blocks=[{"label": "human", "value": "Name: Sam"}],
    )


def stream(client: Letta, agent: Any, text: str, **options: Any) -> list[Any]:
    return list(
        client.agents.messages.create(
            agent_id=agent.id,
            messages=[{"role": "user", "content": text}],
            streaming=True,
            **options,
        )
    )


def joined(chunks: Iterable[Any], kind: str) -> dict[str, str]:
    """What a client has after joining the chunks of `kind` by id, in order."""
    out: dict[str, str] = {}
    for chunk in chunks:
        if chunk.message_type == kind:
            piece = chunk.reasoning if kind == "reasoning_message" else chunk.content
            out[chunk.id] = out.get(chunk.id, "") + piece
    return out


def listed(client: Letta, agent: Any, kind: str) -> dict[str, str]:
    return {
        m.id: (m.reasoning if kind == "reasoning_message" else m.content)
        for m in client.agents.messages.list(agent.id)
        if m.message_type == kind
    }


def test_a_plain_answer_comes_in_chunks_of_one_id_that_add_up_to_the_stored_reply(
    client, agent, llm
):
    llm.reply(REPLY)
    chunks = stream(client, agent, "tell me", stream_tokens=True)

    replies = [c for c in chunks if c.message_type == "assistant_message"]
    assert len(replies) > 2 and len({c.id for c in replies}) == 1
    assert all(isinstance(c, AssistantMessage) for c in replies)  # typed, not a fallback
    assert joined(chunks, "assistant_message") == {replies[0].id: REPLY}
    assert listed(client, agent, "assistant_message") == {replies[0].id: REPLY}
    assert len({c.otid for c in replies}) == 1
    assert [c.message_type for c in chunks[-2:]] == ["stop_reason", "usage_statistics"]
    assert chunks[-2].stop_reason == "end_turn"
    assert llm.last_request["stream"] is True


def test_the_words_of_send_message_stream_and_tool_steps_come_whole(client, agent, llm):
    llm.tool_call("archival_memory_search", {"query": "foxes"}, content="Let me look.")
    llm.tool_call("send_message", {"message": REPLY + ' "Quoted", and a fox: 🦊.'})
    chunks = stream(client, agent, "foxes?", stream_tokens=True)

    kinds = [c.message_type for c in chunks]
    calls = [c for c in chunks if c.message_type == "tool_call_message"]
    returns = [c for c in chunks if c.message_type == "tool_return_message"]
    assert len(calls) == 1 and calls[0].tool_call.name == "archival_memory_search"
    assert json.loads(calls[0].tool_call.arguments) == {"query": "foxes"}
    assert len(returns) == 1 and returns[0].status == "success"
    # The reply streams in pieces after the tool's result, and is not sent whole again.
    last_step = kinds[kinds.index("tool_return_message") + 1 : -2]
    assert set(last_step) == {"assistant_message"} and len(last_step) > 2
    stored = listed(client, agent, "assistant_message")
    streamed = joined(chunks[kinds.index("tool_return_message") :], "assistant_message")
    assert streamed == stored
    assert list(stored.values()) == [REPLY + ' "Quoted", and a fox: 🦊.']


def test_a_reasoning_models_thinking_streams_as_reasoning_before_the_reply(client, agent, llm):
    thinking = "The user wants to know about foxes; I know they are quick."
    llm.reply(
        None,
        reasoning=thinking,
        tool_calls=[make_tool_call("send_message", {"message": REPLY})],
    )
    chunks = stream(client, agent, "foxes?", stream_tokens=True)

    thoughts = [c for c in chunks if c.message_type == "reasoning_message"]
    replies = [c for c in chunks if c.message_type == "assistant_message"]
    assert len(thoughts) > 2 and len(replies) > 2
    assert all(isinstance(c, ReasoningMessage) for c in thoughts)
    assert chunks.index(thoughts[-1]) < chunks.index(replies[0])
    assert joined(chunks, "reasoning_message") == listed(client, agent, "reasoning_message")
    assert joined(chunks, "reasoning_message") == {thoughts[0].id: thinking}
    assert joined(chunks, "assistant_message") == listed(client, agent, "assistant_message")
    # Two parts of one stored message: one id, each part its own otid, as listed.
    assert thoughts[0].id == replies[0].id
    listed_otids = {m.otid for m in client.agents.messages.list(agent.id) if m.id == replies[0].id}
    assert {thoughts[0].otid, replies[0].otid} == listed_otids
    assert thoughts[0].otid != replies[0].otid


def test_the_deprecated_stream_method_streams_tokens_too(client, agent, llm):
    llm.reply(REPLY)
    chunks = list(
        client.agents.messages.stream(
            agent_id=agent.id, messages=[{"role": "user", "content": "hi"}], stream_tokens=True
        )
    )
    replies = [c for c in chunks if c.message_type == "assistant_message"]
    assert len(replies) > 2 and "".join(c.content for c in replies) == REPLY


def test_without_stream_tokens_each_message_arrives_whole_once(client, agent, llm):
    llm.reply(REPLY)
    chunks = stream(client, agent, "tell me")

    assert [c.message_type for c in chunks] == [
        "assistant_message",
        "stop_reason",
        "usage_statistics",
    ]
    assert chunks[0].content == REPLY
    assert "stream" not in llm.last_request


def test_a_reply_that_breaks_off_ends_the_stream_with_the_error_and_is_not_stored(
    client, agent, llm
):
    llm.reply(REPLY)
    llm.break_stream(after=2)
    chunks = stream(client, agent, "tell me", stream_tokens=True)

    kinds = [c.message_type for c in chunks]
    assert kinds == [
        "assistant_message",
        "assistant_message",
        "error_message",
        "stop_reason",
        "usage_statistics",
    ]
    assert "".join(c.content for c in chunks[:2]) == REPLY[:16]
    assert "broke off" in chunks[2].message
    assert chunks[3].stop_reason == "error"
    # What was shown of the reply is not history: only the user's message was stored.
    assert [m.message_type for m in client.agents.messages.list(agent.id)] == ["user_message"]

    # The conversation goes on.
    llm.reply("Back.")
    again = stream(client, agent, "again", stream_tokens=True)
    assert joined(again, "assistant_message") != {} and again[-2].stop_reason == "end_turn"


def test_include_return_message_types_filters_the_chunks_too(client, agent, llm):
    llm.reply(REPLY, reasoning="Short thought here, long enough for pieces.")
    chunks = stream(
        client,
        agent,
        "hi",
        stream_tokens=True,
        include_return_message_types=["assistant_message"],
    )
    kinds = {c.message_type for c in chunks}
    assert kinds == {"assistant_message", "stop_reason", "usage_statistics"}
