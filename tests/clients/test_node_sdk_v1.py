"""Letta's node.js SDK 1.x (`@letta-ai/letta-client` 1.12.1), unmodified, on conversations
and Agent Files. `sdk_v1.mjs` makes the calls; this side scripts the model and checks what
a user of the SDK would see."""

from __future__ import annotations

from tests.clients.harness import Answered, client_env, node_script
from tests.factories import TEST_EMBEDDING, TEST_MODEL

QUESTION = "Plan a weekend in Lisbon."
ANSWER = "Day one: Alfama and the castle. Day two: Belem."


def run_mode(mode: str, live_server_url: str, api_key: str, home, workdir, access_log) -> dict:
    return node_script(
        "sdk_v1.mjs",
        mode,
        live_server_url,
        api_key,
        TEST_MODEL,
        TEST_EMBEDDING,
        QUESTION,
        env=client_env(live_server_url, api_key, home),
        cwd=workdir,
        log=access_log,
    )


def test_the_node_sdk_holds_two_conversations_of_one_agent_and_streams_a_turn_in_one(
    live_server_url, api_key, llm, home, workdir, access_log
):
    llm.reply(ANSWER)

    seen = run_mode("conversations", live_server_url, api_key, home, workdir, access_log)

    assert seen["firstAgentId"] == seen["agentId"], seen
    assert sorted(seen["listed"]) == sorted([seen["first"], seen["second"]]), seen
    assert seen["retrieved"] == {
        "id": seen["first"],
        "agentId": seen["agentId"],
        "summary": "Trip planning",
    }, seen
    assert seen["updatedSummary"] == seen["summaryAfterUpdate"] == "Lisbon trip", seen
    # The turn streamed: the reply, then how it ended, and which run it was.
    assert "".join(seen["streamedReplies"]) == ANSWER, seen
    assert "stop_reason" in seen["chunkTypes"], seen
    assert len(seen["runIds"]) == 1, seen
    # The conversation keeps the exchange; the other one has nothing of it.
    texts = [(m["type"], m["text"]) for m in seen["history"]]
    assert ("user_message", QUESTION) in texts and ("assistant_message", ANSWER) in texts, texts
    assert seen["otherHistory"] == [], seen
    assert seen["listedAfterDelete"] == [seen["first"]], seen
    assert seen["deletedStatus"] == 404, seen
    # The one refusal is the one asked for: the deleted conversation is gone.
    gone = Answered("GET", f"/v1/conversations/{seen['second']}", 404)
    assert access_log.failures() == [gone], access_log.describe()


def test_an_agent_file_exported_with_the_node_sdk_imports_as_the_same_agent(
    live_server_url, api_key, llm, home, workdir, access_log
):
    llm.reply(ANSWER)

    seen = run_mode("agent-files", live_server_url, api_key, home, workdir, access_log)

    assert seen["exportedAgents"] == ["agent-file-source"], seen
    assert ["human", "Name: Ada"] in seen["exportedBlocks"], seen
    assert len(seen["importedIds"]) == 1 and seen["importedIds"][0] != seen["agentId"], seen
    copy = seen["copy"]
    assert copy["blocks"] == [["human", "Name: Ada"], ["persona", "You are a helpful assistant."]]
    assert copy["system"] == seen["originalSystem"], copy
    assert copy["model"] == "gpt-4.1", copy
    texts = [(m["type"], m["text"]) for m in seen["copyHistory"]]
    assert ("user_message", QUESTION) in texts and ("assistant_message", ANSWER) in texts, texts
    assert access_log.failures() == [], access_log.describe()
