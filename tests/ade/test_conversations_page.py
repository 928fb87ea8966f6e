"""The agent page's conversations: switch between threads, start one, talk in one, and
approve or deny the tool calls a turn stopped on."""

from __future__ import annotations

import pytest
from asgiref.sync import sync_to_async
from django.urls import reverse

from agents import services
from agents.conversations import ConversationSpec, create_conversation
from agents.loop import InputMessage
from agents.models import Conversation, Message
from memory.models import Passage
from tests.ade import HTMX, closed_thread_connection, session_cookie
from tests.ade.test_live_updates import _connect, _snapshot
from tests.factories import make_user


def page(client, agent, conversation=None) -> str:
    url = reverse("agents:detail", args=[agent.id])
    if conversation is not None:
        url += f"?conversation={conversation.id}"
    response = client.get(url)
    assert response.status_code == 200
    return response.content.decode()


def say(agent, text, conversation=None):
    return services.send_message(
        agent, [InputMessage(role="user", content=text)], conversation=conversation
    )


def test_the_page_lists_the_threads_and_shows_the_one_asked_for(signed_in, user, make_agent, llm):
    agent = make_agent()
    trip = create_conversation(user, agent, ConversationSpec(summary="Trip to Oslo"))
    say(agent, "hello from my own history")
    say(agent, "hello from the trip", trip)

    own = page(signed_in, agent)
    assert "Trip to Oslo" in own and f"?conversation={trip.id}" in own
    assert "hello from my own history" in own and "hello from the trip" not in own

    shown = page(signed_in, agent, trip)
    assert "hello from the trip" in shown and "hello from my own history" not in shown
    # The form sends into the thread shown, and the socket follows it.
    assert f'name="conversation" value="{trip.id}"' in shown
    assert f"&amp;conversation={trip.id}" in shown


def test_a_message_sent_from_a_conversations_page_lands_in_it(signed_in, user, make_agent, llm):
    agent = make_agent()
    trip = create_conversation(user, agent, ConversationSpec())
    url = reverse("agents:send_message", args=[agent.id])
    response = signed_in.post(url, {"text": "pack the coats", "conversation": trip.id}, **HTMX)
    assert response.status_code == 200
    body = response.content.decode()
    assert "echo: pack the coats" in body
    assert f'name="conversation" value="{trip.id}"' in body  # the fresh form stays there
    (question,) = Message.objects.filter(agent=agent, role="user")
    assert question.conversation_id == trip.id


def test_a_new_conversation_opens_empty(signed_in, make_agent, llm):
    agent = make_agent()
    say(agent, "an old thread")
    response = signed_in.post(reverse("agents:conversation_create", args=[agent.id]))
    (made,) = Conversation.objects.filter(agent=agent)
    assert response["Location"].endswith(f"?conversation={made.id}#chat")
    assert "an old thread" not in page(signed_in, agent, made)


def test_a_conversation_started_untrusted_is_marked_so(signed_in, make_agent, llm):
    agent = make_agent()
    signed_in.post(reverse("agents:conversation_create", args=[agent.id]), {"untrusted": "on"})
    signed_in.post(reverse("agents:conversation_create", args=[agent.id]))
    doubted, plain = Conversation.objects.filter(agent=agent).order_by("created_at")
    assert (doubted.trusted, plain.trusted) == (False, True)
    body = page(signed_in, agent, plain)
    assert body.count(">untrusted</span>") == 1  # the one started untrusted, in the switcher


def test_another_agents_conversation_is_a_404(signed_in, user, make_agent):
    agent, other = make_agent(), make_agent(name="other")
    theirs = create_conversation(user, other, ConversationSpec())
    url = reverse("agents:detail", args=[agent.id]) + f"?conversation={theirs.id}"
    assert signed_in.get(url).status_code == 404


def test_a_tool_that_requires_approval_is_approved_on_the_page(signed_in, user, make_agent, llm):
    agent = make_agent()
    rules = [{"tool_name": "archival_memory_insert", "type": "requires_approval"}]
    services.update_agent(agent, {"tool_rules": rules}, user=user)
    llm.tool_call("archival_memory_insert", {"content": "Ada likes tea"})
    say(agent, "remember I like tea")

    shown = page(signed_in, agent)
    assert "Waiting for approval:" in shown and "archival_memory_insert" in shown
    assert 'value="approve"' in shown
    call_id = shown.split('name="tool_call_id" value="', 1)[1].split('"', 1)[0]

    llm.reply("Saved it.")
    answer = signed_in.post(
        reverse("agents:approval_answer", args=[agent.id]),
        {"tool_call_id": call_id, "decision": "approve"},
        **HTMX,
    )
    body = answer.content.decode()
    assert answer.status_code == 200
    assert "Saved it." in body and "Waiting for approval:" not in body
    assert Passage.objects.filter(agent=agent, text="Ada likes tea").exists()


def test_a_client_side_tool_can_only_be_denied_on_the_page(signed_in, make_agent, llm):
    agent = make_agent()
    llm.tool_call("ShellCommand", {"command": "ls"})
    services.send_message(
        agent,
        [InputMessage(role="user", content="list my files")],
        client_tools=[{"name": "ShellCommand", "description": "", "parameters": None}],
    )
    shown = page(signed_in, agent)
    assert "Waiting for approval:" in shown and 'value="approve"' not in shown
    call_id = shown.split('name="tool_call_id" value="', 1)[1].split('"', 1)[0]

    llm.reply("All right, I will not.")
    body = signed_in.post(
        reverse("agents:approval_answer", args=[agent.id]),
        {"tool_call_id": call_id, "decision": "deny"},
        **HTMX,
    ).content.decode()
    assert "denied" in body and "All right, I will not." in body


@pytest.mark.django_db(transaction=True)
async def test_the_socket_of_a_conversations_page_shows_that_thread_only(django_user_model, llm):
    from tests.factories import make_agent

    owner = await sync_to_async(make_user)("owner", password="pw")
    agent = await sync_to_async(make_agent)(owner, name="threads")
    trip = await sync_to_async(create_conversation)(owner, agent, ConversationSpec())
    cookie = await sync_to_async(session_cookie)(owner)
    communicator = await _connect(agent.id, cookie, f"?conversation={trip.id}")
    connected, _ = await communicator.connect()
    assert connected
    await _snapshot(communicator)

    send = closed_thread_connection(services.send_message)
    # Neither its messages nor the drafts of its reply reach a page on another thread.
    await send(agent, [InputMessage(role="user", content="in my own history")], stream_tokens=True)
    assert await communicator.receive_nothing(timeout=0.5)
    await send(agent, [InputMessage(role="user", content="on the trip")], conversation=trip)
    frame = await communicator.receive_from(timeout=5)
    assert "on the trip" in frame
    await communicator.disconnect()
