"""`/v1/blocks`: memory blocks by id; `/v1/proposals`: agents' edits held for review."""

from __future__ import annotations

from typing import Literal

from ninja import Query, Router

from config.requests import ApiRequest
from memory import proposals, services
from memory.models import Block, BlockVersion, Proposal
from memory.schemas import (
    BlockIn,
    BlockOut,
    BlockRevertIn,
    BlockUpdateIn,
    BlockVersionOut,
    MessageOut,
    ProposalOut,
    ReviewIn,
)

blocks_router = Router(tags=["blocks"])


@blocks_router.post("", response=BlockOut)
def create_block(request: ApiRequest, payload: BlockIn) -> Block:
    policy = payload.policy_fields()
    block = services.create_block(
        request.auth,
        label=payload.label,
        value=payload.value,
        limit=payload.limit,
        description=payload.description or "",
        read_only=policy["read_only"],
        requires_review=policy.get("requires_review", False),
        deletion_budget=payload.deletion_budget,
        metadata=payload.metadata,
        is_template=payload.is_template,
        template_name=payload.template_name or payload.name or "",
        actor=services.Actor.for_user(request.auth),
    )
    return block


@blocks_router.get("", response=list[BlockOut])
def list_blocks(
    request: ApiRequest,
    label: str | None = None,
    templates_only: bool = False,
    after: str | None = None,
    before: str | None = None,
    limit: int = Query(50, ge=1, le=1000),
    order: Literal["asc", "desc"] = "asc",
) -> list[Block]:
    blocks = services.list_blocks(
        request.auth,
        label=label,
        templates_only=templates_only,
        after=after,
        before=before,
        limit=limit,
        ascending=order == "asc",
    )
    return list(blocks)


@blocks_router.get("/{block_id}", response=BlockOut)
def retrieve_block(request: ApiRequest, block_id: str) -> Block:
    return services.get_block_for_user(request.auth, block_id)


@blocks_router.patch("/{block_id}", response=BlockOut)
def update_block(request: ApiRequest, block_id: str, payload: BlockUpdateIn) -> Block:
    block = services.get_block_for_user(request.auth, block_id)
    updated = services.update_block(
        block.id,
        actor=services.Actor.for_user(request.auth),
        base_version=payload.base_version,
        **payload.changes(),
    )
    return updated


@blocks_router.delete("/{block_id}", response=MessageOut)
def delete_block(request: ApiRequest, block_id: str) -> dict[str, str]:
    services.delete_block(services.get_block_for_user(request.auth, block_id))
    return {"message": f"Block {block_id} deleted"}


@blocks_router.get("/{block_id}/history", response=list[BlockVersionOut])
def block_history(
    request: ApiRequest,
    block_id: str,
    limit: int = Query(50, ge=1, le=1000),
    before: int | None = None,
    after: int | None = None,
    order: Literal["asc", "desc"] = "desc",
) -> list[BlockVersion]:
    """Every change of the block: who (a person, an agent and its run), when, and the
    unified diff against the version before. Newest first; the cursors are version
    numbers (`before` N: those below N, `after` N: those above)."""
    block = services.get_block_for_user(request.auth, block_id)
    versions = services.block_history(
        block, limit=limit, before=before, after=after, ascending=order == "asc"
    )
    return list(versions)


@blocks_router.post("/{block_id}/revert", response=BlockOut)
def revert_block(request: ApiRequest, block_id: str, payload: BlockRevertIn) -> Block:
    """Put back the value of an earlier version, as a new version (history stays linear)."""
    block = services.get_block_for_user(request.auth, block_id)
    reverted = services.revert_block(
        block.id, payload.version, services.Actor.for_user(request.auth)
    )
    return reverted


# --- Review ----------------------------------------------------------------------------------

proposals_router = Router(tags=["proposals"])


@proposals_router.get("", response=list[ProposalOut])
def list_proposals(
    request: ApiRequest,
    agent_id: str | None = None,
    status: list[Literal["pending", "accepted", "partially_accepted", "rejected", "conflict"]] = (
        Query(None)
    ),
    run_id: str | None = None,
    after: str | None = None,
    before: str | None = None,
    limit: int = Query(50, ge=1, le=1000),
    order: Literal["asc", "desc"] = "asc",
) -> list[Proposal]:
    """Agents' edits held for review (blocks whose policy is `review`, and edits from
    untrusted input that read as instructions), oldest first."""
    page = proposals.list_proposals(
        request.auth,
        agent_id=agent_id,
        statuses=list(status) if status else None,
        run_id=run_id,
        after=after,
        before=before,
        limit=limit,
        ascending=order == "asc",
    )
    return list(page)


@proposals_router.get("/{proposal_id}", response=ProposalOut)
def retrieve_proposal(request: ApiRequest, proposal_id: str) -> Proposal:
    return proposals.get_proposal_for_user(request.auth, proposal_id)


@proposals_router.post("/{proposal_id}/accept", response=ProposalOut)
def accept_proposal(request: ApiRequest, proposal_id: str, payload: ReviewIn) -> Proposal:
    """Apply the named hunks (all pending ones by default) to the block, merged with what
    changed since; a change of the same lines is a 409 and the proposal is marked
    `conflict`."""
    proposal = proposals.get_proposal_for_user(request.auth, proposal_id)
    return proposals.accept(proposal.id, request.auth, payload.hunks)


@proposals_router.post("/{proposal_id}/reject", response=ProposalOut)
def reject_proposal(request: ApiRequest, proposal_id: str, payload: ReviewIn) -> Proposal:
    """Turn down the named hunks (all pending ones by default); the block is untouched."""
    proposal = proposals.get_proposal_for_user(request.auth, proposal_id)
    return proposals.reject(proposal.id, request.auth, payload.hunks)
