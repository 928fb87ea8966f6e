"""The governance fields through the official letta-client 1.x SDK against a live server:
what Letta's calls carry (a run list, a block update) shows Reverie's extra fields, and
the routes Letta does not have are raw calls of the same client.

No worker runs here: a paused agent's trigger is recorded as a skipped run during the
turn, so nothing is left queued for later tests.
"""

from __future__ import annotations

from typing import Any

import pytest
from letta_client import Letta

from tests.factories import TEST_EMBEDDING, TEST_MODEL


@pytest.fixture
def client(live_server_url: str, api_key: str) -> Letta:
    return Letta(base_url=live_server_url, api_key=api_key)


def create_pair(client: Letta) -> Any:
    return client.agents.create(
        name="pal",
        model=TEST_MODEL,
        embedding=TEST_EMBEDDING,
        memory_blocks=[{"label": "human", "value": "Name: ?"}],
        enable_sleeptime=True,
        extra_body={"sleeptime_agent_frequency": 1},
    )


def test_a_paused_agents_turn_is_a_skipped_run_the_sdk_lists_by_outcome(client):
    agent = create_pair(client)
    group_id = agent.multi_agent_group.id

    paused = client.post(f"/v1/groups/{group_id}/pause", cast_to=object)
    client.agents.messages.create(
        agent_id=agent.id, messages=[{"role": "user", "content": "I am Ada"}]
    )

    assert paused["paused"] is True
    [run] = client.runs.list(
        agent_id=agent.id, background=True, extra_query={"outcome": "skipped"}
    ).items
    assert (run.status, run.outcome, run.trigger) == ("completed", "skipped", "turn")
    assert run.outcome_reason == "sleep-time is paused for this agent"
    assert client.runs.list(agent_id=agent.id, extra_query={"outcome": "applied"}).items == []
    assert client.runs.retrieve(run.id).outcome == "skipped"
    ledger = client.get(f"/v1/agents/{agent.id}/ledger", cast_to=object)
    assert [entry["id"] for entry in ledger] == [run.id]
    resumed = client.post(f"/v1/groups/{group_id}/resume", cast_to=object)
    assert resumed["paused"] is False


def test_a_blocks_policy_is_set_and_read_through_the_sdks_block_calls(client):
    agent = client.agents.create(
        name="careful",
        model=TEST_MODEL,
        embedding=TEST_EMBEDDING,
        memory_blocks=[{"label": "rules", "value": "Be kind.", "policy": "review"}],
    )
    assert agent.blocks[0].policy == "review"

    updated = client.agents.blocks.update(
        "rules", agent_id=agent.id, extra_body={"policy": "auto", "deletion_budget": 0.1}
    )

    assert (updated.policy, updated.deletion_budget) == ("auto", 0.1)
    block = client.agents.blocks.retrieve("rules", agent_id=agent.id)
    assert (block.policy, block.deletion_budget, block.read_only) == ("auto", 0.1, False)


def test_budgets_and_spend_through_the_sdks_raw_calls(client):
    agent = create_pair(client)

    group = client.patch(
        f"/v1/groups/{agent.multi_agent_group.id}",
        cast_to=object,
        body={"daily_token_budget": 5000},
    )
    organization = client.patch(
        "/v1/organization/budget", cast_to=object, body={"monthly_token_budget": 10**6}
    )
    spend = client.get(f"/v1/agents/{agent.id}/spend", cast_to=object)

    assert group["daily_token_budget"] == 5000
    assert organization["monthly_token_budget"] == 10**6
    assert spend["totals"]["total_tokens"] == 0
    assert {(limit["scope"], limit["period"]) for limit in spend["limits"]} == {
        ("agent", "daily"),
        ("organization", "monthly"),
    }
