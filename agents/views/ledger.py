"""The ledger of an agent: every background run that tended its memory, newest first, with
how its trigger ended and why, so a person can see what sleep-time did, skipped or cost."""

from __future__ import annotations

from urllib.parse import urlencode

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from agents import runs
from agents.forms import LedgerFilterForm
from agents.models import Run
from agents.views.access import agent_or_404
from config.errors import NotFound

LEDGER_PAGE = 50


@login_required
@require_GET
def ledger(request: HttpRequest, agent_id: str) -> HttpResponse:
    """Filtered by `?outcome=` and `?trigger=`; paged by `?after=<id of the last run shown>`."""
    agent = agent_or_404(request, agent_id)
    form = LedgerFilterForm(request.GET or None)
    filters = {"outcome": "", "trigger": ""}
    if form.is_valid():
        filters = {name: form.cleaned_data[name] for name in filters}
    after = request.GET.get("after", "").strip() or None

    def page_after(cursor: str | None) -> list[Run]:
        # One more than a page tells whether an older page exists, without a count query.
        found = runs.list_runs(
            request.user,
            agent_ids=[agent.id],
            background=True,
            outcomes=[filters["outcome"]] if filters["outcome"] else None,
            triggers=[filters["trigger"]] if filters["trigger"] else None,
            after=cursor,
            limit=LEDGER_PAGE + 1,
            ascending=False,
        )
        # Transcripts and stored tool calls are long, and the ledger shows neither.
        return list(found.defer("transcript", "metadata"))

    try:
        found = page_after(after)
    except NotFound:
        # The cursor's run is gone (its agent deleted meanwhile): start from the newest.
        after = None
        found = page_after(None)
    shown = found[:LEDGER_PAGE]
    active = {name: value for name, value in filters.items() if value}
    older = ""
    if len(found) > LEDGER_PAGE:
        older = "?" + urlencode({**active, "after": shown[-1].pk})
    context = {
        "agent": agent,
        "form": form,
        "runs": shown,
        "filtered": bool(active),
        "after": after,
        "newest": "?" + urlencode(active) if active else "",
        "older": older,
    }
    return render(request, "agents/ledger.html", context)
