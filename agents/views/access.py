"""The agent a page is about, as the signed-in person may see it (every app's views)."""

from __future__ import annotations

from django.http import Http404, HttpRequest

from agents import services
from agents.models import Agent
from config.errors import NotFound


def agent_or_404(request: HttpRequest, agent_id: str) -> Agent:
    try:
        return services.get_agent_for_user(request.user, agent_id)
    except NotFound:
        raise Http404("Agent not found") from None
