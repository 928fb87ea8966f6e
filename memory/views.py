"""The ADE's memory pages: a block edited in place on the agent page, its history and undo,
the agent's archival memory and its context window.

Each view parses input, calls one service and renders; for an htmx request it returns the
partial the agent page includes, for a plain one a page or a redirect after POST.
"""

from __future__ import annotations

from typing import Any, TypedDict
from urllib.parse import quote, urlsplit

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBadRequest
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from config.errors import Conflict, InvalidRequest, NotFound
from config.htmx import HtmxHttpRequest, vary_on_htmx, wants_partial
from memory import merge
from memory import services as memory_services
from memory.forms import BlockEditForm, BlockRevertForm
from memory.merge import DiffLine
from memory.models import Block, BlockVersion
from memory.services import Actor

HISTORY_PAGE = 50
_EDITABLE_FIELDS = ("value", "description", "limit")
# The form shows the budget as a percentage with one decimal: a share that only differs
# from the stored one by that rounding was left alone.
BUDGET_TOLERANCE = 0.0005


def _block_or_404(request: HttpRequest, block_id: str) -> Block:
    try:
        return memory_services.get_block_for_user(request.user, block_id)
    except NotFound:
        raise Http404("Block not found") from None


def _safe_next(request: HttpRequest, candidate: str) -> str:
    """`candidate` as a local path to return to, or "" when it points anywhere else."""
    if not candidate or not url_has_allowed_host_and_scheme(
        candidate, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return ""
    parts = urlsplit(candidate)
    if parts.path == request.path:  # a referring page that is this very form
        return ""
    return parts.path + (f"?{parts.query}" if parts.query else "")


def _history_url(block: Block) -> str:
    return reverse("memory:block_history", args=[block.id])


# --- The block in place --------------------------------------------------------------------


def _block_partial(request: HttpRequest, block: Block) -> HttpResponse:
    # The editor closed: focus goes back to the block's Edit link, not to the page's top.
    return render(request, "agents/partials/_block.html", {"block": block, "focus": True})


@login_required
@require_GET
def block_detail(request: HtmxHttpRequest, block_id: str) -> HttpResponse:
    """The block's partial (what "Cancel" puts back); a browser is sent to its history."""
    block = _block_or_404(request, block_id)
    if not wants_partial(request):
        return vary_on_htmx(redirect(_history_url(block)))
    return vary_on_htmx(_block_partial(request, block))


def _edited_fields(block: Block, data: dict[str, Any]) -> dict[str, Any]:
    """The fields the person changed from the version they opened (the policy and the
    deletion budget: from what the block has now).

    Only those go to the service: a field left alone must not overwrite a change someone
    else made meanwhile (an agent's edit of the value, a limit raised through the API),
    and saving an untouched form records no empty version. A changed value is sent with
    its base version, so the service merges it with edits made since on other lines.
    """
    opened: Block | BlockVersion = block
    if data["base_version"] != block.version:
        found = memory_services.block_history(block, before=data["base_version"] + 1, limit=1)
        if found and found[0].number == data["base_version"]:
            opened = found[0]
        # Otherwise there is no such version: the fields are compared with the current
        # block, and a changed value makes the service refuse the unknown base version.
    changes = {name: data[name] for name in _EDITABLE_FIELDS if data[name] != getattr(opened, name)}
    # The policy and the deletion budget are not versioned: compared with the block now.
    if data["policy"] and data["policy"] != block.policy:
        changes.update(memory_services.policy_fields(data["policy"]))
    budget = data["deletion_budget"]
    if budget is not None and abs(budget - block.deletion_budget) > BUDGET_TOLERANCE:
        changes["deletion_budget"] = budget
    return changes


@login_required
@require_http_methods(["GET", "POST"])
def block_edit(request: HtmxHttpRequest, block_id: str) -> HttpResponse:
    """The edit form: in place of the block for htmx, as a page otherwise. It also sets
    what agents' edits do to the block (its policy) and how much of it one run of an
    agent may remove (its deletion budget).

    Read-only blocks are editable here: `read_only` stops agents, not their owner.
    """
    block = _block_or_404(request, block_id)
    status = 200
    conflict: dict[str, Any] | None = None
    if request.method == "POST":
        form = BlockEditForm(request.POST, block_id=block.id)
        if form.is_valid():
            data = form.cleaned_data
            changes = _edited_fields(block, data)
            try:
                if changes:
                    block = memory_services.update_block(
                        block.id,
                        actor=Actor.for_user(request.user),
                        base_version=data["base_version"],
                        **changes,
                    )
            except NotFound:
                raise Http404("Block not found") from None
            except Conflict as error:
                if "current_value" in error.extra:
                    # Somebody changed the same lines meanwhile (or the version the form
                    # was opened at is gone from history). The person's text stays in the
                    # editor, the current one is shown beside it, and the form now starts
                    # from the current version: saving again is a decision made knowing
                    # both.
                    conflict = {"value": error.extra["current_value"]}
                    block.refresh_from_db()
                    data = request.POST.copy()
                    data["base_version"] = str(error.extra["current_version"])
                    form = BlockEditForm(data, block_id=block.id)
                    form.is_valid()
                    form.add_error(
                        None,
                        "This block changed while you were editing it, in a way your edit "
                        "cannot be merged with; nothing was saved. Its text now is shown "
                        "below. Edit yours to keep what you both need, then save again.",
                    )
                else:  # a label already taken, say
                    form.add_error(None, error.message)
            except InvalidRequest as error:
                form.add_error(None, error.message)
            else:
                if wants_partial(request):
                    return vary_on_htmx(_block_partial(request, block))
                messages.success(request, f"Saved {block.label}.")
                return redirect(_safe_next(request, data["next"]) or _history_url(block))
        # htmx swaps 2xx answers only, so the form with its error comes back as a 200.
        status = 200 if wants_partial(request) else 400
        next_url = _safe_next(request, request.POST.get("next", ""))
    else:
        # Without htmx the "Edit" link is followed as a page; the page it came from (the
        # agent's, say) is where saving returns to.
        next_url = _safe_next(request, request.GET.get("next", "")) or _safe_next(
            request, request.headers.get("Referer", "")
        )
        form = BlockEditForm(
            initial={
                "value": block.value,
                "description": block.description,
                "limit": block.limit,
                "policy": block.policy,
                "deletion_budget": round(block.deletion_budget * 100, 1),
                "base_version": block.version,
                "next": next_url,
            },
            block_id=block.id,
        )
    context = {
        "block": block,
        # Inside a page's {% block %} tags, `block` names the template block itself.
        "memory_block": block,
        "form": form,
        "conflict": conflict,
        "cancel_url": next_url or _history_url(block),
    }
    if wants_partial(request):
        template = "memory/partials/_block_form.html"
    else:
        template = "memory/block_edit.html"
    return vary_on_htmx(render(request, template, context, status=status))


# --- History and undo ----------------------------------------------------------------------


class HistoryEntry(TypedDict):
    version: BlockVersion
    lines: list[DiffLine]
    run_url: str
    reverts_version: int | None
    reverts_run_id: str
    reverts_run_url: str
    can_revert: bool


def _run_url(run_id: str) -> str:
    # The run page is served at /runs/<run_id>/ by the agents app; it is linked by path
    # rather than reversed so this page does not depend on that work landing first.
    return f"/runs/{quote(run_id, safe='')}/" if run_id else ""


def _entry(version: BlockVersion, current: int) -> HistoryEntry:
    reverts_version: int | None = None
    reverts_run_id = ""
    if version.reverts.startswith("version:"):
        number = version.reverts.removeprefix("version:")
        reverts_version = int(number) if number.isdigit() else None
    elif version.reverts.startswith("run:"):
        # "run:<run id>#<edit>": one edit of that run taken back.
        reverts_run_id = version.reverts.removeprefix("run:").split("#", 1)[0]
    lines = merge.diff_lines(memory_services.version_diff(version))
    # An empty value is one empty line to the line diff: creating a block reads as
    # "removed an empty line, added the text". That empty line is no change to a reader.
    if not version.previous_value:
        lines = [line for line in lines if line["text"] != "-"]
    if not version.value:
        lines = [line for line in lines if line["text"] != "+"]
    return {
        "version": version,
        "lines": lines,
        "run_url": _run_url(version.run_id),
        "reverts_version": reverts_version,
        "reverts_run_id": reverts_run_id,
        "reverts_run_url": _run_url(reverts_run_id),
        "can_revert": version.number != current,
    }


def _before(raw: str | None) -> int | None:
    # A cursor that is not a version number is ignored: the newest page is shown instead.
    return int(raw) if raw and raw.isdigit() else None


@login_required
@require_GET
def block_history(request: HttpRequest, block_id: str) -> HttpResponse:
    """The block's versions, newest first, each with its diff; paged by `?before=<number>`."""
    block = _block_or_404(request, block_id)
    before = _before(request.GET.get("before"))
    # One more than a page tells whether an older page exists, without a count query.
    versions = memory_services.block_history(block, limit=HISTORY_PAGE + 1, before=before)
    page = versions[:HISTORY_PAGE]
    context = {
        # Not `block`: inside a page's {% block %} tags that names the template block.
        "memory_block": block,
        "entries": [_entry(version, block.version) for version in page],
        "before": before,
        "older": page[-1].number if len(versions) > HISTORY_PAGE else None,
        "edit_url": reverse("memory:block_edit", args=[block.id])
        + f"?next={quote(request.get_full_path(), safe='')}",
    }
    return render(request, "memory/block_history.html", context)


@login_required
@require_POST
def block_revert(request: HttpRequest, block_id: str) -> HttpResponse:
    """Put back the value of an earlier version, as a new version; back to the history."""
    block = _block_or_404(request, block_id)
    form = BlockRevertForm(request.POST)
    if not form.is_valid():
        return HttpResponseBadRequest("Choose a version to revert to.")
    number = form.cleaned_data["version"]
    try:
        reverted = memory_services.revert_block(block.id, number, Actor.for_user(request.user))
    except NotFound:
        raise Http404("No such version") from None
    except InvalidRequest as error:
        messages.error(request, error.message)
    else:
        if reverted.version == block.version:
            messages.info(request, f"{block.label} already holds version {number}'s value.")
        else:
            messages.success(
                request,
                f"Reverted {block.label} to version {number}, as version {reverted.version}.",
            )
    return redirect(_history_url(block))
