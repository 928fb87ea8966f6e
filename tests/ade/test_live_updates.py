"""The agent page's websocket, through the real ASGI app, session auth and the
PostgreSQL channel layer: access is checked, the state is sent on connect, and a block
edit committed anywhere arrives as the block's partial with its changed lines marked."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.db import connection
from django.test import Client

from config.asgi import application
from memory import services as memory_services
from memory.consumers import FORBIDDEN

pytestmark = pytest.mark.django_db(transaction=True)


def _session_cookie(user: Any) -> bytes:
    client = Client()
    client.force_login(user)
    return f"sessionid={client.cookies['sessionid'].value}".encode()


async def _connect(agent_id: str, cookie: bytes | None) -> WebsocketCommunicator:
    headers = [(b"origin", b"http://localhost"), (b"host", b"localhost")]
    if cookie:
        headers.append((b"cookie", cookie))
    return WebsocketCommunicator(application, f"/ws/agents/{agent_id}/", headers=headers)


def _closed_thread_connection(func: Any) -> Any:
    def run(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        finally:
            connection.close()

    return sync_to_async(run)


@pytest.fixture
def setup(django_user_model: Any) -> Any:
    from tests.factories import make_agent

    owner = django_user_model.objects.create_user(username="owner", password="pw")
    stranger = django_user_model.objects.create_user(username="stranger", password="pw")
    agent = make_agent(owner, name="live", blocks={"human": "Name: Ada\nLikes: tea"})
    return owner, stranger, agent


async def test_a_visitor_without_a_session_is_turned_away(setup):
    _, _, agent = setup
    communicator = await _connect(agent.id, None)
    connected, code = await communicator.connect()
    assert not connected and code == FORBIDDEN


async def test_another_users_agent_is_turned_away(setup):
    _, stranger, agent = setup
    cookie = await sync_to_async(_session_cookie)(stranger)
    communicator = await _connect(agent.id, cookie)
    connected, code = await communicator.connect()
    assert not connected and code == FORBIDDEN


async def test_the_owner_gets_the_state_then_each_committed_edit_with_its_lines_marked(setup):
    owner, _, agent = setup
    block = await sync_to_async(memory_services.get_agent_block)(agent, "human")
    cookie = await sync_to_async(_session_cookie)(owner)
    communicator = await _connect(agent.id, cookie)
    connected, _ = await communicator.connect()
    assert connected

    snapshot = await communicator.receive_from(timeout=5)
    assert f'id="{block.id}"' in snapshot and 'hx-swap-oob="true"' in snapshot
    status = await communicator.receive_from(timeout=5)
    assert 'id="sleep-status"' in status

    await _closed_thread_connection(memory_services.update_block)(
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


async def test_a_reconnecting_page_gets_the_edits_it_missed(setup):
    owner, _, agent = setup
    block = await sync_to_async(memory_services.get_agent_block)(agent, "human")
    await _closed_thread_connection(memory_services.update_block)(
        block.id, actor=memory_services.Actor.for_user(owner), value="Name: Grace"
    )
    cookie = await sync_to_async(_session_cookie)(owner)
    communicator = await _connect(agent.id, cookie)
    await communicator.connect()
    snapshot = await communicator.receive_from(timeout=5)
    assert "Name: Grace" in snapshot
    await communicator.disconnect()
    await asyncio.sleep(0)
