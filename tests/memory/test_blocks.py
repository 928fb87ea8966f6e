"""Memory block services: limits, versions, labels, sharing, deletion and list costs."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import IntegrityError, connection, transaction
from django.test.utils import CaptureQueriesContext

from agents.models import Agent
from agents.schemas import AgentStateOut, agent_states
from agents.services import AgentSpec, BlockSpec, create_agent, delete_agent, list_agents
from config.errors import InvalidRequest
from config.pagination import cursor_page
from memory import services
from memory.models import AgentBlock, Block, BlockVersion
from memory.schemas import BlockOut
from tests.factories import make_user


def as_user(user: Any) -> services.Actor:
    return services.Actor.for_user(user)


def labels_of(agent: Agent) -> list[str]:
    return [block.label for block in services.agent_blocks(agent)]


# --- Limits ----------------------------------------------------------------------------------


def test_creating_a_block_over_its_limit_is_refused_and_creates_nothing(user):
    with pytest.raises(InvalidRequest) as raised:
        services.create_block(user, label="human", value="x" * 11, limit=10)

    assert "10 character limit" in raised.value.message
    assert not Block.objects.filter(owner=user).exists()
    assert not BlockVersion.objects.filter(block__owner=user).exists()


def test_a_block_exactly_at_its_limit_is_accepted(user):
    block = services.create_block(user, label="human", value="x" * 10, limit=10)

    assert block.value == "x" * 10


def test_a_block_limit_below_one_is_refused(user):
    with pytest.raises(InvalidRequest):
        services.create_block(user, label="human", value="", limit=0)


def test_updating_a_value_over_the_limit_is_refused_and_changes_nothing(user):
    block = services.create_block(user, label="human", value="Ada", limit=10)

    with pytest.raises(InvalidRequest):
        services.update_block(block.id, actor=as_user(user), value="Ada Lovelace, mathematician")

    block.refresh_from_db()
    assert (block.value, block.version) == ("Ada", 1)
    assert block.versions.count() == 1


def test_lowering_the_limit_below_the_current_value_is_refused(user):
    block = services.create_block(user, label="human", value="Ada Lovelace", limit=50)

    with pytest.raises(InvalidRequest):
        services.update_block(block.id, actor=as_user(user), limit=5)

    block.refresh_from_db()
    assert block.limit == 50


def test_the_database_refuses_an_over_limit_value_even_from_a_raw_update(user):
    block = services.create_block(user, label="human", value="Ada", limit=10)

    with pytest.raises(IntegrityError), transaction.atomic():
        Block.objects.filter(pk=block.pk).update(value="x" * 11)

    block.refresh_from_db()
    assert block.value == "Ada"


# --- Versions --------------------------------------------------------------------------------


def test_every_value_change_records_a_version_with_before_after_and_the_user(user):
    block = services.create_block(user, label="human", value="Name: Ada", limit=100)

    services.update_block(block.id, actor=as_user(user), value="Name: Ada Lovelace")
    services.update_block(block.id, actor=as_user(user), value="Name: Ada King")

    history = list(block.versions.order_by("number"))
    assert [(v.number, v.previous_value, v.value) for v in history] == [
        (1, "", "Name: Ada"),
        (2, "Name: Ada", "Name: Ada Lovelace"),
        (3, "Name: Ada Lovelace", "Name: Ada King"),
    ]
    assert all(v.actor_type == "user" and v.actor_user == user for v in history)
    assert all(v.actor_agent_id == "" for v in history)
    block.refresh_from_db()
    assert block.version == 3


def test_a_version_records_the_label_limit_and_description_at_that_time(user):
    block = services.create_block(user, label="human", value="Ada", limit=100, description="d1")

    services.update_block(
        block.id, actor=as_user(user), label="person", limit=200, description="d2"
    )

    latest = block.versions.order_by("-number").first()
    assert (latest.label, latest.limit, latest.description) == ("person", 200, "d2")
    assert latest.previous_value == latest.value == "Ada"


def test_an_agent_actor_is_recorded_as_the_agent(user, make_agent):
    agent = make_agent(blocks={"human": "Ada"})
    block = services.get_agent_block(agent, "human")

    services.update_block(
        block.id, actor=services.Actor.for_agent(agent.id, "run-1"), value="Ada L."
    )

    latest = block.versions.order_by("-number").first()
    assert (latest.actor_type, latest.actor_agent_id, latest.run_id) == (
        "agent",
        agent.id,
        "run-1",
    )
    assert latest.actor_user is None


def test_unknown_fields_are_refused(user):
    block = services.create_block(user, label="human", value="Ada")

    with pytest.raises(InvalidRequest):
        services.update_block(block.id, actor=as_user(user), colour="blue")


# --- One label per agent ---------------------------------------------------------------------


def test_an_agent_cannot_hold_two_blocks_with_one_label(user, make_agent):
    agent = make_agent(blocks={"human": "Ada"})
    second = services.create_block(user, label="human", value="Grace")

    with pytest.raises(InvalidRequest) as raised:
        services.attach_block(agent, second)

    assert "human" in raised.value.message
    assert services.get_agent_block(agent, "human").value == "Ada"
    assert AgentBlock.objects.filter(agent=agent, label="human").count() == 1


def test_attaching_the_same_block_twice_changes_nothing(user, make_agent):
    agent = make_agent(blocks={})
    block = services.create_block(user, label="notes", value="n")

    services.attach_block(agent, block)
    services.attach_block(agent, block)

    assert labels_of(agent) == ["notes"]


def test_the_database_refuses_a_second_link_with_the_same_label(user, make_agent):
    agent = make_agent(blocks={"human": "Ada"})
    second = services.create_block(user, label="other", value="Grace")

    with pytest.raises(IntegrityError), transaction.atomic():
        AgentBlock.objects.create(agent=agent, block=second, label="human", position=9)


def test_creating_an_agent_whose_shared_block_clashes_with_a_new_one_creates_nothing(user):
    shared = services.create_block(user, label="human", value="Ada")

    with pytest.raises(InvalidRequest):
        create_agent(
            user,
            AgentSpec(
                name="clash",
                model="openai/gpt-4.1",
                memory_blocks=[BlockSpec(label="human", value="Grace")],
                block_ids=[shared.id],
            ),
        )

    assert not Agent.objects.filter(owner=user).exists()
    assert list(Block.objects.filter(owner=user)) == [shared]


def test_relabelling_a_shared_block_to_a_label_another_agent_uses_is_refused(user, make_agent):
    notes = services.create_block(user, label="notes", value="shared notes")
    make_agent(name="first", blocks={}, block_ids=[notes.id])
    second = make_agent(name="second", blocks={"todo": "buy milk"}, block_ids=[notes.id])

    with pytest.raises(InvalidRequest) as raised:
        services.update_block(notes.id, actor=as_user(user), label="todo")

    assert second.id in raised.value.message
    notes.refresh_from_db()
    assert (notes.label, notes.version) == ("notes", 1)
    assert sorted(labels_of(second)) == ["notes", "todo"]
    assert services.get_agent_block(second, "todo").value == "buy milk"


def test_relabelling_a_shared_block_renames_it_for_every_agent(user, make_agent):
    notes = services.create_block(user, label="notes", value="shared notes")
    first = make_agent(name="first", blocks={}, block_ids=[notes.id])
    second = make_agent(name="second", blocks={"todo": "buy milk"}, block_ids=[notes.id])

    services.update_block(notes.id, actor=as_user(user), label="journal")

    assert services.get_agent_block(first, "journal").pk == notes.pk
    assert services.get_agent_block(second, "journal").pk == notes.pk
    assert not AgentBlock.objects.filter(label="notes", block=notes).exists()


# --- Deleting agents -------------------------------------------------------------------------


def test_deleting_an_agent_keeps_shared_blocks_and_deletes_its_own(user, make_agent):
    shared = services.create_block(user, label="team", value="Goal: ship v1")
    doomed = make_agent(name="doomed", blocks={"human": "Ada"}, block_ids=[shared.id])
    survivor = make_agent(name="survivor", blocks={}, block_ids=[shared.id])
    own = services.get_agent_block(doomed, "human")

    delete_agent(doomed)

    assert not Agent.objects.filter(pk=doomed.pk).exists()
    assert not Block.objects.filter(pk=own.pk).exists()
    assert Block.objects.filter(pk=shared.pk).exists()
    assert labels_of(survivor) == ["team"]
    assert services.get_agent_block(survivor, "team").value == "Goal: ship v1"


def test_deleting_an_agent_leaves_other_agents_blocks_alone(user, make_agent):
    doomed = make_agent(name="doomed", blocks={"human": "Ada"})
    other = make_agent(name="other", blocks={"human": "Grace"})

    delete_agent(doomed)

    assert services.get_agent_block(other, "human").value == "Grace"


# --- Query counts for lists ------------------------------------------------------------------


def count_queries(action: Any) -> int:
    with CaptureQueriesContext(connection) as captured:
        action()
    return len(captured.captured_queries)


def agents_page(user: Any) -> list[dict[str, Any]]:
    return [AgentStateOut.from_orm(a).model_dump() for a in agent_states(list_agents(user))]


def test_listing_agents_costs_the_same_queries_for_one_or_five_agents(
    user, make_agent, django_assert_num_queries
):
    make_agent(name="agent-0", blocks={"persona": "p", "human": "h"})
    for_one = count_queries(lambda: agents_page(user))
    for index in range(1, 5):
        make_agent(name=f"agent-{index}", blocks={"persona": "p", "human": "h"})

    with django_assert_num_queries(for_one):
        states = agents_page(user)

    assert len(states) == 5
    assert all([b["label"] for b in state["blocks"]] == ["persona", "human"] for state in states)
    # The agents (with their groups), their blocks, their sources.
    assert for_one <= 3


def test_listing_the_agents_of_a_block_costs_the_same_for_one_or_five(
    user, make_agent, django_assert_num_queries
):
    shared = services.create_block(user, label="team", value="t")

    def page() -> list[dict[str, Any]]:
        agents = agent_states(cursor_page(Agent.objects.filter(block_links__block=shared)))
        return [AgentStateOut.from_orm(a).model_dump() for a in agents]

    make_agent(name="agent-0", blocks={"human": "h"}, block_ids=[shared.id])
    for_one = count_queries(page)
    for index in range(1, 5):
        make_agent(name=f"agent-{index}", blocks={"human": "h"}, block_ids=[shared.id])

    with django_assert_num_queries(for_one):
        states = page()

    assert len(states) == 5


def test_listing_blocks_costs_one_query_for_one_or_five_blocks(user, django_assert_num_queries):
    services.create_block(user, label="b0", value="v")
    with django_assert_num_queries(1):
        assert len([BlockOut.from_orm(b) for b in services.list_blocks(user)]) == 1
    for index in range(1, 5):
        services.create_block(user, label=f"b{index}", value="v")

    with django_assert_num_queries(1):
        assert len([BlockOut.from_orm(b) for b in services.list_blocks(user)]) == 5


def test_lists_show_only_the_users_own_agents_and_blocks(user, make_agent, django_user_model):
    stranger = make_user("stranger")
    make_agent(name="mine")
    create_agent(stranger, AgentSpec(name="theirs", model="openai/gpt-4.1"))
    services.create_block(stranger, label="secret", value="s")

    assert [state["name"] for state in agents_page(user)] == ["mine"]
    assert "secret" not in [block.label for block in services.list_blocks(user)]
