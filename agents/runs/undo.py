"""Undoing a run: its edits taken back, each one at most once."""

from __future__ import annotations

from typing import Any, TypedDict

from django.utils import timezone

from agents.models import ACTIVE_RUN_STATUSES, Run
from config.errors import Conflict
from memory import services as memory_services
from memory.models import BlockVersion


class RevertReport(TypedDict):
    run_id: str
    reverted: list[dict[str, Any]]
    unchanged: list[dict[str, Any]]
    conflicts: list[dict[str, Any]]


def revert_run(run: Run, actor: memory_services.Actor, *, mark: bool = True) -> RevertReport:
    """Undo every edit the run made that nothing has overwritten since.

    Edits are taken back one by one, newest first, each as a three-way merge with the
    block's current value: later edits by others on other lines stay; an edit whose lines
    were changed again since is reported as a conflict and left alone.
    """
    if run.status in ACTIVE_RUN_STATUSES and mark:
        raise Conflict("The run is still in progress; wait for it to end, then revert it.")
    report: RevertReport = {"run_id": run.id, "reverted": [], "unchanged": [], "conflicts": []}
    tag = f"run:{run.id}#"
    # Each undo is tagged with the edit it took back, so an edit is undone at most once:
    # reverting again (or after the failure rollback) never undoes a person's later
    # change that happens to look like the run's.
    undone = set(
        BlockVersion.objects.filter(reverts__startswith=tag).values_list("reverts", flat=True)
    )
    edits = BlockVersion.objects.filter(run_id=run.id, reverts="").order_by("-id")
    for version in edits:
        entry = {"block_id": version.block_id, "label": version.label, "version": version.number}
        key = f"{tag}{version.pk}"
        if key in undone:
            report["unchanged"].append(entry)
            continue
        outcome, why = memory_services.undo_change(
            version.block_id, version.previous_value, version.value, actor, reverts=key
        )
        if outcome == "conflict":
            report["conflicts"].append({**entry, "reason": why})
        else:
            report[outcome].append(entry)
    if mark and not report["conflicts"]:
        Run.objects.filter(pk=run.id).update(reverted_at=timezone.now())
    return report
