"""Proposals arriving live, through the real ASGI app and the PostgreSQL channel layer:
the agent page's socket gets the review link with its new count, the review page's
socket the queue (with buttons only for those who may decide), and nothing else."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator

from config.asgi import application
from memory import proposals
from tests.ade import closed_thread_connection, session_cookie
from tests.ade.proposals import review_pair, two_hunks
from tests.factories import build_team, make_agent, make_user

pytestmark = pytest.mark.django_db(transaction=True)


async def _connect(agent_id: str, user: Any, query: str) -> WebsocketCommunicator:
    cookie = await sync_to_async(session_cookie)(user)
    headers = [(b"origin", b"http://localhost"), (b"host", b"localhost"), (b"cookie", cookie)]
    communicator = WebsocketCommunicator(application, f"/ws/agents/{agent_id}/{query}", headers)
    connected, _ = await communicator.connect()
    assert connected
    return communicator


async def _until(communicator: WebsocketCommunicator, marker: str) -> str:
    while True:
        frame = await communicator.receive_from(timeout=5)
        if marker in frame:
            return frame


async def _drain(communicator: WebsocketCommunicator) -> list[str]:
    """Every frame until the socket is quiet for half a second."""
    frames = []
    while not await communicator.receive_nothing(timeout=0.5):
        frames.append(await communicator.receive_from(timeout=5))
    return frames


def _fresh() -> str:
    # Rendered "now", past the consumer's clock margin: nothing to send on connecting.
    return f"since={time.time() + 3:.3f}"


async def test_a_proposal_updates_the_agent_pages_count_and_the_review_queue():
    owner = await sync_to_async(make_user)("owner", password="pw")
    primary, sleeper, _, _ = await closed_thread_connection(review_pair)(
        lambda **fields: make_agent(owner, **fields)
    )
    review = await _connect(primary.id, owner, f"?page=review&{_fresh()}")
    assert await review.receive_nothing(timeout=0.5)
    agent_page = await _connect(primary.id, owner, f"?{_fresh()}&blocks=x")
    await _until(agent_page, 'id="memory-blocks"')  # its blocks differ from "x"

    _, proposal = await closed_thread_connection(two_hunks)(primary, sleeper)

    badge = await _until(agent_page, 'id="review-link"')
    assert 'hx-swap-oob="true"' in badge
    assert '<span class="badge review-count">1<span class="visually-hidden"> waiting' in badge
    queue = await _until(review, 'id="review-proposals"')
    assert 'hx-swap-oob="true"' in queue and f'id="proposal-{proposal.id}"' in queue
    assert "Accept all" in queue
    # The queue again for the second edit; no run, block or chat frames.
    assert all('id="review-proposals"' in frame for frame in await _drain(review))
    await _drain(agent_page)

    await closed_thread_connection(proposals.reject)(proposal.id, owner)
    badge = await _until(agent_page, 'id="review-link"')
    assert "review-count" not in badge
    queue = await _until(review, 'id="review-proposals"')
    assert "Nothing waits for review." in queue and "rejected" in queue
    await review.disconnect()
    await agent_page.disconnect()
    await asyncio.sleep(0)


async def test_a_viewers_queue_comes_without_buttons(django_user_model):
    team = await closed_thread_connection(build_team)(django_user_model)
    primary, sleeper, _, _ = await closed_thread_connection(review_pair)(
        lambda **fields: make_agent(team.admin.user, **fields)
    )
    review = await _connect(primary.id, team.viewer.user, "?page=review")
    first = await review.receive_from(timeout=5)  # an old page: the queue at once
    assert "Nothing waits for review." in first

    await closed_thread_connection(two_hunks)(primary, sleeper)

    queue = await _until(review, "+City: Paris")
    assert "Accept" not in queue and "Viewers read the queue" in queue
    await review.disconnect()
    await asyncio.sleep(0)
