"""Conversations: threads of one agent with their own history over its shared memory,
each turn a run, and a sleep-time agent that reads them all."""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.utils import timezone

from agents import runs, threads
from agents.conversations import ConversationSpec, create_conversation
from agents.loop import InputMessage
from agents.models import Agent, Conversation, Message, Run
from agents.services import send_message
from memory import services as memory_services
from memory.models import Block
from tests.factories import pair, run_sleeper_now
from tests.http import patch, post

# Turns run where the test client cannot see uncommitted rows in some paths (streams).
committed = pytest.mark.django_db(transaction=True)


def user_texts(request: dict[str, Any]) -> list[str]:
    return [m["content"] for m in request["messages"] if m["role"] == "user"]


def system_prompt(request: dict[str, Any]) -> str:
    return request["messages"][0]["content"]


def new_conversation(api: Client, agent: Agent, **body: Any) -> dict[str, Any]:
    response = post(api, f"/v1/conversations/?agent_id={agent.id}", body)
    assert response.status_code == 200, response.content
    return response.json()


def talk(api: Client, conversation_id: str, text: str, **extra: Any) -> dict[str, Any]:
    body = {"messages": [{"role": "user", "content": text}], "streaming": False, **extra}
    response = post(api, f"/v1/conversations/{conversation_id}/messages", body)
    assert response.status_code == 200, response.content
    return response.json()


# --- Threads of one agent ------------------------------------------------------------------


def test_each_conversation_has_its_own_history_over_the_agents_shared_memory(api, make_agent, llm):
    agent = make_agent(blocks={"human": "", "persona": "helpful"})
    first, second = new_conversation(api, agent), new_conversation(api, agent)

    llm.tool_call("core_memory_append", {"label": "human", "content": "Name: Ada"})
    llm.tool_call("send_message", {"message": "Hello Ada."})
    talk(api, first["id"], "I am Ada")
    talk(api, second["id"], "what is my name?")

    asked = llm.last_request
    # The second thread never saw the first one's words, but shares what it learned.
    assert user_texts(asked) == ["what is my name?"]
    assert "Name: Ada" in system_prompt(asked)

    def listed(conversation_id: str) -> list[str]:
        page = api.get(f"/v1/conversations/{conversation_id}/messages?order=asc").json()
        return [m["content"] for m in page if m["message_type"] == "user_message"]

    assert listed(first["id"]) == ["I am Ada"]
    assert listed(second["id"]) == ["what is my name?"]
    # The agent's messages are those of all its threads, as Letta lists them (letta-evals
    # reads a Letta Code run there); its own history, the default conversation, has none.
    everything = api.get(f"/v1/agents/{agent.id}/messages").json()
    assert [m["content"] for m in everything if m["message_type"] == "user_message"] == [
        "I am Ada",
        "what is my name?",
    ]
    assert api.get(f"/v1/agents/{agent.id}/messages?conversation_id=default").json() == []
    only_second = api.get(f"/v1/agents/{agent.id}/messages?conversation_id={second['id']}")
    assert {m["id"] for m in only_second.json()} == {
        m["id"] for m in api.get(f"/v1/conversations/{second['id']}/messages").json()
    }


def test_the_default_conversation_is_the_agents_own_history(api, make_agent, llm):
    agent = make_agent()
    talk(api, "default", "hello there", agent_id=agent.id)
    stored = Message.objects.filter(agent=agent).count()

    own = api.get(f"/v1/agents/{agent.id}/messages").json()
    assert [m["content"] for m in own if m["message_type"] == "user_message"] == ["hello there"]
    via_default = api.get(f"/v1/conversations/default/messages?agent_id={agent.id}").json()
    assert [m["id"] for m in via_default] == [m["id"] for m in reversed(own)]  # newest first

    missing = post(
        api,
        "/v1/conversations/default/messages",
        {"messages": [{"role": "user", "content": "x"}], "streaming": False},
    )
    assert missing.status_code == 400
    assert "agent_id" in missing.json()["detail"]
    assert Message.objects.filter(agent=agent).count() == stored


def test_a_conversation_can_use_its_own_model_settings_and_window(api, make_agent, llm):
    agent = make_agent()
    conversation = new_conversation(
        api,
        agent,
        model_settings={"temperature": 0.1, "max_output_tokens": 77},
        context_window_limit=4000,
    )
    talk(api, conversation["id"], "hi")
    assert llm.last_request["temperature"] == 0.1
    assert llm.last_request["max_tokens"] == 77
    assert Conversation.objects.get(pk=conversation["id"]).context_window_limit == 4000


def test_a_conversation_model_that_is_no_handle_is_refused_and_nothing_changes(
    api, make_agent, llm
):
    agent = make_agent()
    conversation = new_conversation(api, agent)

    changed = api.patch(
        f"/v1/conversations/{conversation['id']}",
        {"model": "not a handle"},
        content_type="application/json",
    )

    assert changed.status_code == 400
    assert "provider/model-name" in changed.json()["detail"]
    assert Conversation.objects.get(pk=conversation["id"]).model == ""
    talk(api, conversation["id"], "hi")  # still answers, with the agent's model


def test_a_full_window_is_summarised_per_conversation(make_agent, user, llm):
    agent = make_agent()
    small = create_conversation(user, agent, ConversationSpec(context_window_limit=1000))
    other = create_conversation(user, agent, ConversationSpec())
    filler = "word " * 300
    for n in range(3):
        send_message(
            agent, [InputMessage(role="user", content=f"{n} {filler}")], conversation=small
        )
    send_message(agent, [InputMessage(role="user", content="short")], conversation=other)

    small.refresh_from_db()
    other.refresh_from_db()
    agent.refresh_from_db()
    assert small.history_summary  # the scripted model's summary of what was evicted
    assert Message.objects.filter(conversation=small, in_context=False).exists()
    # Neither the other thread nor the agent's own history lost anything.
    assert not other.history_summary and not agent.summary
    assert not Message.objects.filter(conversation=other, in_context=False).exists()


# --- Isolated blocks -----------------------------------------------------------------------


def test_an_isolated_block_is_a_copy_only_its_conversation_sees_and_edits(api, make_agent, llm):
    agent = make_agent(blocks={"human": "shared", "persona": "helpful"})
    isolated = new_conversation(api, agent, isolated_block_labels=["human"])
    plain = new_conversation(api, agent)
    (copy_id,) = isolated["isolated_block_ids"]

    llm.tool_call("core_memory_append", {"label": "human", "content": "private note"})
    llm.tool_call("send_message", {"message": "Noted."})
    talk(api, isolated["id"], "remember this privately")
    assert "private note" in system_prompt(llm.last_request)

    assert Block.objects.get(pk=copy_id).value == "shared\nprivate note"
    assert memory_services.get_agent_block(agent, "human").value == "shared"
    talk(api, plain["id"], "hi")
    assert "private note" not in system_prompt(llm.last_request)

    assert api.delete(f"/v1/conversations/{isolated['id']}").status_code == 200
    assert not Block.objects.filter(pk=copy_id).exists()
    assert memory_services.get_agent_block(agent, "human").value == "shared"


def test_isolating_a_label_the_agent_lacks_is_refused_and_nothing_is_made(api, make_agent):
    agent = make_agent(blocks={"human": "", "persona": "helpful"})
    blocks = Block.objects.count()
    response = post(
        api, f"/v1/conversations/?agent_id={agent.id}", {"isolated_block_labels": ["notes"]}
    )
    assert response.status_code == 400
    assert "'notes'" in response.json()["detail"]
    assert not Conversation.objects.exists()
    assert Block.objects.count() == blocks


# --- The resource --------------------------------------------------------------------------


def test_conversations_are_listed_retrieved_updated_archived_and_deleted(api, make_agent, llm):
    agent, other_agent = make_agent(), make_agent(name="other")
    made = [new_conversation(api, agent, summary=f"thread {n}") for n in range(3)]
    new_conversation(api, other_agent)
    new_conversation(api, agent, hidden=True)

    newest_first = api.get(f"/v1/conversations/?agent_id={agent.id}").json()
    assert [c["id"] for c in newest_first] == [c["id"] for c in reversed(made)]
    oldest_first = api.get(f"/v1/conversations/?agent_id={agent.id}&order=asc&limit=2").json()
    rest = api.get(
        f"/v1/conversations/?agent_id={agent.id}&order=asc&after={oldest_first[-1]['id']}"
    ).json()
    assert [c["id"] for c in oldest_first + rest] == [c["id"] for c in made]
    found = api.get(f"/v1/conversations/?agent_id={agent.id}&summary_search=thread 1").json()
    assert [c["id"] for c in found] == [made[1]["id"]]

    first = made[0]["id"]
    assert api.get(f"/v1/conversations/{first}").json()["summary"] == "thread 0"
    updated = patch(api, f"/v1/conversations/{first}", {"summary": "renamed", "archived": True})
    assert updated.status_code == 200
    assert updated.json()["summary"] == "renamed" and updated.json()["archived"] is True
    listed = api.get(f"/v1/conversations/?agent_id={agent.id}").json()
    assert first not in [c["id"] for c in listed]
    archived = api.get(f"/v1/conversations/?agent_id={agent.id}&archive_status=archived").json()
    assert [c["id"] for c in archived] == [first]

    talk(api, first, "hello")
    assert api.delete(f"/v1/conversations/{first}").status_code == 200
    assert api.get(f"/v1/conversations/{first}").status_code == 404
    assert not Message.objects.filter(agent=agent).exists()


def test_other_peoples_conversations_are_404s(api, make_agent, django_user_model):
    from accounts.services import create_api_key

    agent = make_agent()
    mine = new_conversation(api, agent)
    stranger = django_user_model.objects.create_user(username="stranger")
    theirs = Client(headers={"Authorization": f"Bearer {create_api_key(stranger)[1]}"})

    assert theirs.get(f"/v1/conversations/{mine['id']}").status_code == 404
    assert theirs.get(f"/v1/conversations/?agent_id={agent.id}").json() == []
    created = post(theirs, f"/v1/conversations/?agent_id={agent.id}", {})
    assert created.status_code == 404
    sent = post(
        theirs,
        f"/v1/conversations/{mine['id']}/messages",
        {"messages": [{"role": "user", "content": "x"}], "streaming": False},
    )
    assert sent.status_code == 404
    assert theirs.delete(f"/v1/conversations/{mine['id']}").status_code == 404
    assert Conversation.objects.filter(pk=mine["id"]).exists()


def test_a_conversation_with_a_turn_running_is_not_deleted(api, make_agent):
    agent = make_agent()
    conversation = new_conversation(api, agent)
    Conversation.objects.filter(pk=conversation["id"]).update(turn_started_seq=1)
    response = api.delete(f"/v1/conversations/{conversation['id']}")
    assert response.status_code == 409
    assert "turn is running" in response.json()["detail"]
    assert Conversation.objects.filter(pk=conversation["id"]).exists()


# --- Every turn is a run -------------------------------------------------------------------


def test_every_turn_is_a_run_that_clients_can_follow(api, make_agent, llm):
    agent = make_agent()
    conversation = new_conversation(api, agent)
    llm.tool_call("conversation_search", {"query": "tea"}, content="Let me check.")
    llm.tool_call("send_message", {"message": "Nothing about tea."})
    answer = talk(api, conversation["id"], "tea?")

    run_id = answer["usage"]["run_id"]
    assert {m["run_id"] for m in answer["messages"]} == {run_id}
    run = api.get(f"/v1/runs/{run_id}").json()
    assert run["status"] == "completed" and run["stop_reason"] == "end_turn"
    assert run["agent_id"] == agent.id and run["background"] is False
    assert run["usage"]["step_count"] == 2
    messages = api.get(f"/v1/runs/{run_id}/messages").json()
    kinds = [m["message_type"] for m in messages]
    assert kinds == [
        "user_message",
        "reasoning_message",
        "tool_call_message",
        "tool_return_message",
        "assistant_message",
    ]
    # The agent's turns are among its runs; its background runs are filtered apart.
    assert [r["id"] for r in api.get(f"/v1/runs/?agent_id={agent.id}").json()] == [run_id]
    assert api.get(f"/v1/runs/?agent_id={agent.id}&background=true").json() == []


@committed
def test_cancelling_stops_a_turn_at_its_next_step(api, make_agent, user, llm):
    from accounts.services import create_api_key

    other_client = Client(headers={"Authorization": f"Bearer {create_api_key(user)[1]}"})
    agent = make_agent()
    conversation = new_conversation(api, agent)
    llm.tool_call("conversation_search", {"query": "x"})
    llm.hold()
    done = threading.Event()
    result: dict[str, Any] = {}

    def turn() -> None:
        try:
            result["answer"] = talk(api, conversation["id"], "search for ever")
        finally:
            connection.close()
            done.set()

    worker = threading.Thread(target=turn)
    worker.start()
    llm.main.wait_for_waiting()
    cancelled = post(other_client, f"/v1/conversations/{conversation['id']}/cancel", {})
    assert cancelled.status_code == 200
    (run_id,) = cancelled.json()["cancelled_run_ids"]
    llm.release()
    assert done.wait(10)
    worker.join()

    assert result["answer"]["stop_reason"]["stop_reason"] == "cancelled"
    run = Run.objects.get(pk=run_id)
    assert run.status == "cancelled" and run.step_count == 1
    # The model was asked once: the turn stopped instead of taking its second step.
    assert len(llm.requests) == 1


def test_a_turn_whose_process_died_is_failed_by_the_clock(make_agent, user, llm):
    from agents.runs import turns

    agent = make_agent()
    conversation = create_conversation(user, agent, ConversationSpec())
    run = turns.open_turn(agent, conversation)
    Conversation.objects.filter(pk=conversation.pk).update(turn_started_seq=5)
    stale = timezone.now() - timedelta(hours=1)
    Run.objects.filter(pk=run.pk).update(heartbeat_at=stale)

    assert runs.recover_lost_turns() == [run.id]
    run.refresh_from_db()
    assert run.status == "failed" and "stopped" in run.error
    assert Conversation.objects.get(pk=conversation.pk).turn_started_seq is None


# --- Sleep-time reads every thread ---------------------------------------------------------


def test_the_sleeptime_agent_reads_every_conversation_and_knows_which_is_which(
    make_agent, user, llm
):
    primary, _, group = pair(make_agent, sleeptime_agent_frequency=50)
    work = create_conversation(user, primary, ConversationSpec(summary="Work chat"))
    home = create_conversation(user, primary, ConversationSpec())
    send_message(primary, [InputMessage(role="user", content="I like tea")])
    send_message(primary, [InputMessage(role="user", content="deadline friday")], conversation=work)
    send_message(primary, [InputMessage(role="user", content="cat is sick")], conversation=home)

    text = run_sleeper_now(group).transcript
    order = [
        "[in the agent's own history]",
        "user: I like tea",
        f'[in conversation {work.id} ("Work chat")]',
        "user: deadline friday",
        f"[in conversation {home.id}]",
        "user: cat is sick",
    ]
    positions = [text.index(line) for line in order]
    assert positions == sorted(positions)


def test_a_transcript_stops_before_a_turn_still_running_in_another_conversation(
    make_agent, user, llm
):
    primary, _, group = pair(make_agent, sleeptime_agent_frequency=50)
    busy = create_conversation(user, primary, ConversationSpec())
    send_message(primary, [InputMessage(role="user", content="early")])
    send_message(primary, [InputMessage(role="user", content="slow question")], conversation=busy)
    send_message(primary, [InputMessage(role="user", content="quick one")])
    # As if the busy turn were still running: its question is where its turn began.
    question = Message.objects.get(content="slow question")
    Conversation.objects.filter(pk=busy.pk).update(turn_started_seq=question.seq)
    primary.refresh_from_db()
    assert threads.transcript_until(primary) == question.seq - 1

    text = run_sleeper_now(group).transcript
    assert "user: early" in text
    assert "slow question" not in text and "quick one" not in text

    # Once the turn ends, the next run reads from where the first stopped.
    Conversation.objects.filter(pk=busy.pk).update(turn_started_seq=None)
    text = run_sleeper_now(group).transcript
    assert "user: slow question" in text and "user: quick one" in text
    assert "early" not in text


def test_a_stored_message_and_a_conversations_turns_can_be_looked_up(api, make_agent, llm):
    agent = make_agent()
    conversation = new_conversation(api, agent)
    llm.tool_call("send_message", {"message": "Hi there."}, content="A greeting.")
    answer = talk(api, conversation["id"], "hello")
    talk(api, "default", "elsewhere", agent_id=agent.id)

    reply_id = answer["messages"][0]["id"]
    parts = api.get(f"/v1/messages/{reply_id}").json()
    assert [p["message_type"] for p in parts] == ["reasoning_message", "assistant_message"]
    assert {p["id"] for p in parts} == {reply_id}

    turns = api.get(
        f"/v1/runs/?conversation_id={conversation['id']}&statuses=completed&order=desc&limit=1"
    ).json()
    assert [run["id"] for run in turns] == [answer["usage"]["run_id"]]
    assert api.get("/v1/messages/message-00000000-0000-0000-0000-000000000000").status_code == 404


@committed
def test_a_turn_is_marked_running_from_its_first_message_until_it_ends(make_agent, user, llm):
    agent = make_agent()
    busy = create_conversation(user, agent, ConversationSpec())
    send_message(agent, [InputMessage(role="user", content="before")])
    llm.hold()

    def turn() -> None:
        try:
            send_message(agent, [InputMessage(role="user", content="slow")], conversation=busy)
        finally:
            connection.close()

    worker = threading.Thread(target=turn)
    worker.start()
    try:
        llm.main.wait_for_waiting()
        question = Message.objects.get(content="slow")
        busy.refresh_from_db()
        assert busy.turn_started_seq is not None
        assert busy.turn_started_seq <= question.seq
        agent.refresh_from_db()
        assert threads.transcript_until(agent) < question.seq
    finally:
        llm.release()
        worker.join(10)
    busy.refresh_from_db()
    agent.refresh_from_db()
    assert busy.turn_started_seq is None and busy.last_message_at is not None
    assert threads.transcript_until(agent) == agent.last_turn_end_seq
