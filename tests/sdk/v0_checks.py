"""Checks run with the official letta-client 0.1.x SDK (Fern), unmodified, against a live Reverie.

This script runs inside `.venv-sdk0`, which holds `letta-client==0.1.324` and nothing else
(no Django), so it imports only the SDK, the standard library and `v0_harness.py`. Usage:

    .venv-sdk0/bin/python tests/sdk/v0_checks.py <base_url> <api_key> <check_name>

It runs one check, prints what it did, and exits 0 when every assertion holds. Any failure
prints the traceback and exits non-zero. `tests/sdk/test_letta_v0.py` drives it from pytest.
"""

from __future__ import annotations

import sys

from letta_client import (
    AgentState,
    AssistantMessage,
    Letta,
    LettaStopReason,
    LettaUsageStatistics,
    ReasoningMessage,
    ToolCallMessage,
    ToolReturnMessage,
    UserMessage,
)
from letta_client.core.api_error import ApiError
from v0_harness import TEST_EMBEDDING, TEST_MODEL, Checks, say

check = Checks()


def make_agent(client: Letta, name: str = "sdk0-agent") -> AgentState:
    agent = client.agents.create(
        name=name,
        model=TEST_MODEL,
        embedding=TEST_EMBEDDING,
        memory_blocks=[
            {"label": "human", "value": "Name: Sam", "limit": 100},
            {"label": "persona", "value": "You are a helpful assistant."},
        ],
    )
    assert isinstance(agent, AgentState), f"create returned {type(agent).__name__}: {agent!r}"
    assert agent.id, f"the created agent has no id: {agent!r}"
    say(f"created agent {agent.id}")
    return agent


def text_of(content: object) -> object:
    """A message's content as a string, whether it came as a string or as text parts."""
    if isinstance(content, list):
        return "".join(getattr(part, "text", "") or "" for part in content)
    return content


def assistant_texts(messages: list[object]) -> list[object]:
    return [text_of(m.content) for m in messages if isinstance(m, AssistantMessage)]


def describe(messages: list[object]) -> list[tuple[str, object, object]]:
    return [
        (type(m).__name__, getattr(m, "message_type", None), getattr(m, "id", None))
        for m in messages
    ]


# --- the checks ------------------------------------------------------------------------------


@check
def creates_an_agent(client: Letta, base_url: str) -> None:
    agent = make_agent(client)
    fetched = client.agents.retrieve(agent_id=agent.id)
    say(f"retrieved agent {fetched.id} named {fetched.name!r}")
    assert fetched.id == agent.id
    assert fetched.name == "sdk0-agent", f"name is {fetched.name!r}"
    assert fetched.system, "the agent has no system prompt"
    assert fetched.agent_type, "the agent has no agent_type"

    # The 0.1 AgentState has no top-level `blocks` field; its blocks live under `memory`.
    assert fetched.memory is not None, "AgentState.memory is required by the 0.1 SDK"
    labels = sorted(block.label for block in fetched.memory.blocks)
    assert labels == ["human", "persona"], f"memory.blocks labels are {labels}"
    human = next(block for block in fetched.memory.blocks if block.label == "human")
    assert human.value == "Name: Sam", f"human value is {human.value!r}"
    assert human.limit == 100, f"human limit is {human.limit!r}"

    tool_names = [tool.name for tool in fetched.tools]
    say(f"tools: {tool_names}")
    assert "send_message" in tool_names, f"no send_message tool in {tool_names}"

    assert fetched.llm_config is not None and fetched.llm_config.model == "gpt-4.1", (
        f"llm_config is {fetched.llm_config!r}"
    )
    assert fetched.embedding_config is not None, "embedding_config is required by the 0.1 SDK"
    assert fetched.embedding_config.embedding_model == "text-embedding-3-small", (
        f"embedding_config is {fetched.embedding_config!r}"
    )

    listed = [a.id for a in client.agents.list()]
    assert agent.id in listed, f"agents.list() gave {listed}"


@check
def chats(client: Letta, base_url: str) -> None:
    agent = make_agent(client)
    response = client.agents.messages.create(
        agent_id=agent.id, messages=[{"role": "user", "content": "hello"}]
    )
    say(f"string content -> {describe(response.messages)}")
    assert assistant_texts(response.messages) == ["echo: hello"], (
        f"expected one AssistantMessage 'echo: hello', got {describe(response.messages)}"
    )
    assert response.stop_reason is not None, "the response has no stop_reason"
    assert response.stop_reason.stop_reason == "end_turn", f"stop_reason {response.stop_reason!r}"
    assert response.usage is not None and (response.usage.total_tokens or 0) > 0, (
        f"usage is {response.usage!r}"
    )

    response = client.agents.messages.create(
        agent_id=agent.id,
        messages=[{"role": "user", "content": [{"type": "text", "text": "hi"}]}],
    )
    say(f"text-part content -> {describe(response.messages)}")
    assert assistant_texts(response.messages) == ["echo: hi"], (
        f"expected one AssistantMessage 'echo: hi', got {describe(response.messages)}"
    )
    assert response.stop_reason.stop_reason == "end_turn", f"stop_reason {response.stop_reason!r}"


@check
def streams(client: Letta, base_url: str) -> None:
    agent = make_agent(client)
    chunks = list(
        client.agents.messages.create_stream(
            agent_id=agent.id, messages=[{"role": "user", "content": "yo"}]
        )
    )
    say(f"stream chunks: {[type(c).__name__ for c in chunks]}")
    replies = [i for i, c in enumerate(chunks) if isinstance(c, AssistantMessage)]
    assert len(replies) == 1, f"expected one AssistantMessage chunk, got {describe(chunks)}"
    assert text_of(chunks[replies[0]].content) == "echo: yo", f"reply {chunks[replies[0]]!r}"

    tail = chunks[replies[0] + 1 :]
    assert [type(c) for c in tail] == [LettaStopReason, LettaUsageStatistics], (
        f"after the reply expected a stop reason then usage, got {describe(tail)}"
    )
    assert tail[0].stop_reason == "end_turn", f"stop reason chunk {tail[0]!r}"
    assert (tail[1].total_tokens or 0) > 0, f"usage chunk {tail[1]!r}"


@check
def streams_tool_steps(client: Letta, base_url: str) -> None:
    """Needs the model scripted by the caller: archival_memory_search("cats") with the
    thought "Let me look.", then send_message("Nothing about cats yet.")."""
    agent = make_agent(client)
    chunks = list(
        client.agents.messages.create_stream(
            agent_id=agent.id, messages=[{"role": "user", "content": "cats?"}]
        )
    )
    say(f"stream chunks: {describe(chunks)}")
    kinds = [type(c) for c in chunks]
    assert kinds == [
        ReasoningMessage,
        ToolCallMessage,
        ToolReturnMessage,
        AssistantMessage,
        LettaStopReason,
        LettaUsageStatistics,
    ], f"unexpected chunk sequence {describe(chunks)}"
    reasoning, call, result, reply = chunks[:4]
    assert reasoning.reasoning == "Let me look.", f"reasoning chunk {reasoning!r}"
    assert call.tool_call.name == "archival_memory_search", f"tool call chunk {call!r}"
    assert result.status == "success", f"tool return chunk {result!r}"
    assert result.tool_call_id == call.tool_call.tool_call_id, f"{result!r} vs {call!r}"
    assert text_of(reply.content) == "Nothing about cats yet.", f"reply chunk {reply!r}"


@check
def edits_blocks(client: Letta, base_url: str) -> None:
    agent = make_agent(client)
    human = client.agents.blocks.retrieve(agent_id=agent.id, block_label="human")
    say(f"human block {human.id}: {human.value!r}")
    assert human.value == "Name: Sam", f"human value is {human.value!r}"
    assert human.id, "the block has no id"

    edited = client.agents.blocks.modify(
        agent_id=agent.id, block_label="human", value="Name: Sam\nLikes tea"
    )
    assert edited.value == "Name: Sam\nLikes tea", f"modify by label returned {edited!r}"
    by_id = client.blocks.retrieve(block_id=human.id)
    assert by_id.value == "Name: Sam\nLikes tea", f"blocks.retrieve gave {by_id.value!r}"

    edited = client.blocks.modify(block_id=human.id, value="Name: Samantha")
    assert edited.value == "Name: Samantha", f"modify by id returned {edited!r}"
    again = client.agents.blocks.retrieve(agent_id=agent.id, block_label="human")
    assert again.value == "Name: Samantha", f"after modify by id, value is {again.value!r}"
    say("edited the block by label and by id")

    for attempt in ("by label", "by id"):
        try:
            if attempt == "by label":
                client.agents.blocks.modify(agent_id=agent.id, block_label="human", value="x" * 101)
            else:
                client.blocks.modify(block_id=human.id, value="x" * 101)
        except ApiError as error:
            say(f"over-limit edit {attempt} refused: {error.status_code} {error.body!r}")
            assert error.status_code == 400, f"expected 400, got {error.status_code}: {error.body}"
            assert "limit" in str(error.body), f"the error does not mention the limit: {error.body}"
        else:
            raise AssertionError(f"an over-limit edit {attempt} was accepted")
        value = client.blocks.retrieve(block_id=human.id).value
        assert value == "Name: Samantha", f"the refused edit {attempt} changed the value: {value!r}"


@check
def uses_archival_memory(client: Letta, base_url: str) -> None:
    agent = make_agent(client)
    cat = "The user's cat is called Miso."
    created = client.agents.passages.create(agent_id=agent.id, text=cat)
    assert isinstance(created, list) and created, f"passages.create returned {created!r}"
    assert created[0].text == cat, f"passages.create returned {created!r}"
    client.agents.passages.create(agent_id=agent.id, text="Quarterly revenue grew four percent.")

    passages = client.agents.passages.list(agent_id=agent.id)
    say(f"passages: {[p.text for p in passages]}")
    assert len(passages) == 2, f"expected 2 passages, got {passages!r}"

    found = client.agents.passages.search(agent_id=agent.id, query="what is the cat called")
    say(f"search results: {[r.content for r in found.results]}")
    assert found.results, f"the search found nothing: {found!r}"
    assert found.results[0].content == cat, f"the cat passage is not first: {found.results!r}"
    assert found.count == len(found.results), f"count {found.count} for {len(found.results)}"


@check
def lists_messages(client: Letta, base_url: str) -> None:
    agent = make_agent(client)
    for text in ["one", "two", "three"]:
        client.agents.messages.create(
            agent_id=agent.id, messages=[{"role": "user", "content": text}]
        )
    everything = client.agents.messages.list(agent_id=agent.id, limit=100)
    say(f"history: {describe(everything)}")
    assert isinstance(everything, list), f"messages.list returned {type(everything).__name__}"
    users = [text_of(m.content) for m in everything if isinstance(m, UserMessage)]
    assert users == ["one", "two", "three"], f"user messages are {users}"
    assert assistant_texts(everything) == ["echo: one", "echo: two", "echo: three"], (
        f"assistant messages are {assistant_texts(everything)}"
    )

    first = everything[0]
    # Several Letta messages can come from one stored message and share its id; `after`
    # skips all of them.
    skipped = 0
    while skipped < len(everything) and everything[skipped].id == first.id:
        skipped += 1
    rest = client.agents.messages.list(agent_id=agent.id, after=first.id, limit=100)
    say(f"after {first.id}: {describe(rest)}")
    expected = [(m.id, m.message_type) for m in everything[skipped:]]
    assert [(m.id, m.message_type) for m in rest] == expected, (
        f"after={first.id} gave {describe(rest)}, expected {expected}"
    )

    last = everything[-1]
    beyond = client.agents.messages.list(agent_id=agent.id, after=last.id, limit=100)
    assert beyond == [], f"after the last message expected [], got {describe(beyond)}"


@check
def refuses_a_wrong_token(client: Letta, base_url: str) -> None:
    for token in ("rev-wrong", None):
        stranger = Letta(base_url=base_url, token=token)
        try:
            stranger.agents.list()
        except ApiError as error:
            say(f"token {token!r}: {error.status_code} {error.body!r}")
            assert error.status_code == 401, f"expected 401, got {error.status_code}: {error.body}"
        else:
            raise AssertionError(f"agents.list() with token {token!r} succeeded")


@check
def shares_a_block(client: Letta, base_url: str) -> None:
    agent = make_agent(client)
    other = client.agents.create(name="other", model=TEST_MODEL, embedding=TEST_EMBEDDING)
    human = client.agents.blocks.retrieve(agent_id=agent.id, block_label="human")
    attached = client.agents.blocks.attach(agent_id=other.id, block_id=human.id)
    say(f"attached block {human.id} to {other.id}")
    assert attached is None or attached.id == other.id, f"attach returned {attached!r}"
    other_labels = [b.label for b in client.agents.blocks.list(agent_id=other.id)]
    assert "human" in other_labels, f"the other agent's blocks are {other_labels}"

    sharing = client.blocks.agents.list(block_id=human.id)
    say(f"agents sharing the block: {[a.id for a in sharing]}")
    assert sorted(a.id for a in sharing) == sorted([agent.id, other.id]), (
        f"blocks.agents.list gave {[a.id for a in sharing]}"
    )


if __name__ == "__main__":
    sys.exit(check.main(sys.argv))
