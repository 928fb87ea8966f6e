"""The official letta-client 0.1.x SDK (Fern), unmodified, against a live Reverie.

0.1.324 pins dependencies the main environment does not share, so it lives in its own
virtualenv (`.venv-sdk0`, created by `make test`). Each test runs one check from
`v0_checks.py` in that interpreter, against the live server, with a fresh user's key.
"""

from __future__ import annotations

from tests.sdk.v0 import run_v0_check


def run_check(name: str, live_server_url: str, api_key: str) -> None:
    run_v0_check("v0_checks.py", name, live_server_url, api_key)


def test_the_0_1_sdk_creates_and_retrieves_an_agent_with_its_blocks_and_tools(
    live_server_url, api_key, llm
):
    run_check("creates_an_agent", live_server_url, api_key)


def test_the_0_1_sdk_creates_an_agent_and_chats(live_server_url, api_key, llm):
    run_check("chats", live_server_url, api_key)


def test_the_0_1_sdk_streams_the_reply_then_the_stop_reason_and_usage(
    live_server_url, api_key, llm
):
    run_check("streams", live_server_url, api_key)


def test_the_0_1_sdk_streams_reasoning_and_tool_steps_as_typed_chunks(
    live_server_url, api_key, llm
):
    llm.tool_call("archival_memory_search", {"query": "cats"}, content="Let me look.")
    llm.tool_call("send_message", {"message": "Nothing about cats yet."})
    run_check("streams_tool_steps", live_server_url, api_key)


def test_the_0_1_sdk_edits_blocks_by_label_and_by_id_and_over_limit_edits_are_refused(
    live_server_url, api_key, llm
):
    run_check("edits_blocks", live_server_url, api_key)


def test_the_0_1_sdk_inserts_lists_and_searches_archival_memory(live_server_url, api_key, llm):
    run_check("uses_archival_memory", live_server_url, api_key)


def test_the_0_1_sdk_lists_message_history_and_pages_with_after(live_server_url, api_key, llm):
    run_check("lists_messages", live_server_url, api_key)


def test_the_0_1_sdk_gets_a_401_with_a_wrong_token(live_server_url, api_key, llm):
    run_check("refuses_a_wrong_token", live_server_url, api_key)


def test_the_0_1_sdk_lists_both_agents_sharing_a_block(live_server_url, api_key, llm):
    run_check("shares_a_block", live_server_url, api_key)
