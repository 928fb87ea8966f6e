"""Websocket routes; live block updates arrive with the ADE issue."""

from __future__ import annotations

from typing import Any

websocket_urlpatterns: list[Any] = []
