from __future__ import annotations

import json

from django.template.loader import render_to_string
from django.urls import reverse

from agents.models import Message
from memory.models import Block
from tests.factories import make_agent as build_agent


def _page(client, agent) -> str:
    response = client.get(reverse("agents:detail", args=[agent.id]))
    assert response.status_code == 200
    return response.content.decode()


def test_the_page_shows_configuration_chat_and_memory(signed_in, make_agent):
    agent = make_agent(name="helper", enable_sleeptime=True)
    body = _page(signed_in, agent)
    assert "openai/gpt-4.1" in body
    assert "openai/text-embedding-3-small" in body
    assert "<summary>System prompt</summary>" in body
    assert "<code>send_message</code>" in body
    assert "every 5 turns" in body
    assert "helper-sleeptime" in body
    assert f'action="{reverse("agents:send_message", args=[agent.id])}"' in body
    assert f'hx-post="{reverse("agents:send_message", args=[agent.id])}"' in body


def test_each_block_has_a_stable_id_a_usage_meter_and_its_value(signed_in, make_agent):
    agent = make_agent(blocks={"persona": "I am a helpful assistant.", "human": ""})
    persona = Block.objects.get(agent_links__agent=agent, label="persona")
    persona.read_only = True
    persona.save()
    body = _page(signed_in, agent)
    for block in Block.objects.filter(agent_links__agent=agent):
        assert f'id="{block.id}"' in body
    assert f'<meter min="0" max="{persona.limit}" value="25"' in body
    assert '<pre class="block-value">I am a helpful assistant.</pre>' in body
    assert "read-only" in body


def test_block_values_and_messages_are_shown_as_text_not_markup(signed_in, make_agent):
    agent = make_agent(blocks={"persona": "<script>alert('block')</script>", "human": ""})
    Message.objects.create(agent=agent, role="user", content="<script>alert('user')</script>")
    body = _page(signed_in, agent)
    assert "<script>alert" not in body
    assert "&lt;script&gt;alert(&#x27;block&#x27;)&lt;/script&gt;" in body
    assert "&lt;script&gt;alert(&#x27;user&#x27;)&lt;/script&gt;" in body


def test_the_chat_shows_each_kind_of_message(signed_in, make_agent):
    agent = make_agent(name="helper")
    Message.objects.create(agent=agent, role="user", content="What is 2+2?")
    Message.objects.create(
        agent=agent,
        role="assistant",
        reasoning="The user wants arithmetic.",
        tool_calls=[
            {"id": "call_1", "name": "archival_memory_search", "arguments": '{"query": "sums"}'},
            {"id": "call_2", "name": "send_message", "arguments": '{"message": "It is 4."}'},
        ],
    )
    Message.objects.create(
        agent=agent,
        role="tool",
        tool_call_id="call_1",
        tool_name="archival_memory_search",
        tool_status="success",
        content=json.dumps({"status": "OK", "message": "No results found."}),
    )
    body = _page(signed_in, agent)
    assert "What is 2+2?" in body
    assert "<summary>Reasoning</summary>" in body and "The user wants arithmetic." in body
    assert "<code>archival_memory_search</code>" in body
    assert "&quot;query&quot;: &quot;sums&quot;" in body  # pretty-printed arguments
    assert "No results found." in body
    assert '<div class="text">It is 4.</div>' in body


def test_the_chat_shows_the_last_fifty_messages(signed_in, make_agent):
    agent = make_agent()
    for number in range(60):
        Message.objects.create(agent=agent, role="user", content=f"message number {number}.")
    body = _page(signed_in, agent)
    assert "message number 9." not in body
    assert "message number 10." in body
    assert "message number 59." in body
    assert body.index("message number 10.") < body.index("message number 59.")


def test_another_persons_agent_is_not_found(signed_in, stranger):
    theirs = build_agent(stranger, name="theirs")
    assert signed_in.get(reverse("agents:detail", args=[theirs.id])).status_code == 404
    response = signed_in.post(reverse("agents:send_message", args=[theirs.id]), {"text": "hi"})
    assert response.status_code == 404
    assert not theirs.messages.exists()


def test_a_missing_agent_is_not_found(signed_in):
    url = reverse("agents:detail", args=["agent-00000000-0000-0000-0000-000000000000"])
    assert signed_in.get(url).status_code == 404


def test_a_sleeptime_agents_page_links_back_to_its_primary(signed_in, make_agent):
    primary = make_agent(name="helper", enable_sleeptime=True)
    sleeper = primary.managed_group.participants.get()
    body = _page(signed_in, sleeper)
    assert "This is the sleep-time agent of" in body
    assert f'href="{reverse("agents:detail", args=[primary.id])}"' in body
    assert "memory_persona" in body


def test_the_block_partial_renders_on_its_own_for_live_updates(make_agent):
    agent = make_agent(blocks={"persona": "<b>bold</b>", "human": ""})
    block = Block.objects.get(agent_links__agent=agent, label="persona")
    html = render_to_string("agents/partials/_block.html", {"block": block})
    assert html.lstrip().startswith(f'<article class="block" id="{block.id}"')
    assert "&lt;b&gt;bold&lt;/b&gt;" in html
