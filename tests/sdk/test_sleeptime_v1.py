"""Sleep-time agents through the official letta-client 1.x SDK, with a real worker.

The primary answers through the scripted model's main lane; its sleep-time agent's runs
are executed by `manage.py worker` (the `worker` fixture) and answered by the sleeper
lane, whose default reply is `memory_finish_edits`.
"""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from letta_client import BadRequestError, Letta, NotFoundError

from tests.factories import TEST_EMBEDDING, TEST_MODEL
from tests.live import active_run_ids, wait_until

CHAT_TOOLS = {"send_message", "conversation_search", "archival_memory_search"}
MEMORY_TOOLS = {"memory_replace", "memory_insert", "memory_rethink", "memory_finish_edits"}
ENDED = ("completed", "failed", "cancelled")


@pytest.fixture
def client(live_server_url: str, api_key: str) -> Letta:
    return Letta(base_url=live_server_url, api_key=api_key)


@pytest.fixture(autouse=True)
def _runs_settle(request: pytest.FixtureRequest, django_db_blocker: Any) -> Any:
    """After a test that used the worker, let its runs end, so none of them answers
    from the next test's script."""
    yield
    if "worker" in request.fixturenames:
        with django_db_blocker.unblock():
            wait_until(lambda: not active_run_ids(), timeout=20, what="the test's runs to end")


def create_pair(client: Letta, name: str = "pal", **extra: Any) -> Any:
    return client.agents.create(
        name=name,
        model=TEST_MODEL,
        embedding=TEST_EMBEDDING,
        memory_blocks=[
            {"label": "human", "value": "Name: ?"},
            {"label": "persona", "value": "You are a helpful assistant."},
        ],
        enable_sleeptime=True,
        **extra,
    )


def patch_group(client: Letta, group_id: str, **config: Any) -> Any:
    """`PATCH /v1/groups/{id}`: 1.x has no groups resource, so the raw call the wire
    contract names."""
    body = {"manager_config": {"manager_type": "sleeptime", **config}}
    return client.patch(f"/v1/groups/{group_id}", cast_to=object, body=body)


def say(client: Letta, agent_id: str, text: str) -> Any:
    return client.agents.messages.create(
        agent_id=agent_id, messages=[{"role": "user", "content": text}]
    )


def wait_for_run(client: Letta, run_id: str, timeout: float = 15) -> Any:
    def ended() -> Any:
        run = client.runs.retrieve(run_id)
        return run if run.status in ENDED else None

    return wait_until(ended, timeout=timeout, what=f"run {run_id} to end")


def transcript_of(client: Letta, run_id: str) -> str:
    """The run's first user message: the transcript of the primary it was given."""
    messages = client.runs.messages.list(run_id).items
    users = [m for m in messages if m.message_type == "user_message"]
    assert users, f"run {run_id} has no user message: {messages}"
    return str(users[0].content)


# --- Structure: the pair, its tools, its group -----------------------------------------------


def test_enable_sleeptime_creates_a_sleeptime_agent_that_shares_the_primarys_blocks(client):
    agent = create_pair(client)

    group = agent.multi_agent_group
    assert group is not None and group.id
    assert group.sleeptime_agent_frequency == 5
    assert group.manager_type == "sleeptime"
    assert agent.managed_group is not None and agent.managed_group.id == group.id
    assert len(group.agent_ids) == 1
    assert {tool.name for tool in agent.tools} == CHAT_TOOLS

    sleeper = client.agents.retrieve(group.agent_ids[0])
    assert sleeper.name == "pal-sleeptime"
    assert sleeper.agent_type == "sleeptime_agent"
    assert MEMORY_TOOLS <= {tool.name for tool in sleeper.tools}
    assert any(
        rule.tool_name == "memory_finish_edits" and rule.type == "exit_loop"
        for rule in sleeper.tool_rules
    )
    labels = {block.label: block.id for block in sleeper.blocks}
    assert set(labels) == {"human", "persona", "memory_persona"}
    # The very same block rows, not copies.
    primary_blocks = {block.label: block.id for block in agent.blocks}
    assert labels["human"] == primary_blocks["human"]
    assert labels["persona"] == primary_blocks["persona"]
    assert sleeper.multi_agent_group is None


def test_the_group_frequency_changes_with_a_raw_patch_and_its_manager_type_cannot(client):
    agent = create_pair(client)
    group_id = agent.multi_agent_group.id

    patched = patch_group(client, group_id, sleeptime_agent_frequency=2)
    assert patched["id"] == group_id
    assert patched["sleeptime_agent_frequency"] == 2
    assert patched["agent_ids"] == agent.multi_agent_group.agent_ids
    assert client.agents.retrieve(agent.id).multi_agent_group.sleeptime_agent_frequency == 2
    assert client.get(f"/v1/groups/{group_id}", cast_to=object)["sleeptime_agent_frequency"] == 2

    with pytest.raises(BadRequestError) as refused:
        client.patch(
            f"/v1/groups/{group_id}",
            cast_to=object,
            body={"manager_config": {"manager_type": "round_robin"}},
        )
    assert "manager_type" in str(refused.value.body)
    assert client.agents.retrieve(agent.id).multi_agent_group.manager_type == "sleeptime"


def test_enabling_sleeptime_on_a_plain_agent_creates_its_group_and_sleeptime_agent(client):
    plain = client.agents.create(
        name="plain",
        model=TEST_MODEL,
        embedding=TEST_EMBEDDING,
        memory_blocks=[{"label": "human", "value": "Name: ?"}],
    )
    assert plain.multi_agent_group is None

    updated = client.agents.update(plain.id, enable_sleeptime=True)
    assert updated.enable_sleeptime is True
    group = updated.multi_agent_group
    assert group is not None and group.sleeptime_agent_frequency == 5
    sleeper = client.agents.retrieve(group.agent_ids[0])
    assert sleeper.agent_type == "sleeptime_agent"
    human = next(block for block in updated.blocks if block.label == "human")
    sharing = {a.id for a in client.blocks.agents.list(human.id)}
    assert sharing == {plain.id, sleeper.id}

    # Enabling again reuses the group: no second sleep-time agent.
    again = client.agents.update(plain.id, enable_sleeptime=True)
    assert again.multi_agent_group.id == group.id
    assert again.multi_agent_group.agent_ids == [sleeper.id]


def test_deleting_the_primary_deletes_its_group_and_sleeptime_agent(client):
    agent = create_pair(client)
    group_id = agent.multi_agent_group.id
    sleeper_id = agent.multi_agent_group.agent_ids[0]

    client.agents.delete(agent.id)

    with pytest.raises(NotFoundError):
        client.agents.retrieve(sleeper_id)
    with pytest.raises(NotFoundError):
        client.get(f"/v1/groups/{group_id}", cast_to=object)
    with pytest.raises(NotFoundError):
        client.agents.retrieve(agent.id)


def test_a_block_attached_to_the_primary_is_attached_to_its_sleeptime_agent(client):
    agent = create_pair(client)
    sleeper_id = agent.multi_agent_group.agent_ids[0]
    fact = client.blocks.create(label="fact_block", value="Messi plays for Barcelona.")

    client.agents.blocks.attach(fact.id, agent_id=agent.id)

    assert "fact_block" in {b.label for b in client.agents.blocks.list(sleeper_id).items}
    sharing = {a.id for a in client.blocks.agents.list(fact.id)}
    assert sharing == {agent.id, sleeper_id}

    client.agents.blocks.detach(fact.id, agent_id=agent.id)
    assert "fact_block" not in {b.label for b in client.agents.blocks.list(sleeper_id).items}
    assert list(client.blocks.agents.list(fact.id)) == []


def test_iterating_the_sleeptime_agents_blocks_yields_each_block_once(client):
    """The 1.x SDK pages by sending the last id it saw as `after` until a page is empty;
    capped here, as a server that ignores `after` would make it loop for ever."""
    agent = create_pair(client)
    sleeper_id = agent.multi_agent_group.agent_ids[0]

    labels = [b.label for b in itertools.islice(client.agents.blocks.list(sleeper_id), 30)]
    assert sorted(labels) == ["human", "memory_persona", "persona"], (
        f"{len(labels)} blocks yielded (capped at 30): {labels}"
    )


# --- Runs, executed by the worker ----------------------------------------------------------


def test_every_second_turn_starts_a_run_that_the_worker_completes(client, worker, llm):
    agent = create_pair(client, name="seed")
    group_id = agent.multi_agent_group.id
    sleeper_id = agent.multi_agent_group.agent_ids[0]
    patch_group(client, group_id, sleeptime_agent_frequency=2)

    texts = [f"fact number {n}: I own {n} bicycles" for n in range(1, 7)]
    run_ids: list[str] = []
    for i, text in enumerate(texts):
        response = say(client, agent.id, text)
        assert len(response.messages) > 0
        started = response.usage.run_ids or []
        assert len(started) == (i + 1) % 2, (i, started)
        run_ids += started

    # A trigger that comes while a run still waits for a worker joins that run.
    distinct = list(dict.fromkeys(run_ids))
    for run_id in distinct:
        run = wait_for_run(client, run_id)
        assert run.status == "completed", run
        assert run.agent_id == sleeper_id

    listed = client.runs.list(agent_id=sleeper_id).items
    assert {run.id for run in listed} == set(distinct)
    assert all(run.status == "completed" for run in listed)

    # Between them the runs read turns 1 to 5 (turn 6 triggers nothing), each once.
    transcripts = [transcript_of(client, run_id) for run_id in distinct]
    for text in texts[:5]:
        readers = [t for t in transcripts if f"user: {text}" in t]
        assert len(readers) == 1, (text, transcripts)
    messages = client.runs.messages.list(distinct[0]).items
    calls = [m.tool_call.name for m in messages if m.message_type == "tool_call_message"]
    assert calls == ["memory_finish_edits"]


def test_iterating_the_run_list_yields_each_run_once(client, worker, llm):
    """The 1.x SDK pages by sending the last id it saw as `after`; runs list newest first."""
    agent = create_pair(client, name="pages")
    sleeper_id = agent.multi_agent_group.agent_ids[0]
    patch_group(client, agent.multi_agent_group.id, sleeptime_agent_frequency=1)
    made = []
    for n in range(3):
        [run_id] = say(client, agent.id, f"turn {n}").usage.run_ids
        wait_for_run(client, run_id)
        made.append(run_id)

    seen = [run.id for run in itertools.islice(client.runs.list(agent_id=sleeper_id), 50)]
    assert seen == made[::-1], f"{len(seen)} runs yielded for 3 made: {seen}"


def test_iterating_a_runs_messages_yields_each_message_once(client, worker, llm):
    """The 1.x SDK pages by `after` until it gets an empty page."""
    agent = create_pair(client, name="pages")
    [run_id] = say(client, agent.id, "hello").usage.run_ids
    wait_for_run(client, run_id)

    first_page = client.runs.messages.list(run_id).items
    assert [m.message_type for m in first_page] == [
        "user_message",
        "tool_call_message",
        "tool_return_message",
    ]
    everything = [
        (m.id, m.message_type) for m in itertools.islice(client.runs.messages.list(run_id), 100)
    ]
    assert everything == [(m.id, m.message_type) for m in first_page], (
        f"{len(everything)} messages yielded (capped at 100) for {len(first_page)}"
    )


def test_what_the_sleeptime_agent_writes_reaches_the_primarys_next_request_and_can_be_undone(
    client, worker, llm
):
    agent = create_pair(client, name="learner")
    human = client.agents.blocks.retrieve("human", agent_id=agent.id)
    llm.sleeper.tool_call(
        "memory_replace", {"label": "human", "old_str": "Name: ?", "new_str": "Name: Sarah"}
    )

    [run_id] = say(client, agent.id, "My name is Sarah").usage.run_ids
    run = wait_for_run(client, run_id)
    assert run.status == "completed", run
    assert client.agents.blocks.retrieve("human", agent_id=agent.id).value == "Name: Sarah"
    assert client.blocks.retrieve(human.id).value == "Name: Sarah"

    # The primary's very next model request carries the new memory in its system prompt.
    say(client, agent.id, "What is my name?")
    system = llm.main.requests[-1]["messages"][0]
    assert system["role"] == "system"
    assert "Name: Sarah" in system["content"]
    assert "Name: ?" not in system["content"]

    detail = client.get(f"/v1/runs/{run_id}", cast_to=object)
    assert detail["changed"] is True
    [edit] = detail["block_versions"]
    assert edit["label"] == "human" and edit["block_id"] == human.id
    assert "+Name: Sarah" in edit["diff"]
    assert [call["name"] for call in detail["tool_calls"]] == [
        "memory_replace",
        "memory_finish_edits",
    ]

    history = client.get(f"/v1/blocks/{human.id}/history", cast_to=object)
    by_run = [version for version in history if version["run_id"] == run_id]
    assert len(by_run) == 1, history
    assert by_run[0]["version"] == edit["version"]
    assert by_run[0]["previous_value"] == "Name: ?" and by_run[0]["value"] == "Name: Sarah"
    assert "-Name: ?" in by_run[0]["diff"] and "+Name: Sarah" in by_run[0]["diff"]
    assert by_run[0]["actor_id"] == agent.multi_agent_group.agent_ids[0]

    report = client.post(f"/v1/runs/{run_id}/revert", cast_to=object)
    assert [entry["label"] for entry in report["reverted"]] == ["human"]
    assert report["conflicts"] == []
    assert client.blocks.retrieve(human.id).value == "Name: ?"
    newest = client.get(f"/v1/blocks/{human.id}/history", cast_to=object)[0]
    assert newest["value"] == "Name: ?" and newest["reverts"].startswith(f"run:{run_id}")
    assert client.runs.retrieve(run_id).status == "completed"
    assert client.get(f"/v1/runs/{run_id}", cast_to=object)["reverted_at"] is not None
