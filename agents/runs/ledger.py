"""The ledger: every background trigger ends in one recorded outcome, with its reason.

A trigger (a turn, the idle timer, a person's button, a digest, a backlog, a forget job)
becomes a run, or joins the run already waiting (`Run.metadata["joined"]` counts those);
each run ends `applied`, `awaiting_review`, `no_change`, `skipped` or `failed`, and
`outcome_reason` says why in words a person reads. Nothing is dropped unrecorded: a
trigger that finds sleep-time paused or over budget is a run that was skipped.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from django.db import transaction
from django.utils import timezone

from agents.models import Group, Run, RunOutcome, RunStatus
from memory import events
from memory.models import BlockVersion, Passage, Proposal, ProposalStatus
from memory.services import REMOVED_TAG


def _refused(refusals: list[dict[str, Any]]) -> str:
    kinds = ", ".join(sorted({str(r.get("guard")) for r in refusals}))
    count = len(refusals)
    return f"{count} edit{'s were' if count != 1 else ' was'} refused by the guards ({kinds})"


def outcome_of(run: Run, changed: bool, note: str) -> tuple[str, str]:
    """The outcome of a run that finished its work, and why, from what it changed, what
    waits for review, what the guards refused and which tool calls failed."""
    waiting = Proposal.objects.filter(run_id=run.id, status=ProposalStatus.PENDING).count()
    refusals = run.metadata.get("refusals") or []
    errors = run.metadata.get("tool_errors") or []
    if waiting:
        reason = f"{waiting} proposed edit{'s wait' if waiting != 1 else ' waits'} for review"
        return RunOutcome.AWAITING_REVIEW, reason + (" (some edits also landed)" if changed else "")
    if changed:
        # Applied, but not everything the agent tried: the person sees that too.
        return RunOutcome.APPLIED, _refused(refusals) if refusals else ""
    if refusals:
        kinds = sorted({str(r.get("guard")) for r in refusals})
        return (
            RunOutcome.NO_CHANGE,
            f"every edit was refused by the guards ({', '.join(kinds)}): "
            + str(refusals[-1].get("reason", ""))[:300],
        )
    if errors:
        last = errors[-1]
        count = len(errors)
        return (
            RunOutcome.NO_CHANGE,
            f"nothing was changed: {count} tool call{'s' if count != 1 else ''} failed "
            f"(the last, {last.get('tool')}: {str(last.get('error', ''))[:300]})",
        )
    if note:
        return RunOutcome.NO_CHANGE, note
    return RunOutcome.NO_CHANGE, "the agent read everything and changed nothing"


def withdraw(run: Run, undone: Iterable[Mapping[str, Any]]) -> None:
    """A failed run's proposals go, and so do the archived removals of its edits that
    were rolled back (`undone`: {block_id, version} of each). An edit that could not be
    rolled back (a later edit changed its lines) keeps what it removed in archival
    memory: the fact is nowhere else but in the block's history."""
    for proposal in Proposal.objects.filter(run_id=run.id, status=ProposalStatus.PENDING):
        proposal.status = ProposalStatus.REJECTED
        proposal.reasons = [*proposal.reasons, f"Withdrawn: the run failed ({run.error})."]
        proposal.save(update_fields=["status", "reasons", "updated_at"])
        events.publish_proposal_changed(proposal.id, [proposal.agent_id])
    back = {(entry["block_id"], entry["version"]) for entry in undone}
    removals = Passage.objects.filter(tags__contains=[REMOVED_TAG], metadata__run_id=run.id)
    Passage.objects.filter(
        pk__in=[
            passage.pk
            for passage in removals.only("metadata")
            if (passage.metadata.get("block_id"), passage.metadata.get("version")) in back
        ]
    ).delete()


def skip(run: Run, reason: str) -> None:
    """End a run that never worked: sleep-time paused, a budget reached."""
    with transaction.atomic():
        updated = Run.objects.filter(pk=run.pk, status__in=[RunStatus.CREATED, RunStatus.RUNNING])
        now = timezone.now()
        if updated.update(
            status=RunStatus.COMPLETED,
            stop_reason="skipped",
            outcome=RunOutcome.SKIPPED,
            outcome_reason=reason,
            completed_at=now,
            started_at=run.started_at or now,
            updated_at=now,
        ):
            events.publish_run_changed(run.id, RunStatus.COMPLETED, [run.primary_agent_id])
    run.refresh_from_db()


def record_skipped(group: Group, trigger: str, reason: str, **metadata: Any) -> Run:
    """A trigger that does not start a run, recorded as a run skipped at once."""
    now = timezone.now()
    run = Run.objects.create(
        owner_id=group.owner_id,
        organization_id=group.organization_id,
        run_agent_id=group.participants.values_list("id", flat=True).first() or "",
        primary_agent_id=group.manager_agent_id,
        group=group,
        trigger=trigger,
        status=RunStatus.COMPLETED,
        stop_reason="skipped",
        outcome=RunOutcome.SKIPPED,
        outcome_reason=reason,
        started_at=now,
        completed_at=now,
        duration_ms=0,
        metadata={"run_type": "sleeptime_agent_send_message_async", **metadata},
    )
    events.publish_run_changed(run.id, run.status, [group.manager_agent_id])
    return run


def settle_review(proposal: Proposal) -> None:
    """Once the last of a run's proposals is decided, its outcome says how: `applied` if
    any of its edits landed (its own or accepted ones), else `no_change`, rejected."""
    if not proposal.run_id:
        return
    if Proposal.objects.filter(run_id=proposal.run_id, status=ProposalStatus.PENDING).exists():
        return
    run = Run.objects.filter(pk=proposal.run_id, outcome=RunOutcome.AWAITING_REVIEW).first()
    if run is None:
        return
    who = proposal.reviewed_by.get_username() if proposal.reviewed_by else "a person"
    decided = Proposal.objects.filter(run_id=run.id)
    if BlockVersion.objects.filter(run_id=run.id, reverts="").exists():
        partly = decided.filter(
            status__in=[ProposalStatus.REJECTED, ProposalStatus.PARTIAL]
        ).exists()
        reason = f"reviewed by {who}: " + ("accepted in part" if partly else "accepted")
        outcome = RunOutcome.APPLIED
    else:
        outcome, reason = RunOutcome.NO_CHANGE, f"reviewed by {who}: every proposed edit rejected"
    Run.objects.filter(pk=run.pk).update(outcome=outcome, outcome_reason=reason)
    events.publish_run_changed(run.id, run.status, [run.primary_agent_id])
