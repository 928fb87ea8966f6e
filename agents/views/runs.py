"""The page of one background run: what it read, did, cost and changed, and its undo."""

from __future__ import annotations

import json
from typing import Any, TypedDict

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from agents import runs
from agents.chat import pretty_arguments
from agents.contexts import status_text
from agents.models import Message, Run
from config.errors import InvalidRequest, NotFound
from memory import merge, proposals
from memory import services as memory_services
from memory.merge import DiffLine
from memory.models import BlockVersion

# --- One background run --------------------------------------------------------------------


class RunToolCall(TypedDict):
    id: str
    name: str
    arguments: str
    status: str
    result: str | None


class RunVersion(TypedDict):
    version: BlockVersion
    lines: list[DiffLine]


def _run_or_404(request: HttpRequest, run_id: str) -> Run:
    try:
        return runs.get_run_for_user(request.user, run_id)
    except NotFound:
        raise Http404("Run not found") from None


def _arguments_text(arguments: Any) -> str:
    if isinstance(arguments, dict | list):
        return json.dumps(arguments, indent=2, ensure_ascii=False)
    return pretty_arguments(str(arguments))


def run_tool_calls(run: Run, stored: list[Message]) -> list[RunToolCall]:
    """Each call of the run's agent with its result. A document digest's agent is deleted
    when it ends, so its calls are read from the run's metadata instead."""
    results = {m.tool_call_id: m for m in stored if m.role == "tool"}
    calls: list[RunToolCall] = []
    for message in stored:
        for call in message.tool_calls or []:
            answer = results.get(call["id"])
            calls.append(
                {
                    "id": call["id"],
                    "name": call["name"],
                    "arguments": _arguments_text(call["arguments"]),
                    "status": answer.tool_status if answer is not None else "",
                    "result": answer.content if answer is not None else None,
                }
            )
    if calls:
        return calls
    return [
        {
            "id": str(call.get("id", "")),
            "name": str(call.get("name", "")),
            "arguments": _arguments_text(call.get("arguments", "")),
            "status": str(call.get("status") or ""),
            "result": call.get("result"),
        }
        for call in run.metadata.get("tool_calls") or []
    ]


@login_required
@require_GET
def run_detail(request: HttpRequest, run_id: str) -> HttpResponse:
    run = _run_or_404(request, run_id)
    versions = runs.run_versions(run)
    context = {
        "run": run,
        "primary": run.primary_agent,
        "total_tokens": run.prompt_tokens + run.completion_tokens,
        "tool_calls": run_tool_calls(run, list(runs.run_messages(run))),
        "versions": [
            RunVersion(version=v, lines=merge.diff_lines(memory_services.version_diff(v)))
            for v in versions
        ],
        "edits": sum(1 for v in versions if not v.reverts),
        # The edits the guards refused: each a tool error the model read.
        "refusals": [r for r in run.metadata.get("refusals") or [] if isinstance(r, dict)],
        # Edits held for review instead of landing; each links to its agent's queue.
        "proposals": [
            {"proposal": proposal, "status": status_text(proposal)}
            for proposal in proposals.list_proposals(request.user, run_id=run.id, limit=100)
        ],
    }
    return render(request, "agents/run.html", context)


def _edit_names(entries: list[dict[str, Any]]) -> str:
    return ", ".join(f"{entry['label']} (version {entry['version']})" for entry in entries)


@login_required
@require_POST
def run_revert(request: HttpRequest, run_id: str) -> HttpResponse:
    """Take back the run's edits; the report comes back as messages on the run's page."""
    run = _run_or_404(request, run_id)
    try:
        report = runs.revert_run(run, memory_services.Actor.for_user(request.user))
    except InvalidRequest as error:
        messages.error(request, error.message)
        return redirect("agents:run", run_id=run.id)
    if report["reverted"]:
        messages.success(request, f"Reverted {_edit_names(report['reverted'])}.")
    if report["unchanged"]:
        messages.info(request, f"Already undone: {_edit_names(report['unchanged'])}.")
    for conflict in report["conflicts"]:
        messages.warning(request, f"Not reverted: {_edit_names([conflict])}: {conflict['reason']}.")
    if not any(report[key] for key in ("reverted", "unchanged", "conflicts")):
        messages.info(request, "This run made no edits, so there is nothing to revert.")
    return redirect("agents:run", run_id=run.id)
