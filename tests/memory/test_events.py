"""Exactly one live event per change, sent only after the change commits."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import transaction

from agents import runs
from agents.loop import InputMessage
from agents.services import send_message
from memory import events
from memory import services as memory_services


@pytest.fixture
def sent(monkeypatch: pytest.MonkeyPatch) -> list[tuple[list[str], dict[str, Any]]]:
    captured: list[tuple[list[str], dict[str, Any]]] = []
    monkeypatch.setattr(
        events, "_broadcast", lambda agent_ids, event: captured.append((agent_ids, dict(event)))
    )
    return captured


def test_a_block_edit_pushes_one_event_to_every_agent_sharing_it(
    make_agent, user, sent, django_capture_on_commit_callbacks
):
    shared = memory_services.create_block(user, label="team", value="v1")
    first = make_agent(name="one", blocks={}, block_ids=[shared.id])
    second = make_agent(name="two", blocks={}, block_ids=[shared.id])
    with django_capture_on_commit_callbacks(execute=True):
        memory_services.update_block(
            shared.id, actor=memory_services.Actor.for_user(user), value="v2"
        )
    assert len(sent) == 1
    agent_ids, event = sent[0]
    assert sorted(agent_ids) == sorted([first.id, second.id])
    assert event == {"type": "block.changed", "block_id": shared.id, "version": 2}


def test_a_rolled_back_edit_pushes_nothing(
    make_agent, user, sent, django_capture_on_commit_callbacks
):
    agent = make_agent(name="one", blocks={"human": "Ada"})
    block = memory_services.get_agent_block(agent, "human")
    with django_capture_on_commit_callbacks(execute=True):
        with pytest.raises(RuntimeError), transaction.atomic():
            memory_services.update_block(
                block.id, actor=memory_services.Actor.for_user(user), value="Grace"
            )
            raise RuntimeError("the request failed after the write")
    assert sent == []
    block.refresh_from_db()
    assert block.value == "Ada"


def test_a_sleeptime_run_pushes_its_start_its_edit_and_its_end(
    make_agent, llm, sent, django_capture_on_commit_callbacks
):
    primary = make_agent(name="chat", blocks={"human": "Name: ?"}, enable_sleeptime=True)
    with django_capture_on_commit_callbacks(execute=True):
        result = send_message(primary, [InputMessage(role="user", content="I am Ada")])
    sent.clear()
    llm.sleeper.tool_call("memory_replace", {"label": "human", "old_str": "?", "new_str": "Ada"})
    with django_capture_on_commit_callbacks(execute=True):
        runs.execute_run(result.run_ids[0])
    sleeper_id = primary.managed_group.participants.get().id
    # The run's own messages (its transcript, its tool calls) go to the sleep-time agent's
    # page only; the primary's page hears of the run and of its edit.
    said = [agent_ids for agent_ids, event in sent if event["type"] == "message.created"]
    assert said and all(agent_ids == [sleeper_id] for agent_ids in said)
    kinds = [
        (event["type"], event.get("status"))
        for _, event in sent
        if event["type"] != "message.created"
    ]
    assert kinds == [
        ("run.changed", "running"),
        ("block.changed", None),
        ("run.changed", "completed"),
    ]
    assert all(primary.id in ids for ids, event in sent if event["type"] != "message.created")


def test_each_stored_message_of_a_turn_is_pushed_to_its_agent(
    make_agent, llm, sent, django_capture_on_commit_callbacks
):
    agent = make_agent(name="chat")
    with django_capture_on_commit_callbacks(execute=True):
        send_message(agent, [InputMessage(role="user", content="hello")])
    stored = list(agent.messages.order_by("seq").values_list("pk", flat=True))
    assert len(stored) == 3  # the user's, the reply's call, and its result
    assert sent == [([agent.id], {"type": "message.created", "message_id": pk}) for pk in stored]
