"""Sleep-time checks run with the official letta-client 0.1.x SDK (Fern), unmodified.

Like `v0_checks.py`, this runs inside `.venv-sdk0` (letta-client==0.1.324, no Django) and
imports only the SDK, the standard library and `v0_harness.py` beside it:

    .venv-sdk0/bin/python tests/sdk/sleeptime_v0_checks.py <base_url> <api_key> <check_name>

It runs one check, prints what it did, and exits 0 when every assertion holds.
`tests/sdk/test_sleeptime_v0.py` drives it from pytest, with a worker running.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable

from letta_client import (
    Letta,
    RoundRobinManagerUpdate,
    SleeptimeManagerUpdate,
    ToolCallMessage,
    UserMessage,
)
from letta_client.core.api_error import ApiError
from v0_harness import TEST_EMBEDDING, TEST_MODEL, Checks, create_pair, say

MEMORY_TOOLS = {"memory_replace", "memory_insert", "memory_rethink", "memory_finish_edits"}
ENDED = ("completed", "failed", "cancelled")

check = Checks()


def text_of(content: object) -> str:
    if isinstance(content, list):
        return "".join(getattr(part, "text", "") or "" for part in content)
    return str(content)


def status_of(run: object) -> str:
    status = getattr(run, "status", None)
    return str(getattr(status, "value", status))


def wait_for(predicate: Callable[[], object], timeout: float, what: str) -> object:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.1)


def wait_for_run(client: Letta, run_id: str, timeout: float = 15) -> object:
    def ended() -> object:
        run = client.runs.retrieve(run_id)
        return run if status_of(run) in ENDED else None

    return wait_for(ended, timeout, f"run {run_id} to end")


def expect_status(status: int, call: Callable[[], object], what: str) -> ApiError:
    try:
        result = call()
    except ApiError as error:
        say(f"{what}: {error.status_code} {error.body!r}")
        assert error.status_code == status, f"{what}: expected {status}, got {error.status_code}"
        return error
    raise AssertionError(f"{what} succeeded: {result!r}")


# --- the checks ------------------------------------------------------------------------------


@check
def seed_example(client: Letta, base_url: str) -> None:
    """Letta's sleeptime example, with frequency 2 and six messages, as its test does."""
    agent = create_pair(client)
    group_id = agent.multi_agent_group.id
    frequency = agent.multi_agent_group.sleeptime_agent_frequency
    say(f"group {group_id}, frequency {frequency}")
    assert group_id and frequency == 5, f"group {agent.multi_agent_group!r}"

    group = client.groups.modify(
        group_id=group_id,
        manager_config=SleeptimeManagerUpdate(sleeptime_agent_frequency=2),
    )
    say(f"modified group: frequency {group.sleeptime_agent_frequency}, members {group.agent_ids}")
    assert group.sleeptime_agent_frequency == 2, f"modify returned {group!r}"
    assert group.manager_type == "sleeptime", f"manager_type {group.manager_type!r}"
    assert len(group.agent_ids) == 1, f"agent_ids {group.agent_ids!r}"
    sleeptime_ids = [
        agent_id
        for agent_id in group.agent_ids
        if client.agents.retrieve(agent_id=agent_id).agent_type == "sleeptime_agent"
    ]
    assert len(sleeptime_ids) == 1, f"sleep-time agents among {group.agent_ids}: {sleeptime_ids}"
    sleeper_id = sleeptime_ids[0]
    sleeper = client.agents.retrieve(agent_id=sleeper_id)
    tools = {tool.name for tool in sleeper.tools}
    assert MEMORY_TOOLS <= tools, f"the sleep-time agent's tools are {tools}"
    primary = client.agents.retrieve(agent_id=agent.id)
    assert primary.multi_agent_group.sleeptime_agent_frequency == 2, primary.multi_agent_group

    human = client.agents.blocks.retrieve(agent_id=agent.id, block_label="human")
    sharing = sorted(a.id for a in client.blocks.agents.list(block_id=human.id))
    say(f"agents sharing the human block: {sharing}")
    assert sharing == sorted([agent.id, sleeper_id]), f"blocks.agents.list gave {sharing}"

    run_ids: list[str] = []
    for i in range(6):
        response = client.agents.messages.create(
            agent_id=agent.id,
            messages=[{"role": "user", "content": f"My name is Sarah, fact {i + 1}"}],
        )
        started = response.usage.run_ids or []
        say(f"message {i + 1}: {len(response.messages)} messages, run_ids {started}")
        assert len(response.messages) > 0, "no messages in the response"
        assert len(started) == (i + 1) % 2, f"message {i + 1} started {started}"
        run_ids += started

    distinct = list(dict.fromkeys(run_ids))
    for run_id in distinct:
        run = wait_for_run(client, run_id)
        say(f"run {run_id}: {status_of(run)}")
        assert status_of(run) == "completed", f"run {run_id} ended {run!r}"
        assert run.agent_id == sleeper_id, f"run {run_id} has agent_id {run.agent_id}"

    listed = client.runs.list(agent_id=sleeper_id)
    say(f"runs.list(agent_id=sleeper): {[(r.id, status_of(r)) for r in listed]}")
    assert {run.id for run in listed} == set(distinct), f"runs.list gave {listed!r}"

    transcript = client.runs.messages.list(run_id=distinct[0])
    users = [text_of(m.content) for m in transcript if isinstance(m, UserMessage)]
    say(f"run {distinct[0]} read: {users}")
    assert users and "My name is Sarah, fact 1" in users[0], f"transcript {transcript!r}"

    # The example prints the sleep-time agent's own messages.
    own = client.agents.messages.list(agent_id=sleeper_id)
    calls = [m.tool_call.name for m in own if isinstance(m, ToolCallMessage)]
    say(f"the sleep-time agent's tool calls: {calls}")
    assert calls and set(calls) == {"memory_finish_edits"}, f"its messages are {own!r}"


@check
def enables_sleeptime_on_a_plain_agent(client: Letta, base_url: str) -> None:
    plain = client.agents.create(
        name="plain",
        memory_blocks=[{"value": "Name: ?", "label": "human"}],
        model=TEST_MODEL,
        embedding=TEST_EMBEDDING,
    )
    assert plain.multi_agent_group is None, f"a plain agent has a group: {plain!r}"
    modified = client.agents.modify(agent_id=plain.id, enable_sleeptime=True)
    group = modified.multi_agent_group
    say(f"after modify: enable_sleeptime={modified.enable_sleeptime}, group {group!r}")
    assert modified.enable_sleeptime is True, f"modify returned {modified!r}"
    assert group is not None and group.sleeptime_agent_frequency == 5, f"group {group!r}"
    [sleeper_id] = group.agent_ids

    human = client.agents.blocks.retrieve(agent_id=plain.id, block_label="human")
    sharing = sorted(a.id for a in client.blocks.agents.list(block_id=human.id))
    assert sharing == sorted([plain.id, sleeper_id]), f"blocks.agents.list gave {sharing}"

    fact = client.blocks.create(label="fact_block", value="Messi plays for Barcelona.")
    client.agents.blocks.attach(agent_id=plain.id, block_id=fact.id)
    sleeper_labels = [b.label for b in client.agents.blocks.list(agent_id=sleeper_id)]
    say(f"the sleep-time agent's blocks: {sleeper_labels}")
    assert "fact_block" in sleeper_labels, f"the new block is not shared: {sleeper_labels}"
    sharing = sorted(a.id for a in client.blocks.agents.list(block_id=fact.id))
    assert sharing == sorted([plain.id, sleeper_id]), f"blocks.agents.list gave {sharing}"


@check
def refuses_a_new_manager_type(client: Letta, base_url: str) -> None:
    agent = create_pair(client)
    group_id = agent.multi_agent_group.id
    expect_status(
        400,
        lambda: client.groups.modify(group_id=group_id, manager_config=RoundRobinManagerUpdate()),
        "changing the manager type",
    )
    group = client.groups.retrieve(group_id=group_id)
    assert group.manager_type == "sleeptime", f"the group changed: {group!r}"
    assert group.sleeptime_agent_frequency == 5, f"the group changed: {group!r}"


@check
def deletes_the_pair_with_the_primary(client: Letta, base_url: str) -> None:
    agent = create_pair(client)
    group_id = agent.multi_agent_group.id
    [sleeper_id] = agent.multi_agent_group.agent_ids
    client.agents.delete(agent_id=agent.id)
    expect_status(404, lambda: client.groups.retrieve(group_id=group_id), "the deleted group")
    expect_status(404, lambda: client.agents.retrieve(agent_id=sleeper_id), "the sleep-time agent")


@check
def lists_active_runs(client: Letta, base_url: str) -> None:
    """Needs the caller to hold the sleeper lane, so the run stays `running`."""
    agent = create_pair(client)
    [sleeper_id] = agent.multi_agent_group.agent_ids
    response = client.agents.messages.create(
        agent_id=agent.id, messages=[{"role": "user", "content": "hello"}]
    )
    [run_id] = response.usage.run_ids
    wait_for(
        lambda: status_of(client.runs.retrieve(run_id)) == "running", 15, f"run {run_id} to run"
    )
    active = client.runs.list_active(agent_id=sleeper_id)
    say(f"runs.list_active(agent_id=sleeper): {[(r.id, status_of(r)) for r in active]}")
    assert [run.id for run in active] == [run_id], f"list_active gave {active!r}"


if __name__ == "__main__":
    sys.exit(check.main(sys.argv))
