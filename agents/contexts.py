"""What the parts of an agent's page show that its websocket (config/consumers.py)
renders again when they change: both render the same partials from these."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from agents.forms import AgentConfigForm, embedding_suggestions, model_suggestions
from agents.models import Agent
from agents.tools import TOOLS


def config_context(
    agent: Agent, form: AgentConfigForm | None = None, *, saved: bool = False
) -> dict[str, Any]:
    """What `_config.html` shows: the facts, or the form when one is given."""
    return {
        "agent": agent,
        "tools": [(name, TOOLS[name].description if name in TOOLS else "") for name in agent.tools],
        "config_form": form,
        "config_saved": saved,
        "config_models": model_suggestions() if form is not None else [],
        "config_embeddings": embedding_suggestions() if form is not None else [],
    }


# Panels of the page that apps above this one show: the sources app adds its panel's
# context when it starts (sources/apps.py), as feature apps add their tools.
PAGE_PARTS: list[Callable[[Agent], dict[str, Any]]] = []


def register_page_part(part: Callable[[Agent], dict[str, Any]]) -> None:
    PAGE_PARTS.append(part)


def page_parts(agent: Agent) -> dict[str, Any]:
    """The context of every panel other apps contribute to `agent`'s page."""
    context: dict[str, Any] = {}
    for part in PAGE_PARTS:
        context.update(part(agent))
    return context
