"""The system prompt's "N previous messages" comes from a count the database keeps on
every insert and delete, so it is exact on every write path and costs one lookup."""

from __future__ import annotations

import uuid

from agents import loop
from agents.models import Agent, Message, MessageCount, Role
from agents.services import delete_agent
from tests.factories import say


def counted(agent: Agent) -> int:
    return MessageCount.objects.get(agent=agent).count


def test_every_way_messages_come_and_go_is_counted(make_agent, llm):
    first, second = make_agent(name="first"), make_agent(name="second")
    say(first, "hello")  # a turn: the user's message, the reply, its result
    assert counted(first) == Message.objects.filter(agent=first).count() > 0

    # One bulk statement for two agents (as an import or a benchmark writes them).
    Message.objects.bulk_create(
        [
            Message(agent=agent, role=Role.USER, content=f"old {n}", turn_id=uuid.uuid4().hex)
            for agent in (first, second)
            for n in range(250)
        ],
        batch_size=100,
    )
    Message.objects.filter(agent=first, content__startswith="old 1").delete()

    for agent in (first, second):
        assert counted(agent) == Message.objects.filter(agent=agent).count()
    assert counted(second) == 250


def test_the_prompt_says_how_many_messages_recall_memory_holds(make_agent, llm):
    agent = make_agent()
    say(agent, "one")
    say(agent, "two")

    system = loop.compile_system(agent)

    total = Message.objects.filter(agent=agent).count()
    assert f"{total} previous messages between you and the user" in system


def test_an_agent_without_messages_has_none_and_deleting_one_leaves_no_count(make_agent, llm):
    agent = make_agent()
    assert "0 previous messages" in loop.compile_system(agent)
    say(agent, "hello")

    delete_agent(agent)

    assert not MessageCount.objects.filter(agent_id=agent.pk).exists()
