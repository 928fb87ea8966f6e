"""The agent page's websocket, through the real ASGI app, session auth and the
PostgreSQL channel layer: access is checked, the state is sent on connect, and a block
edit committed anywhere arrives as the block's partial with its changed lines marked."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator

from agents import runs, services
from agents.loop import InputMessage
from config.asgi import application
from config.consumers import FORBIDDEN
from memory import services as memory_services
from tests.ade import closed_thread_connection, session_cookie
from tests.factories import make_user

pytestmark = pytest.mark.django_db(transaction=True)


async def _connect(agent_id: str, cookie: bytes | None, query: str = "") -> WebsocketCommunicator:
    headers = [(b"origin", b"http://localhost"), (b"host", b"localhost")]
    if cookie:
        headers.append((b"cookie", cookie))
    return WebsocketCommunicator(application, f"/ws/agents/{agent_id}/{query}", headers=headers)


@pytest.fixture
def setup(django_user_model: Any) -> Any:
    from tests.factories import make_agent

    owner = make_user("owner", password="pw")
    stranger = make_user("stranger", password="pw")
    agent = make_agent(owner, name="live", blocks={"human": "Name: Ada\nLikes: tea"})
    return owner, stranger, agent


async def test_a_visitor_without_a_session_is_turned_away(setup):
    _, _, agent = setup
    communicator = await _connect(agent.id, None)
    connected, code = await communicator.connect()
    assert not connected and code == FORBIDDEN


async def test_another_users_agent_is_turned_away(setup):
    _, stranger, agent = setup
    cookie = await sync_to_async(session_cookie)(stranger)
    communicator = await _connect(agent.id, cookie)
    connected, code = await communicator.connect()
    assert not connected and code == FORBIDDEN


async def test_the_owner_gets_the_state_then_each_committed_edit_with_its_lines_marked(setup):
    owner, _, agent = setup
    block = await sync_to_async(memory_services.get_agent_block)(agent, "human")
    cookie = await sync_to_async(session_cookie)(owner)
    communicator = await _connect(agent.id, cookie)
    connected, _ = await communicator.connect()
    assert connected

    blocks, status, chat, settings = await _snapshot(communicator)
    assert f'id="{block.id}"' in blocks and 'hx-swap-oob="true"' in blocks
    assert 'id="sleep-status"' in status
    assert 'id="chat-log" hx-swap-oob="innerHTML"' in chat and "No messages yet." in chat
    assert 'id="agent-name"' in settings and 'id="config-facts"' in settings

    await closed_thread_connection(memory_services.update_block)(
        block.id,
        actor=memory_services.Actor.for_user(owner),
        value="Name: Ada\nLikes: <script>alert(1)</script>",
    )
    pushed = await communicator.receive_from(timeout=5)
    assert f'id="{block.id}"' in pushed
    assert '<span class="line">Name: Ada</span>' in pushed
    assert (
        '<span class="line changed">Likes: &lt;script&gt;alert(1)&lt;/script&gt;</span>' in pushed
    )
    assert "<script>" not in pushed
    await communicator.disconnect()


async def _snapshot(communicator: WebsocketCommunicator) -> list[str]:
    """What a (re)connecting page gets first: blocks, sleep status, chat log, settings."""
    return [await communicator.receive_from(timeout=5) for _ in range(4)]


async def _owner_socket(owner: Any, agent: Any) -> WebsocketCommunicator:
    cookie = await sync_to_async(session_cookie)(owner)
    communicator = await _connect(agent.id, cookie)
    connected, _ = await communicator.connect()
    assert connected
    await _snapshot(communicator)
    return communicator


async def test_a_turn_streams_into_the_chat_as_each_message_is_stored(setup, llm):
    owner, _, agent = setup
    communicator = await _owner_socket(owner, agent)
    llm.main.tool_call("archival_memory_search", {"query": "tea"}, content="Let me look.")
    llm.main.tool_call("send_message", {"message": "You like <b>tea</b>."})
    send = closed_thread_connection(services.send_message)
    await send(agent, [InputMessage(role="user", content="What do I like?")])

    frames = [await communicator.receive_from(timeout=5) for _ in range(4)]
    user, call, result, reply = frames
    assert 'hx-swap-oob="beforeend:#chat-log"' in user and "What do I like?" in user
    # The call appears at once, open to its arguments, and is replaced when its result is in.
    assert "Let me look." in call and "archival_memory_search" in call and "Result" not in call
    assert 'hx-swap-oob="true"' in result and "Result" in result
    call_id = call.split('id="chat-', 2)[2].split('"', 1)[0]
    assert f'id="chat-{call_id}"' in result
    assert "You like &lt;b&gt;tea&lt;/b&gt;." in reply and "<b>" not in reply
    # send_message's own result is never shown, so nothing more comes.
    assert await communicator.receive_nothing(timeout=0.5)
    await communicator.disconnect()


async def test_a_settings_change_made_elsewhere_updates_the_page(setup):
    owner, _, agent = setup
    communicator = await _owner_socket(owner, agent)
    await closed_thread_connection(services.update_agent)(agent, {"name": "renamed"}, user=owner)
    pushed = await communicator.receive_from(timeout=5)
    assert '<h1 id="agent-name" hx-swap-oob="true">renamed</h1>' in pushed
    assert '<div id="config-facts" hx-swap-oob="true">' in pushed
    await communicator.disconnect()


async def test_a_finished_sleeptime_run_adds_its_card_to_the_chat(django_user_model, llm):
    from tests.factories import make_agent

    owner = await sync_to_async(make_user)("o", password="pw")
    primary = await closed_thread_connection(make_agent)(
        owner, name="chat", blocks={"human": "Name: ?"}, enable_sleeptime=True
    )
    result = await closed_thread_connection(services.send_message)(
        primary, [InputMessage(role="user", content="I am Ada")]
    )
    communicator = await _owner_socket(owner, primary)
    llm.sleeper.tool_call("memory_replace", {"label": "human", "old_str": "?", "new_str": "Ada"})
    await closed_thread_connection(runs.execute_run)(result.run_ids[0])

    frames = []
    while not any("chat-run-" in frame for frame in frames):
        frames.append(await communicator.receive_from(timeout=5))
    card = frames[-1]
    assert 'hx-swap-oob="beforeend:#chat-log"' in card
    assert f'href="/runs/{result.run_ids[0]}/"' in card
    assert "1 block changed" in card and "completed" in card
    await communicator.disconnect()


async def test_a_reconnecting_page_gets_the_edits_it_missed(setup):
    owner, _, agent = setup
    block = await sync_to_async(memory_services.get_agent_block)(agent, "human")
    await closed_thread_connection(memory_services.update_block)(
        block.id, actor=memory_services.Actor.for_user(owner), value="Name: Grace"
    )
    cookie = await sync_to_async(session_cookie)(owner)
    communicator = await _connect(agent.id, cookie)
    await communicator.connect()
    snapshot = await communicator.receive_from(timeout=5)
    assert "Name: Grace" in snapshot
    await communicator.disconnect()
    await asyncio.sleep(0)


async def test_a_freshly_rendered_page_is_sent_only_what_changed_since(setup):
    """Re-sending what the page already shows would steal the keyboard focus."""
    owner, _, agent = setup
    cookie = await sync_to_async(session_cookie)(owner)
    blocks = await closed_thread_connection(memory_services.agent_blocks)(agent)
    fingerprint = memory_services.blocks_fingerprint(blocks)
    # Rendered well after the set-up (more than the consumer's margin for clock skew).
    rendered_at = time.time() + 3
    current = f"?since={rendered_at:.3f}&blocks={fingerprint}"
    communicator = await _connect(agent.id, cookie, query=current)
    assert (await communicator.connect())[0]
    assert await communicator.receive_nothing(timeout=0.5)
    await communicator.disconnect()

    await closed_thread_connection(memory_services.update_block)(
        blocks[0].id, actor=memory_services.Actor.for_user(owner), value="Name: Grace"
    )
    # The page rendered before that edit gets its blocks again, and only them.
    communicator = await _connect(agent.id, cookie, query=current)
    await communicator.connect()
    frame = await communicator.receive_from(timeout=5)
    assert "Name: Grace" in frame and 'id="memory-blocks"' in frame
    assert await communicator.receive_nothing(timeout=0.5)
    await communicator.disconnect()
    await asyncio.sleep(0)
