"""Websocket routes."""

from __future__ import annotations

from typing import Any

from django.urls import path

from config.consumers import AgentConsumer

websocket_urlpatterns: list[Any] = [
    path("ws/agents/<str:agent_id>/", AgentConsumer.as_asgi()),
]
