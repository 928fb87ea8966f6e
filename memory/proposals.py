"""Review before apply: agents' edits held as proposals, decided hunk by hunk by a person.

A proposal is what one run would make of one block (memory/services.py `_propose`): the
block's value when the run first touched it and the value the run's edits lead to. Its
hunks are the line changes between the two. A person accepts or rejects each hunk, or
all of them; accepted hunks land as one version per decision, attributed to the run's
agent and run *and* to the reviewer. If the block changed since the proposal was made,
the accepted hunks are merged into what it holds now (the three-way merge of
memory/merge.py); where they touch the same lines the proposal is a conflict and nothing
is written. Until then the block, and so the primary and every client, holds only what
was accepted.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal, TypedDict

from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from config.errors import Conflict, InvalidRequest, NotFound
from config.pagination import cursor_page
from memory import events, merge
from memory.models import Block, BlockVersion, Proposal, ProposalStatus
from memory.services import Actor, archive_removed, record_version

HunkStatus = Literal["pending", "accepted", "rejected"]

# Called with a proposal once it is decided (accepted, rejected or partly both), inside the
# deciding transaction. The agents app settles the outcome of the run that proposed it
# here (agents/apps.py): this app cannot import the runs it sits below.
on_decided: list[Callable[[Proposal], None]] = []


class Hunk(TypedDict):
    index: int
    # 1-based line of the block's value (when proposed) where the change starts.
    line: int
    removed: list[str]
    added: list[str]
    status: HunkStatus


def hunks(proposal: Proposal) -> list[Hunk]:
    accepted, rejected = set(proposal.accepted_hunks), set(proposal.rejected_hunks)
    return [
        {
            "index": index,
            "line": start + 1,
            "removed": removed,
            "added": added,
            "status": "accepted"
            if index in accepted
            else "rejected"
            if index in rejected
            else "pending",
        }
        for index, (start, _end, removed, added) in enumerate(
            merge.hunks(proposal.base_value, proposal.proposed_value)
        )
    ]


def conflicting(proposal: Proposal, block: Block | None = None) -> bool:
    """Whether the block changed since, on the lines the proposal's undecided hunks
    change: accepting them all would be refused."""
    if proposal.status not in (ProposalStatus.PENDING, ProposalStatus.CONFLICT):
        return False
    block = block or proposal.block
    if block.version == proposal.base_version:
        return False
    pending = _undecided(proposal)
    target = merge.apply_hunks(proposal.base_value, proposal.proposed_value, pending)
    return merge.merge3(proposal.base_value, block.value, target) is None


def _undecided(proposal: Proposal) -> set[int]:
    decided = set(proposal.accepted_hunks) | set(proposal.rejected_hunks)
    count = len(merge.hunks(proposal.base_value, proposal.proposed_value))
    return set(range(count)) - decided


def list_proposals(
    user: Any,
    *,
    agent_id: str | None = None,
    statuses: list[str] | None = None,
    run_id: str | None = None,
    after: str | None = None,
    before: str | None = None,
    limit: int = 50,
    ascending: bool = True,
) -> QuerySet[Proposal]:
    proposals = Proposal.objects.for_user(user).select_related("block", "reviewed_by")
    if agent_id:
        proposals = proposals.filter(agent_id=agent_id)
    if statuses:
        proposals = proposals.filter(status__in=statuses)
    if run_id:
        proposals = proposals.filter(run_id=run_id)
    return cursor_page(proposals, after=after, before=before, limit=limit, ascending=ascending)


def get_proposal_for_user(user: Any, proposal_id: str) -> Proposal:
    proposal = Proposal.objects.for_user(user).filter(pk=proposal_id).first()
    if proposal is None:
        raise NotFound(f"Proposal '{proposal_id}' not found")
    return proposal


def _chosen(proposal: Proposal, indices: list[int] | None) -> set[int]:
    pending = _undecided(proposal)
    if indices is None:
        return pending
    wanted = set(indices)
    unknown = sorted(wanted - pending)
    if unknown:
        raise InvalidRequest(
            f"Hunks {unknown} are not pending on proposal '{proposal.id}' (pending: "
            f"{sorted(pending) or 'none'})."
        )
    if not wanted:
        raise InvalidRequest("Name at least one hunk, or leave `hunks` out for all of them.")
    return wanted


def _settle(proposal: Proposal, reviewer: Any) -> None:
    proposal.reviewed_by = reviewer
    proposal.reviewed_at = timezone.now()
    if not _undecided(proposal):
        if not proposal.accepted_hunks:
            proposal.status = ProposalStatus.REJECTED
        elif proposal.rejected_hunks:
            proposal.status = ProposalStatus.PARTIAL
        else:
            proposal.status = ProposalStatus.ACCEPTED
    proposal.save()
    events.publish_proposal_changed(proposal.id, [proposal.agent_id])
    if proposal.status != ProposalStatus.PENDING:
        for hook in on_decided:
            hook(proposal)


def accept(proposal_id: str, reviewer: Any, indices: list[int] | None = None) -> Proposal:
    """Apply the chosen pending hunks (all, by default) to the block as it is now. What
    they remove from it is kept in archival memory, as for an agent's own edit."""
    accepted: BlockVersion | None = None
    with transaction.atomic():
        proposal = Proposal.objects.select_for_update().filter(pk=proposal_id).first()
        if proposal is None:
            raise NotFound(f"Proposal '{proposal_id}' not found")
        if proposal.status not in (ProposalStatus.PENDING, ProposalStatus.CONFLICT):
            raise Conflict(f"Proposal '{proposal.id}' is already {proposal.status}.")
        # A conflicting proposal may still have hunks that merge (a smaller choice).
        proposal.status = ProposalStatus.PENDING
        chosen = _chosen(proposal, indices)
        block = Block.objects.select_for_update().get(pk=proposal.block_id)
        if block.read_only:
            raise Conflict(f"Block '{block.label}' became read-only; nothing was applied.")
        target = merge.apply_hunks(proposal.base_value, proposal.proposed_value, chosen)
        merged = merge.merge3(proposal.base_value, block.value, target)
        if merged is None:
            proposal.status = ProposalStatus.CONFLICT
            proposal.save(update_fields=["status", "updated_at"])
            events.publish_proposal_changed(proposal.id, [proposal.agent_id])
            # Not raised here: the conflict mark must be committed before the refusal.
        elif len(merged) > block.limit:
            raise Conflict(
                f"Accepting would make '{block.label}' {len(merged)} characters long, over "
                f"its limit of {block.limit}; raise the limit or accept fewer hunks."
            )
        else:
            version: BlockVersion | None = None
            if merged != block.value:
                previous = block.value
                block.value = merged
                block.version += 1
                block.save(update_fields=["value", "version", "updated_at"])
                actor = Actor.for_agent(
                    proposal.actor_agent_id, proposal.run_id, proposal.tool_call_id
                )
                version = record_version(
                    block, previous, actor, reviewer=reviewer, proposal_id=proposal.id
                )
                proposal.applied_versions = [*proposal.applied_versions, version.number]
            proposal.accepted_hunks = sorted({*proposal.accepted_hunks, *chosen})
            _settle(proposal, reviewer)
            accepted = version
    if merged is not None:
        if accepted is not None:
            archive_removed(block, accepted)
        return proposal
    raise Conflict(
        f"Block '{block.label}' changed since the proposal was made (it is at version "
        f"{block.version}), on the lines it changes. Nothing was applied; reject it, or "
        "edit the block yourself.",
        current_value=block.value,
        current_version=block.version,
    )


def reject(proposal_id: str, reviewer: Any, indices: list[int] | None = None) -> Proposal:
    """Turn down the chosen pending hunks (all, by default); the block is not touched."""
    with transaction.atomic():
        proposal = Proposal.objects.select_for_update().filter(pk=proposal_id).first()
        if proposal is None:
            raise NotFound(f"Proposal '{proposal_id}' not found")
        if proposal.status not in (ProposalStatus.PENDING, ProposalStatus.CONFLICT):
            raise Conflict(f"Proposal '{proposal.id}' is already {proposal.status}.")
        if proposal.status == ProposalStatus.CONFLICT:
            proposal.status = ProposalStatus.PENDING  # deciding the rest settles it
        chosen = _chosen(proposal, indices)
        proposal.rejected_hunks = sorted({*proposal.rejected_hunks, *chosen})
        _settle(proposal, reviewer)
    return proposal


def pending_count(agent_id: str) -> int:
    return Proposal.objects.filter(
        agent_id=agent_id, status__in=(ProposalStatus.PENDING, ProposalStatus.CONFLICT)
    ).count()
