"""Token streaming (`stream_tokens=True`) with the official letta-client 0.1.x SDK (Fern):
its `create_stream` parses the chunks into typed messages that join by id into the
stored ones. The check runs in `.venv-sdk0` (`token_streaming_v0_checks.py`)."""

from __future__ import annotations

from tests.llm_server import make_tool_call
from tests.sdk.v0 import run_v0_check

REPLY = "Foxes are quick, dogs are lazy, and both are good company."
THINKING = "The user asks about foxes; I should look first."


def test_the_0_1_sdk_streams_reasoning_and_the_reply_in_chunks_with_the_stored_ids(
    live_server_url, api_key, llm
):
    llm.reply(
        None,
        reasoning=THINKING,
        tool_calls=[make_tool_call("archival_memory_search", {"query": "fox"})],
    )
    llm.tool_call("send_message", {"message": REPLY})
    run_v0_check("token_streaming_v0_checks.py", "streams_tokens", live_server_url, api_key)
