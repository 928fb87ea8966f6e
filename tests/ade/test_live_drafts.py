"""A reply the model is writing, on the agent page's websocket (the real ASGI app and the
PostgreSQL channel layer): its first piece adds a draft to the chat, the next ones append
to that draft, the stored message then comes with the draft's id (the page swaps it in,
static/reverie.js), and a reply that breaks off takes its draft away."""

from __future__ import annotations

import html
import re
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.utils import timezone

from agents import chat, services
from agents.loop import InputMessage
from agents.models import Message, Role
from config.asgi import application
from llm import Delta
from tests.ade import closed_thread_connection, session_cookie
from tests.factories import make_user

pytestmark = pytest.mark.django_db(transaction=True)

REPLY = "Tea, <b>green</b> & black, in the morning."


@pytest.fixture
def owner_and_agent() -> Any:
    from tests.factories import make_agent

    owner = make_user("owner", password="pw")
    return owner, make_agent(owner, name="drafts")


async def _socket(owner: Any, agent: Any) -> WebsocketCommunicator:
    cookie = await sync_to_async(session_cookie)(owner)
    headers = [(b"origin", b"http://localhost"), (b"host", b"localhost"), (b"cookie", cookie)]
    communicator = WebsocketCommunicator(application, f"/ws/agents/{agent.id}/", headers=headers)
    connected, _ = await communicator.connect()
    assert connected
    for _ in range(4):  # the state on connecting: blocks, sleep status, chat, settings
        await communicator.receive_from(timeout=5)
    return communicator


async def _frames_until(communicator: WebsocketCommunicator, needle: str) -> list[str]:
    frames: list[str] = []
    while not frames or needle not in frames[-1]:
        frames.append(await communicator.receive_from(timeout=5))
    return frames


def _appended_text(frame: str, item: str) -> str:
    match = re.search(rf'<div hx-swap-oob="beforeend:#draft-{item}">(.*?)</div>', frame, re.S)
    assert match, frame
    return html.unescape(match.group(1))


async def test_a_reply_grows_in_a_draft_that_the_stored_message_replaces(
    owner_and_agent, llm, monkeypatch
):
    owner, agent = owner_and_agent
    monkeypatch.setattr(chat, "DRAFT_INTERVAL", 0)  # every piece is pushed as it comes
    communicator = await _socket(owner, agent)
    llm.main.reply(REPLY)
    send = closed_thread_connection(services.send_message)
    await send(agent, [InputMessage(role="user", content="What do I drink?")], stream_tokens=True)

    frames = await _frames_until(communicator, "What do I drink?")
    frames = await _frames_until(communicator, 'class="msg msg-assistant"')
    stored = await sync_to_async(Message.objects.get)(agent=agent, role=Role.ASSISTANT)
    item = f"{stored.uid}-{stored.uid.removeprefix('message-')}-0"
    first, *appends, final = frames
    assert 'hx-swap-oob="beforeend:#chat-log"' in first
    assert f'id="chat-{item}"' in first and "data-draft" in first
    assert f'id="draft-{item}">{html.escape(REPLY[:8])}</div>' in first
    assert len(appends) > 2
    growth = REPLY[:8] + "".join(_appended_text(frame, item) for frame in appends)
    assert growth == REPLY
    assert "<b>" not in "".join(frames)  # the model's text is text, never markup
    # The stored message, with the draft's id, not a draft.
    assert f'id="chat-{item}"' in final and "data-draft" not in final
    assert html.escape(REPLY) in final
    assert await communicator.receive_nothing(timeout=0.3)
    await communicator.disconnect()


async def test_a_reply_that_breaks_off_takes_its_draft_away(owner_and_agent, llm):
    owner, agent = owner_and_agent
    communicator = await _socket(owner, agent)
    llm.main.reply(REPLY)
    llm.main.break_stream(after=3)
    send = closed_thread_connection(services.send_message)
    result = await send(agent, [InputMessage(role="user", content="hi")], stream_tokens=True)
    assert result.stop_reason == "error"

    frames = await _frames_until(communicator, "data-draft")
    item = re.search(r'id="chat-([^"]+)"[^>]*data-draft', frames[-1]).group(1)
    frames = await _frames_until(communicator, 'hx-swap-oob="delete"')
    assert f'<div id="chat-{item}" hx-swap-oob="delete"></div>' in frames[-1]
    await communicator.disconnect()


def test_long_pieces_are_cut_to_fit_an_event(monkeypatch):
    pushed: list[tuple[str, str, bool]] = []
    monkeypatch.setattr(
        chat.events,
        "publish_message_delta",
        lambda agent_id, item, kind, text, start, conversation_id: pushed.append(
            (item, text, start)
        ),
    )
    drafts = chat.LiveDrafts("agent-1")
    draft = Message(role=Role.ASSISTANT, turn_id="t", step=1, created_at=timezone.now())
    text = "🦊" * (chat.DRAFT_PIECE * 2 + 10)
    drafts.delta(draft, Delta("content", text))

    assert [len(piece) for _, piece, _ in pushed] == [chat.DRAFT_PIECE] * 2 + [10]
    assert [start for _, _, start in pushed] == [True, False, False]
    assert "".join(piece for _, piece, _ in pushed) == text
