"""Token streaming checks run with the official letta-client 0.1.x SDK (Fern), unmodified.

Like `v0_checks.py`, this runs inside `.venv-sdk0` (letta-client==0.1.324, no Django) and
imports only the SDK, the standard library and `v0_harness.py` beside it:

    .venv-sdk0/bin/python tests/sdk/token_streaming_v0_checks.py <base_url> <api_key> <check>

It runs one check, prints what it did, and exits 0 when every assertion holds.
`tests/sdk/test_token_streaming_v0.py` drives it from pytest and scripts the model.
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
)
from v0_harness import TEST_EMBEDDING, TEST_MODEL, Checks, say

# What the caller scripts the model to say (tests/sdk/test_token_streaming_v0.py).
REPLY = "Foxes are quick, dogs are lazy, and both are good company."
THINKING = "The user asks about foxes; I should look first."

check = Checks()


def make_agent(client: Letta) -> AgentState:
    agent = client.agents.create(
        name="sdk0-token-streamer",
        model=TEST_MODEL,
        embedding=TEST_EMBEDDING,
        memory_blocks=[{"label": "human", "value": "Name: Sam"}],
    )
    say(f"created agent {agent.id}")
    return agent


def text_of(content: object) -> str:
    if isinstance(content, list):
        return "".join(getattr(part, "text", "") or "" for part in content)
    return str(content)


def joined(chunks: list[object], kind: type) -> dict[str, str]:
    out: dict[str, str] = {}
    for chunk in chunks:
        if isinstance(chunk, kind):
            piece = chunk.reasoning if kind is ReasoningMessage else text_of(chunk.content)
            out[chunk.id] = out.get(chunk.id, "") + piece
    return out


@check
def streams_tokens(client: Letta, base_url: str) -> None:
    """Needs the model scripted: a reasoning model thinking THINKING, then calling
    archival_memory_search; then send_message(REPLY)."""
    agent = make_agent(client)
    chunks = list(
        client.agents.messages.create_stream(
            agent_id=agent.id, messages=[{"role": "user", "content": "foxes?"}], stream_tokens=True
        )
    )
    say(f"stream chunks: {[type(c).__name__ for c in chunks]}")
    kinds = [type(c) for c in chunks]
    assert ToolCallMessage in kinds and ToolReturnMessage in kinds, kinds
    assert kinds[-2:] == [LettaStopReason, LettaUsageStatistics], kinds[-2:]
    assert chunks[-2].stop_reason == "end_turn", chunks[-2]

    thoughts = [c for c in chunks if isinstance(c, ReasoningMessage)]
    replies = [c for c in chunks if isinstance(c, AssistantMessage)]
    assert len(thoughts) > 2, f"expected the reasoning in several chunks, got {thoughts!r}"
    assert len(replies) > 2, f"expected the reply in several chunks, got {replies!r}"
    assert kinds.index(ToolReturnMessage) < chunks.index(replies[0]), "reply before the tool"
    assert joined(chunks, ReasoningMessage) == {thoughts[0].id: THINKING}
    assert joined(chunks, AssistantMessage) == {replies[0].id: REPLY}

    history = client.agents.messages.list(agent_id=agent.id)
    listed = {
        (m.id, m.otid) for m in history if isinstance(m, (ReasoningMessage, AssistantMessage))
    }
    streamed = {(c.id, c.otid) for c in thoughts + replies}
    assert streamed == listed, f"streamed ids {streamed} vs listed {listed}"


if __name__ == "__main__":
    sys.exit(check.main(sys.argv))
