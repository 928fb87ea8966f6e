"""`/v1/messages/{id}`: one stored message, as the Letta messages it renders to."""

from __future__ import annotations

from typing import Any

from ninja import Router

from agents.letta_format import to_letta
from agents.models import Agent, Message
from config.errors import NotFound
from config.requests import ApiRequest

messages_router = Router(tags=["messages"])


@messages_router.get("/{message_id}")
def retrieve_message(request: ApiRequest, message_id: str) -> list[dict[str, Any]]:
    """A list, as Letta's: a stored message may be a reasoning, a tool call and more."""
    visible = Agent.objects.for_user(request.auth)
    message = Message.objects.filter(uid=message_id, agent__in=visible).first()
    if message is None:
        raise NotFound(f"Message '{message_id}' not found")
    return to_letta(message)
