"""The primary/sleep-time pair: what enabling sleep-time builds, how it is configured,
paused, resumed and taken apart, and how shared blocks follow the primary."""

from __future__ import annotations

from typing import Any

import pytest

from agents import services, sleeptime
from agents.loop import InputMessage, TurnResult
from agents.models import Agent, AgentType, Group, ManagerType, Run
from agents.services import delete_agent, send_message, update_agent
from agents.tools import BASE_TOOLS, SLEEPTIME_TOOLS
from config.errors import InvalidRequest
from memory import services as memory_services
from memory.models import Block

PRIMARY_TOOLS = ["send_message", "conversation_search", "archival_memory_search"]


def say(agent: Agent, text: str = "hello") -> TurnResult:
    return send_message(agent, [InputMessage(role="user", content=text)])


def group_and_sleeper(primary: Agent) -> tuple[Group, Agent]:
    group = Group.objects.get(manager_agent=primary)
    sleepers = list(group.participants.all())
    assert len(sleepers) == 1, sleepers
    return group, sleepers[0]


def block_ids(agent: Agent) -> list[str]:
    return [block.id for block in memory_services.agent_blocks(agent)]


def labels(agent: Agent) -> list[str]:
    return [block.label for block in memory_services.agent_blocks(agent)]


def sleepers_named(primary: Agent) -> int:
    return Agent.objects.filter(owner=primary.owner, name=f"{primary.name}-sleeptime").count()


# --- Creating the pair -----------------------------------------------------------------------


def test_enabling_sleeptime_on_create_builds_a_sleeper_sharing_the_very_blocks(make_agent):
    primary = make_agent(name="chat", enable_sleeptime=True)

    _, sleeper = group_and_sleeper(primary)
    assert sleeper.name == "chat-sleeptime"
    assert sleeper.agent_type == AgentType.SLEEPTIME == "sleeptime_agent"
    assert sleeper.owner == primary.owner
    primary_blocks = block_ids(primary)
    assert len(primary_blocks) == 2
    sleeper_blocks = memory_services.agent_blocks(sleeper)
    assert [block.id for block in sleeper_blocks[:2]] == primary_blocks
    assert [block.label for block in sleeper_blocks] == ["persona", "human", "memory_persona"]
    persona = sleeper_blocks[2]
    assert persona.id not in primary_blocks
    assert "memory_persona" not in labels(primary)


def test_an_edit_by_the_sleeper_is_the_primarys_block_changing(make_agent):
    primary = make_agent(name="chat", blocks={"human": "Name: unknown"}, enable_sleeptime=True)
    _, sleeper = group_and_sleeper(primary)

    shared = memory_services.get_agent_block(sleeper, "human")
    Block.objects.filter(pk=shared.pk).update(value="Name: Ada")

    assert memory_services.get_agent_block(primary, "human").value == "Name: Ada"


def test_the_sleeper_edits_memory_and_the_primary_only_talks_and_searches(make_agent):
    primary = make_agent(enable_sleeptime=True)
    _, sleeper = group_and_sleeper(primary)

    assert sleeper.tools == SLEEPTIME_TOOLS
    rules = {rule["tool_name"]: rule["type"] for rule in sleeper.tool_rules}
    assert rules["memory_finish_edits"] == "exit_loop"
    assert set(rules) == set(SLEEPTIME_TOOLS)
    assert primary.tools == PRIMARY_TOOLS


def test_the_new_group_is_a_sleeptime_group_managed_by_the_primary(make_agent):
    primary = make_agent(enable_sleeptime=True)

    group, sleeper = group_and_sleeper(primary)
    assert group.manager_type == ManagerType.SLEEPTIME == "sleeptime"
    assert group.manager_agent_id == primary.id
    assert [agent.id for agent in group.participants.all()] == [sleeper.id]
    assert group.sleeptime_agent_frequency == 5
    assert group.turns_counter == -1
    assert group.last_processed_message_id == ""
    assert group.owner == primary.owner


def test_an_agent_created_without_sleeptime_has_no_pair_and_the_base_tools(make_agent):
    agent = make_agent(name="plain")

    assert sleeptime.group_of(agent) is None
    assert sleepers_named(agent) == 0
    assert agent.tools == BASE_TOOLS


# --- The sleeper's model ---------------------------------------------------------------------


def test_the_sleeper_uses_the_primarys_model_unless_told_otherwise(make_agent):
    primary = make_agent(model="openai/gpt-4.1", enable_sleeptime=True)

    _, sleeper = group_and_sleeper(primary)
    assert sleeper.llm_handle == "openai/gpt-4.1"


def test_sleeptime_model_on_create_gives_the_sleeper_its_own_model(make_agent):
    primary = make_agent(
        model="openai/gpt-4.1", enable_sleeptime=True, sleeptime_model="openai/gpt-4.1-mini"
    )

    group, sleeper = group_and_sleeper(primary)
    assert sleeper.llm_handle == "openai/gpt-4.1-mini"
    assert primary.llm_handle == "openai/gpt-4.1"
    assert sleeptime.sleeptime_model(group) == "openai/gpt-4.1-mini"


def test_configure_changes_the_sleepers_model_later(make_agent):
    primary = make_agent(enable_sleeptime=True)
    group, sleeper = group_and_sleeper(primary)

    sleeptime.configure(group, model="openai/gpt-4o-mini")

    sleeper.refresh_from_db()
    primary.refresh_from_db()
    assert sleeper.llm_handle == "openai/gpt-4o-mini"
    assert primary.llm_handle == "openai/gpt-4.1"


def test_a_bad_sleeptime_model_on_create_is_refused_and_nothing_is_created(make_agent, user):
    with pytest.raises(InvalidRequest, match="provider/model-name"):
        make_agent(name="chat", enable_sleeptime=True, sleeptime_model="gpt-4.1-mini")

    assert not Agent.objects.filter(owner=user).exists()
    assert not Group.objects.filter(owner=user).exists()


def test_configure_refuses_a_bad_model_handle_and_keeps_the_old_one(make_agent):
    primary = make_agent(enable_sleeptime=True)
    group, sleeper = group_and_sleeper(primary)

    with pytest.raises(InvalidRequest):
        sleeptime.configure(group, model="no-provider")

    sleeper.refresh_from_db()
    assert sleeper.llm_handle == "openai/gpt-4.1"


def test_a_refused_configure_changes_nothing_else_either(make_agent):
    primary = make_agent(enable_sleeptime=True)
    group, _ = group_and_sleeper(primary)

    with pytest.raises(InvalidRequest):
        sleeptime.configure(group, frequency=2, idle_seconds=30, model="no-provider")

    group.refresh_from_db()
    assert group.sleeptime_agent_frequency == 5
    assert group.sleeptime_idle_seconds == 300


# --- Enabling, pausing and resuming through update_agent -------------------------------------


def test_enabling_sleeptime_later_builds_the_pair_but_keeps_the_primarys_tools(make_agent):
    agent = make_agent(name="late")
    assert agent.tools == BASE_TOOLS

    update_agent(agent, {"enable_sleeptime": True}, user=agent.owner)

    agent.refresh_from_db()
    assert agent.enable_sleeptime is True
    assert agent.tools == BASE_TOOLS
    group, sleeper = group_and_sleeper(agent)
    assert sleeper.name == "late-sleeptime"
    assert block_ids(sleeper)[:2] == block_ids(agent)
    assert group.sleeptime_agent_frequency == 5
    assert group.turns_counter == -1


def test_enabling_later_with_a_sleeptime_model_gives_the_sleeper_that_model(make_agent):
    agent = make_agent()

    update_agent(
        agent, {"enable_sleeptime": True, "sleeptime_model": "openai/gpt-4o-mini"}, user=agent.owner
    )

    _, sleeper = group_and_sleeper(agent)
    assert sleeper.llm_handle == "openai/gpt-4o-mini"


def test_disabling_sleeptime_pauses_the_pair_without_deleting_it(make_agent, llm):
    primary = make_agent(enable_sleeptime=True, sleeptime_agent_frequency=1)
    group, sleeper = group_and_sleeper(primary)

    update_agent(primary, {"enable_sleeptime": False}, user=primary.owner)

    primary.refresh_from_db()
    assert primary.enable_sleeptime is False
    assert group_and_sleeper(primary) == (group, sleeper)
    result = say(primary)
    assert result.stop_reason == "end_turn"
    assert result.run_ids is None
    assert not Run.objects.background().filter(primary_agent=primary).exists()


def test_enabling_again_reuses_the_pair_and_the_counter_carries_on(make_agent, llm):
    from agents import runs

    primary = make_agent(enable_sleeptime=True, sleeptime_agent_frequency=3)
    group, sleeper = group_and_sleeper(primary)
    first = say(primary)  # counter -1 -> 0: a run starts
    assert first.run_ids
    assert runs.execute_run(first.run_ids[0]) == "completed"
    assert say(primary).run_ids == []  # counter 1
    update_agent(primary, {"enable_sleeptime": False}, user=primary.owner)
    assert say(primary).run_ids is None  # paused: not counted
    group.refresh_from_db()
    assert group.turns_counter == 1

    update_agent(primary, {"enable_sleeptime": True}, user=primary.owner)

    assert group_and_sleeper(primary) == (group, sleeper)
    assert sleepers_named(primary) == 1
    assert Group.objects.filter(manager_agent=primary).count() == 1
    assert say(primary).run_ids == []  # counter 2: a fresh counter would have triggered here
    group.refresh_from_db()
    assert group.turns_counter == 2
    resumed = say(primary)  # counter 0 again
    assert resumed.run_ids and resumed.run_ids != first.run_ids
    assert Run.objects.get(pk=resumed.run_ids[0]).run_agent_id == sleeper.id


def test_update_agent_changes_the_groups_frequency_and_idle_seconds(make_agent):
    primary = make_agent(enable_sleeptime=True)

    update_agent(
        primary, {"sleeptime_agent_frequency": 2, "sleeptime_idle_seconds": 45}, user=primary.owner
    )

    group, _ = group_and_sleeper(primary)
    assert group.sleeptime_agent_frequency == 2
    assert group.sleeptime_idle_seconds == 45


def test_update_agent_can_set_frequency_and_idle_seconds_to_zero(make_agent):
    primary = make_agent(enable_sleeptime=True)

    update_agent(
        primary, {"sleeptime_agent_frequency": 0, "sleeptime_idle_seconds": 0}, user=primary.owner
    )

    group, _ = group_and_sleeper(primary)
    assert group.sleeptime_agent_frequency == 0
    assert group.sleeptime_idle_seconds == 0


def test_create_passes_frequency_and_idle_seconds_to_the_group(make_agent):
    primary = make_agent(
        enable_sleeptime=True, sleeptime_agent_frequency=3, sleeptime_idle_seconds=90
    )

    group, _ = group_and_sleeper(primary)
    assert group.sleeptime_agent_frequency == 3
    assert group.sleeptime_idle_seconds == 90


@pytest.mark.parametrize(
    "setting", ["sleeptime_agent_frequency", "sleeptime_idle_seconds", "sleeptime_model"]
)
def test_sleeptime_settings_on_an_agent_without_sleeptime_are_refused(make_agent, setting):
    agent = make_agent(description="before")
    value = "openai/gpt-4o-mini" if setting == "sleeptime_model" else 2

    with pytest.raises(InvalidRequest, match="enable_sleeptime"):
        update_agent(agent, {"description": "after", setting: value}, user=agent.owner)

    agent.refresh_from_db()
    assert agent.description == "before"
    assert sleeptime.group_of(agent) is None


def test_a_negative_frequency_is_refused(make_agent):
    primary = make_agent(enable_sleeptime=True)

    with pytest.raises(InvalidRequest):
        update_agent(primary, {"sleeptime_agent_frequency": -1}, user=primary.owner)

    group, _ = group_and_sleeper(primary)
    assert group.sleeptime_agent_frequency == 5


# --- Deleting --------------------------------------------------------------------------------


def test_deleting_the_primary_deletes_its_group_and_sleeper_but_not_a_shared_block(make_agent):
    primary = make_agent(name="chat", enable_sleeptime=True)
    group, sleeper = group_and_sleeper(primary)
    human = memory_services.get_agent_block(primary, "human")
    own_persona = memory_services.get_agent_block(primary, "persona")
    memory_persona = memory_services.get_agent_block(sleeper, "memory_persona")
    bystander = make_agent(name="bystander", blocks={"persona": "other"}, block_ids=[human.id])

    delete_agent(primary)

    assert not Agent.objects.filter(pk__in=[primary.id, sleeper.id]).exists()
    assert not Group.objects.filter(pk=group.pk).exists()
    assert not Block.objects.filter(pk__in=[own_persona.id, memory_persona.id]).exists()
    assert Block.objects.filter(pk=human.id).exists()
    assert memory_services.get_agent_block(bystander, "human").id == human.id


def test_delete_group_removes_the_sleeper_and_switches_the_primary_off(make_agent, llm):
    primary = make_agent(name="chat", enable_sleeptime=True, sleeptime_agent_frequency=1)
    group, sleeper = group_and_sleeper(primary)
    kept = block_ids(primary)

    services.delete_group(group)

    primary.refresh_from_db()
    assert primary.enable_sleeptime is False
    assert not Group.objects.filter(pk=group.pk).exists()
    assert not Agent.objects.filter(pk=sleeper.pk).exists()
    assert sleeptime.group_of(primary) is None
    assert block_ids(primary) == kept
    assert say(primary).run_ids is None
    assert not Run.objects.background().filter(primary_agent=primary).exists()


def test_enabling_after_delete_group_builds_a_fresh_pair(make_agent):
    primary = make_agent(name="chat", enable_sleeptime=True)
    old_group, old_sleeper = group_and_sleeper(primary)
    update_agent(primary, {"sleeptime_agent_frequency": 2}, user=primary.owner)
    services.delete_group(old_group)

    update_agent(primary, {"enable_sleeptime": True}, user=primary.owner)

    primary.refresh_from_db()
    assert primary.enable_sleeptime is True
    group, sleeper = group_and_sleeper(primary)
    assert group.pk != old_group.pk
    assert sleeper.pk != old_sleeper.pk
    assert sleeper.name == "chat-sleeptime"
    assert sleepers_named(primary) == 1
    assert group.sleeptime_agent_frequency == 5
    assert group.turns_counter == -1
    assert block_ids(sleeper)[:2] == block_ids(primary)


# --- Shared blocks follow the primary --------------------------------------------------------


def new_block(owner: Any, label: str = "notes") -> Block:
    return memory_services.create_block(owner, label=label, value="shared notes")


def test_a_block_attached_to_the_primary_is_attached_to_its_sleeper_too(make_agent, user):
    primary = make_agent(enable_sleeptime=True)
    _, sleeper = group_and_sleeper(primary)
    notes = new_block(user)

    sleeptime.attach_block(primary, notes)

    assert memory_services.get_agent_block(primary, "notes").id == notes.id
    assert memory_services.get_agent_block(sleeper, "notes").id == notes.id


def test_a_block_detached_from_the_primary_leaves_its_sleeper_too(make_agent, user):
    primary = make_agent(enable_sleeptime=True)
    _, sleeper = group_and_sleeper(primary)
    notes = new_block(user)
    sleeptime.attach_block(primary, notes)

    sleeptime.detach_block(primary, notes.id)

    assert "notes" not in labels(primary)
    assert "notes" not in labels(sleeper)
    assert Block.objects.filter(pk=notes.id).exists()
    assert labels(sleeper) == ["persona", "human", "memory_persona"]


def test_detaching_an_original_block_from_the_primary_detaches_it_from_the_sleeper(make_agent):
    primary = make_agent(enable_sleeptime=True)
    _, sleeper = group_and_sleeper(primary)
    human = memory_services.get_agent_block(primary, "human")

    sleeptime.detach_block(primary, human.id)

    assert labels(primary) == ["persona"]
    assert labels(sleeper) == ["persona", "memory_persona"]


def test_attach_block_on_an_agent_without_sleeptime_touches_only_that_agent(make_agent, user):
    agent = make_agent(name="plain")
    other = make_agent(name="other", enable_sleeptime=True)
    notes = new_block(user)

    sleeptime.attach_block(agent, notes)

    assert "notes" in labels(agent)
    _, other_sleeper = group_and_sleeper(other)
    assert "notes" not in labels(other)
    assert "notes" not in labels(other_sleeper)


def test_listing_groups_costs_the_same_queries_for_one_or_three(
    make_agent, user, django_assert_num_queries
):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from agents.schemas import GroupOut
    from agents.sleeptime import list_groups

    def page() -> list[dict]:
        return [GroupOut.from_orm(group).model_dump() for group in list_groups(user)]

    make_agent(name="first", enable_sleeptime=True)
    with CaptureQueriesContext(connection) as one:
        assert len(page()) == 1
    make_agent(name="second", enable_sleeptime=True)
    make_agent(name="third", enable_sleeptime=True)
    with django_assert_num_queries(len(one.captured_queries)):
        assert len(page()) == 3
