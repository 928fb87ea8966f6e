"""An agent's memory as pages: its archival passages and what its context window holds."""

from __future__ import annotations

from typing import Any, TypedDict, cast
from urllib.parse import urlencode

from django.contrib.auth.decorators import login_required
from django.db.models import Model, Prefetch, QuerySet, prefetch_related_objects
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from agents import services
from agents.views.access import agent_or_404
from config.errors import NotFound
from memory import services as memory_services
from memory.models import Passage

# --- Archival memory and the context window ------------------------------------------------

ARCHIVAL_PAGE = 50


@login_required
@require_GET
def archival(request: HttpRequest, agent_id: str) -> HttpResponse:
    """The agent's passages and its sources', newest first, with a text filter (`?q=`);
    paged by `?after=<id of the last passage shown>`."""
    agent = agent_or_404(request, agent_id)
    query = request.GET.get("q", "").strip()
    after = request.GET.get("after", "").strip() or None
    try:
        # One more than a page tells whether an older page exists, without a count query.
        passages = memory_services.list_passages(
            agent, search=query or None, after=after, limit=ARCHIVAL_PAGE + 1, ascending=False
        )
    except NotFound:
        # The cursor's passage is gone (deleted meanwhile): start from the newest again.
        after = None
        passages = memory_services.list_passages(
            agent, search=query or None, limit=ARCHIVAL_PAGE + 1, ascending=False
        )
    page = passages[:ARCHIVAL_PAGE]
    # Two queries for the page's sources and files, however many passages it shows; an
    # unprocessed file's stored bytes are never loaded.
    prefetch_related_objects(
        page, "source", Prefetch("file", queryset=_files_without_their_bytes())
    )
    older = ""
    if len(passages) > ARCHIVAL_PAGE:
        params = {"q": query, "after": page[-1].pk} if query else {"after": page[-1].pk}
        older = f"?{urlencode(params)}"
    context = {"agent": agent, "passages": page, "query": query, "after": after, "older": older}
    return render(request, "agents/archival.html", context)


def _files_without_their_bytes() -> QuerySet[Any]:
    """The files passages came from, without their stored bytes. The model is the sources
    app's, reached through the relation: this page imports nothing of the apps above."""
    files = cast(type[Model], Passage._meta.get_field("file").related_model)
    return files._default_manager.defer("content")


class ContextPart(TypedDict):
    key: str
    label: str
    tokens: int
    percent: float


CONTEXT_PARTS = (
    ("system", "System prompt", "num_tokens_system"),
    ("functions", "Tools (function definitions)", "num_tokens_functions_definitions"),
    ("core_memory", "Core memory", "num_tokens_core_memory"),
    ("summary", "Summary", "num_tokens_summary_memory"),
    ("messages", "Messages", "num_tokens_messages"),
    ("external", "External memory summary", "num_tokens_external_memory_summary"),
)


def context_parts(overview: dict[str, Any]) -> list[ContextPart]:
    """Each component's tokens and its share of the window (of the total used, if the
    history has outgrown the window), as the bar's widths."""
    window = max(int(overview["context_window_size_max"] or 0), 1)
    used = sum(int(overview[field]) for _, _, field in CONTEXT_PARTS)
    scale = max(window, used)
    return [
        {
            "key": key,
            "label": label,
            "tokens": int(overview[field]),
            "percent": round(int(overview[field]) * 100 / scale, 2),
        }
        for key, label, field in CONTEXT_PARTS
    ]


@login_required
@require_GET
def context_window(request: HttpRequest, agent_id: str) -> HttpResponse:
    """What the model sees now, by component, against the agent's context window."""
    agent = agent_or_404(request, agent_id)
    overview = services.context_overview(agent)
    used = int(overview["context_window_size_current"])
    window = int(overview["context_window_size_max"] or 0)
    context = {
        "agent": agent,
        "parts": context_parts(overview),
        "used": used,
        "window": window,
        "free": max(window - used, 0),
        "used_percent": round(used * 100 / window, 1) if window else 0,
        "num_messages": overview["num_messages"],
        "num_archival_memory": overview["num_archival_memory"],
        "num_recall_memory": overview["num_recall_memory"],
    }
    return render(request, "agents/context.html", context)
