"""Use cases for core memory blocks and archival passages."""

from __future__ import annotations

import functools
import hashlib
import logging
import operator
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

from django.contrib.postgres.search import SearchQuery, SearchRank
from django.db import IntegrityError, connection, transaction
from django.db.models import F, Max, Q, QuerySet, Sum
from pgvector import Vector
from pgvector.django import CosineDistance

import llm
from accounts.access import organization_of
from accounts.models import Organization
from config.errors import Conflict, InvalidRequest, NotFound
from config.pagination import cursor_page
from memory import editing, events, guards, merge
from memory.models import (
    DEFAULT_BLOCK_LIMIT,
    DEFAULT_DELETION_BUDGET,
    EMBEDDING_DIM,
    TEXT_SEARCH_CONFIG,
    ActorType,
    AgentBlock,
    Block,
    BlockVersion,
    Passage,
    PassageCount,
    Policy,
    Proposal,
    ProposalStatus,
)

if TYPE_CHECKING:
    from agents.models import Agent

logger = logging.getLogger("reverie.memory")


@dataclass(frozen=True)
class Actor:
    """Who changes a block: a person (API, UI, admin) or an agent during a turn or run."""

    kind: Literal["user", "agent", "system"]
    user: Any = None
    agent_id: str = ""
    run_id: str = ""
    tool_call_id: str = ""
    # The run read input nobody vouches for (an untrusted source or conversation).
    untrusted: bool = False

    @classmethod
    def for_user(cls, user: Any) -> Actor:
        return cls(kind="user", user=user)

    @classmethod
    def for_agent(
        cls, agent_id: str, run_id: str = "", tool_call_id: str = "", *, untrusted: bool = False
    ) -> Actor:
        return cls(
            kind="agent",
            agent_id=agent_id,
            run_id=run_id,
            tool_call_id=tool_call_id,
            untrusted=untrusted,
        )

    @classmethod
    def system(cls, run_id: str = "") -> Actor:
        return cls(kind="system", run_id=run_id)


# --- Reading -------------------------------------------------------------------------------


def get_block_for_user(user: Any, block_id: str) -> Block:
    block = Block.objects.for_user(user).filter(pk=block_id).first()
    if block is None:
        raise NotFound("Block not found")
    return block


def agent_blocks(agent: Agent, isolated: Mapping[str, Block] | None = None) -> list[Block]:
    """The agent's core-memory blocks in attachment order.

    `isolated` maps labels to the copies a conversation holds of them (agents/threads.py):
    each stands in for the agent's block of its label.
    """
    blocks = list(Block.objects.filter(agent_links__agent=agent).order_by("agent_links__position"))
    if isolated:
        blocks = [isolated.get(block.label, block) for block in blocks]
    return blocks


def blocks_fingerprint(blocks: list[Block]) -> str:
    """Which blocks, at which versions: equal fingerprints mean a page shows them all as
    they are (config/consumers.py skips re-sending them)."""
    state = ",".join(f"{block.id}:{block.version}" for block in blocks)
    return hashlib.sha256(state.encode()).hexdigest()[:16]


def get_agent_block(agent: Agent, label: str) -> Block:
    block = Block.objects.filter(agent_links__agent=agent, agent_links__label=label).first()
    if block is None:
        raise NotFound(f"No block with label '{label}' found for agent '{agent.id}'")
    return block


def list_blocks(
    user: Any,
    *,
    label: str | None = None,
    templates_only: bool = False,
    after: str | None = None,
    before: str | None = None,
    limit: int = 50,
    ascending: bool = True,
) -> QuerySet[Block]:
    blocks = Block.objects.for_user(user)
    if label:
        blocks = blocks.filter(label=label)
    if templates_only:
        blocks = blocks.filter(is_template=True)
    return cursor_page(blocks, after=after, before=before, limit=limit, ascending=ascending)


# --- Writing blocks ------------------------------------------------------------------------


def _check_value(value: str, limit: int) -> None:
    try:
        editing.check_limit(value, limit)
    except editing.EditRefused as refused:
        raise InvalidRequest(refused.message) from None


def record_version(
    block: Block,
    previous_value: str,
    actor: Actor,
    *,
    reverts: str = "",
    reviewer: Any = None,
    proposal_id: str = "",
) -> BlockVersion:
    """Record the change as a version and tell the block's agents' browsers (after commit).

    Every write path of a block ends here, so live updates cannot miss one."""
    last = block.versions.aggregate(last=Max("number"))["last"] or 0
    events.publish_block_changed(block.id, last + 1)
    return BlockVersion.objects.create(
        block=block,
        number=last + 1,
        label=block.label,
        previous_value=previous_value,
        value=block.value,
        limit=block.limit,
        description=block.description,
        actor_type=ActorType(actor.kind),
        actor_user=actor.user if actor.kind == "user" else None,
        actor_agent_id=actor.agent_id,
        run_id=actor.run_id,
        tool_call_id=actor.tool_call_id,
        reverts=reverts,
        reviewed_by=reviewer,
        proposal_id=proposal_id,
    )


def create_block(
    owner: Any,
    *,
    label: str,
    value: str = "",
    limit: int | None = None,
    description: str = "",
    read_only: bool = False,
    metadata: dict[str, Any] | None = None,
    is_template: bool = False,
    template_name: str = "",
    actor: Actor | None = None,
    organization: Organization | None = None,
    requires_review: bool = False,
    deletion_budget: float | None = None,
) -> Block:
    """A new block in `organization`, by default the one `owner` acts in."""
    _check_budget(deletion_budget)
    if not label or not label.strip():
        raise InvalidRequest("A block needs a label.")
    limit = DEFAULT_BLOCK_LIMIT if limit is None else limit
    if limit < 1:
        raise InvalidRequest("A block's limit must be at least 1 character.")
    value = (value or "").replace("\x00", "")
    _check_value(value, limit)
    with transaction.atomic():
        block = Block.objects.create(
            owner=owner,
            organization=organization or organization_of(owner),
            label=label,
            value=value,
            limit=limit,
            description=description or "",
            read_only=read_only,
            requires_review=requires_review,
            deletion_budget=(
                DEFAULT_DELETION_BUDGET if deletion_budget is None else deletion_budget
            ),
            metadata=metadata or {},
            is_template=is_template,
            template_name=template_name or "",
        )
        record_version(block, "", actor or Actor.for_user(owner))
    return block


_VERSIONED_FIELDS = ("label", "value", "limit", "description")
_UPDATABLE_FIELDS = (
    *_VERSIONED_FIELDS,
    "read_only",
    "requires_review",
    "deletion_budget",
    "metadata",
    "is_template",
    "template_name",
)


def policy_fields(policy: str | None) -> dict[str, bool]:
    """The fields that set a block's policy (`auto`, `review`, `read_only`)."""
    if policy is None:
        return {}
    if policy not in Policy.values:
        raise InvalidRequest(f"policy must be one of {', '.join(Policy.values)}, not {policy!r}.")
    return {"read_only": policy == Policy.READ_ONLY, "requires_review": policy == Policy.REVIEW}


def _check_budget(deletion_budget: float | None) -> None:
    if deletion_budget is not None and not 0 <= deletion_budget <= 1:
        raise InvalidRequest("deletion_budget is a share of the block: from 0 to 1.")


def update_block(
    block_id: str, *, actor: Actor, base_version: int | None = None, **changes: Any
) -> Block:
    """Change a block's fields; None means "leave as is". Every write records a version.

    The row is locked for the read-modify-write so that two writers (a person and a
    sleep-time run, say) never overwrite each other's change unseen. A new `value`
    written against an older `base_version` (the editor was open while a run edited the
    block) is merged line by line with what changed since (insertions at the same place
    keep both); where both changed the same lines, Conflict (409) carries the current
    value and version, and nothing is written. Without `base_version` the value is
    written as given.
    """
    unknown = set(changes) - set(_UPDATABLE_FIELDS)
    if unknown:
        raise InvalidRequest(f"Unknown block fields: {', '.join(sorted(unknown))}")
    changes = {key: value for key, value in changes.items() if value is not None}
    _check_budget(changes.get("deletion_budget"))
    with transaction.atomic():
        block = Block.objects.select_for_update().filter(pk=block_id).first()
        if block is None:
            raise NotFound("Block not found")
        previous_value, old_label = block.value, block.label
        if "value" in changes:
            changes["value"] = str(changes["value"]).replace("\x00", "")
            if base_version is not None and base_version != block.version:
                changes["value"] = _merge_with_base(block, base_version, changes["value"])
        new_label = changes.get("label")
        if new_label is not None and not str(new_label).strip():
            raise InvalidRequest("A block needs a label.")
        if "limit" in changes and changes["limit"] < 1:
            raise InvalidRequest("A block's limit must be at least 1 character.")
        for key, value in changes.items():
            setattr(block, key, value)
        _check_value(block.value, block.limit)
        if new_label is not None and new_label != old_label:
            _relabel_links(block, new_label)
        versioned = any(key in changes for key in _VERSIONED_FIELDS)
        if versioned:
            block.version += 1
        block.save()
        if versioned:
            record_version(block, previous_value, actor)
    return block


def _merge_with_base(block: Block, base_version: int, new_value: str) -> str:
    base = block.versions.filter(number=base_version).values_list("value", flat=True).first()
    if base is None:
        # Not a version this block has (or had: forgetting may collapse history). Nothing
        # to merge against, so the writer gets what the block is now, as for a conflict.
        raise Conflict(
            f"Block '{block.label}' has no version {base_version} (it is at version "
            f"{block.version} now). Nothing was saved: merge your text with current_value "
            f"and send it again with base_version {block.version}.",
            current_value=block.value,
            current_version=block.version,
        )
    merged = merge.merge3(base, block.value, new_value)
    if merged is None:
        # Never acknowledge a write that silently undoes another acknowledged one.
        raise Conflict(
            f"Block '{block.label}' changed since version {base_version} on the same lines "
            f"as this edit (it is at version {block.version} now). Nothing was saved: merge "
            "your text with current_value and send it again with base_version "
            f"{block.version}.",
            current_value=block.value,
            current_version=block.version,
        )
    return merged


def _relabel_links(block: Block, new_label: str) -> None:
    clash = (
        AgentBlock.objects.filter(
            agent__in=AgentBlock.objects.filter(block=block).values("agent"), label=new_label
        )
        .exclude(block=block)
        .values_list("agent_id", flat=True)
        .first()
    )
    if clash:
        raise Conflict(
            f"Agent '{clash}' already has a block labelled '{new_label}'; "
            "an agent cannot hold two blocks with one label."
        )
    AgentBlock.objects.filter(block=block).update(label=new_label)


@dataclass(frozen=True)
class AgentEdit:
    """What an agent's edit did: the block as it is now, and the proposal holding the
    edit for review when it did not land (memory/proposals.py)."""

    block: Block
    proposal: Proposal | None = None


# However small the block, one run may always remove this many characters of it.
MIN_DELETION_ALLOWANCE = 40


def edit_block_as_agent(
    agent: Agent,
    label: str,
    edit: Callable[[str], str],
    actor: Actor,
    *,
    expected_version: int | None = None,
    isolated: Mapping[str, Block] | None = None,
    guarded: bool = True,
) -> AgentEdit:
    """Apply a memory tool's edit to the agent's block `label` (or to the conversation's
    own copy of it, when `isolated` holds one).

    The edit is a function of the block's value, applied to the fresh value under a row
    lock: a targeted edit (replace, insert) computed while someone else changed the block
    lands on top of their change. A whole rewrite passes `expected_version`, the version
    the model read; if the block moved on since, the rewrite would silently drop the
    other change, so it is refused with the current text for the model to re-read.

    Every path an agent edits by comes through here, so the guards hold on all of them
    (`guarded=False` only for a forget job a person asked for): a degenerate rewrite
    (empty, a repetition loop, truncated) and an edit that would take more than the
    block's deletion budget out of it in one run are refused (editing.GuardRefused). A
    block under review, or an edit from untrusted input that reads as instructions to the
    agent, becomes a proposal (memory/proposals.py) instead of a change: the block stays
    as it was until a person accepts it. What an edit removes from a block is kept in
    archival memory, linked to the version it left (`archive_removed`).

    Raises editing.EditRefused, with a message for the model, when the block is missing,
    read-only, stale, or the result would exceed its limit; nothing changes then.
    """
    with transaction.atomic():
        locked = Block.objects.select_for_update()
        if isolated and label in isolated:
            block = locked.filter(pk=isolated[label].pk).first()
        else:
            block = locked.filter(agent_links__agent=agent, agent_links__label=label).first()
        if block is None:
            labels = sorted(AgentBlock.objects.filter(agent=agent).values_list("label", flat=True))
            raise editing.EditRefused(
                f"There is no memory block labelled `{label}` "
                f"(available labels: {', '.join(labels) or 'none'})."
            )
        if block.read_only:
            # A guard like the others: the run records the refusal.
            raise editing.GuardRefused("read_only", "This block is read-only and cannot be edited.")
        # The run's earlier edits of this block that wait for review: this one builds on
        # them, so the agent's edits of one block read as one consistent change.
        proposal = (
            Proposal.objects.select_for_update()
            .filter(block=block, run_id=actor.run_id, status=ProposalStatus.PENDING)
            .first()
            if guarded and actor.run_id
            else None
        )
        working = proposal.proposed_value if proposal is not None else block.value
        if proposal is None and expected_version is not None and block.version != expected_version:
            raise editing.EditRefused(
                f"The block `{label}` was changed by someone else after you read it, so "
                "rewriting it now would erase their change. Its current value is:\n"
                f"{block.value}\nRead it and call memory_rethink again with a version "
                "that keeps their change, or use memory_replace / memory_insert."
            )
        new_value = edit(working)
        editing.check_limit(new_value, block.limit)
        if new_value == working:
            return AgentEdit(block, proposal)
        reasons = _guard(block, working, new_value, actor, proposal) if guarded else []
        if proposal is not None or reasons:
            return AgentEdit(block, _propose(block, proposal, new_value, actor, reasons, agent))
        previous_value = block.value
        block.value = new_value
        block.version += 1
        block.save(update_fields=["value", "version", "updated_at"])
        version = record_version(block, previous_value, actor)
    if guarded:
        archive_removed(block, version, agent)
    return AgentEdit(block)


def _guard(
    block: Block, working: str, new_value: str, actor: Actor, proposal: Proposal | None
) -> list[str]:
    """Refuse a harmful edit (editing.GuardRefused); else why it must wait for review,
    if it must."""
    problem = guards.degenerate(working, new_value)
    if problem:
        raise editing.GuardRefused("degenerate", problem)
    reasons: list[str] = []
    if block.requires_review:
        reasons.append("The block's policy is review: a person accepts agents' edits.")
    start = proposal.base_value if proposal is not None else _run_start_value(block, actor)
    removed = guards.removed_chars(start, new_value)
    allowance = max(int(block.deletion_budget * len(start)), MIN_DELETION_ALLOWANCE)
    if start.strip() and removed > allowance:
        why = (
            f"This edit would remove {removed} of the {len(start)} characters the block "
            f"`{block.label}` held before this run, more than its deletion budget of "
            f"{block.deletion_budget:.0%} per run ({allowance} characters)."
        )
        if not reasons:
            raise editing.GuardRefused(
                "deletion_budget",
                f"{why} Nothing was changed. Edit narrowly: change only what is out of "
                "date with memory_replace or add with memory_insert, and keep the facts "
                "that still hold.",
            )
        reasons.append(why)
    if actor.untrusted:
        found = guards.added_instructions(working, new_value)
        if found:
            reasons.append(
                f"Text from untrusted input that reads as instructions to the agent: {found}"
            )
    return reasons


def _run_start_value(block: Block, actor: Actor) -> str:
    """What the block held before the actor's run first changed it (its value now, when
    the run has not changed it yet)."""
    if actor.run_id:
        first = (
            block.versions.filter(run_id=actor.run_id, reverts="")
            .order_by("number")
            .values_list("previous_value", flat=True)
            .first()
        )
        if first is not None:
            return first
    return block.value


def _propose(
    block: Block,
    proposal: Proposal | None,
    new_value: str,
    actor: Actor,
    reasons: list[str],
    editor: Agent,
) -> Proposal:
    """Hold the edit for review: a new proposal, or the run's open one carried forward."""
    if proposal is None:
        links = AgentBlock.objects.filter(block=block).select_related("agent")
        talking = [link.agent_id for link in links if link.agent.agent_type != "sleeptime_agent"]
        proposal = Proposal(
            block=block,
            organization_id=block.organization_id,
            label=block.label,
            agent_id=talking[0] if talking else editor.id,
            actor_agent_id=actor.agent_id,
            run_id=actor.run_id,
            tool_call_id=actor.tool_call_id,
            base_version=block.version,
            base_value=block.value,
        )
    proposal.proposed_value = new_value
    proposal.reasons = [*proposal.reasons, *(r for r in reasons if r not in proposal.reasons)]
    proposal.save()
    events.publish_proposal_changed(proposal.id, [proposal.agent_id])
    return proposal


REMOVED_TAG = "removed-from-block"


def archive_removed(
    block: Block, version: BlockVersion, editor: Agent | None = None
) -> list[Passage]:
    """Keep what the edit removed from the block in archival memory, linked to the version
    it left, so a fact consolidated away is still found by search. For the agents that
    hold the block and talk to people (the editor itself when none does)."""
    lines = guards.removed_lines(version.previous_value, version.value)
    if not lines:
        return []
    links = AgentBlock.objects.filter(block=block).select_related("agent")
    holders = [link.agent for link in links if link.agent.agent_type != "sleeptime_agent"]
    if not holders and editor is not None:
        holders = [editor]
    text = (
        f"Removed from memory block `{block.label}` at version {version.number}"
        + (f" (run {version.run_id})" if version.run_id else "")
        + ":\n"
        + "\n".join(lines)
    )
    kept = []
    for holder in holders:
        try:
            passage = insert_passage(holder, text, tags=[REMOVED_TAG, block.label])
        except (llm.LLMError, InvalidRequest) as error:
            # The version history still holds the text; only the search copy is missing.
            logger.warning("could not archive what version %s removed: %s", version.pk, error)
            continue
        Passage.objects.filter(pk=passage.pk).update(
            metadata={
                "block_id": block.id,
                "label": block.label,
                "version": version.number,
                "run_id": version.run_id,
            }
        )
        kept.append(passage)
    return kept


def delete_block(block: Block) -> None:
    block.delete()


# --- History and undo ----------------------------------------------------------------------


def block_history(
    block: Block,
    *,
    limit: int = 50,
    before: int | None = None,
    after: int | None = None,
    ascending: bool = False,
) -> list[BlockVersion]:
    """Versions of a block, newest first unless `ascending`. The cursors are version
    numbers: `before` N takes those numbered below N, `after` N those above, and a page
    holds the `limit` nearest the cursor (newest first, `before` the last number of a
    page gives the next; oldest first, `after` it does)."""
    versions = block.versions.select_related("actor_user")
    if before is not None:
        versions = versions.filter(number__lt=before)
    if after is not None:
        versions = versions.filter(number__gt=after)
    limit = max(1, min(limit, 1000))
    # Taken from the cursor outwards, then put in the list's order.
    if after is not None:
        walk_ascending = True
    elif before is not None:
        walk_ascending = False
    else:
        walk_ascending = ascending
    page = list(versions.order_by("number" if walk_ascending else "-number")[:limit])
    if walk_ascending != ascending:
        page.reverse()
    return page


def version_diff(version: BlockVersion) -> str:
    return merge.unified_diff(
        version.previous_value,
        version.value,
        before_name=f"{version.label}@{version.number - 1}",
        after_name=f"{version.label}@{version.number}",
    )


def revert_block(block_id: str, number: int, actor: Actor) -> Block:
    """Set the block's value back to what version `number` held, as a new version."""
    with transaction.atomic():
        block = Block.objects.select_for_update().filter(pk=block_id).first()
        if block is None:
            raise NotFound("Block not found")
        target = block.versions.filter(number=number).first()
        if target is None:
            raise NotFound(f"Block '{block_id}' has no version {number}.")
        if target.value == block.value:
            return block
        if len(target.value) > block.limit:
            raise InvalidRequest(
                f"Version {number} holds {len(target.value)} characters, more than the "
                f"block's current limit of {block.limit}; raise the limit first."
            )
        previous_value = block.value
        block.value = target.value
        block.version += 1
        block.save(update_fields=["value", "version", "updated_at"])
        record_version(block, previous_value, actor, reverts=f"version:{number}")
    return block


UndoOutcome = Literal["reverted", "unchanged", "conflict"]


def undo_change(
    block_id: str, before: str, after: str, actor: Actor, *, reverts: str
) -> tuple[UndoOutcome, str]:
    """Take back the change `before` -> `after` from the block's current value.

    When later edits touched other lines they are kept (a three-way merge); when they
    touched the same lines the undo is refused, never forced. Returns the outcome and,
    for a conflict, why.
    """
    with transaction.atomic():
        block = Block.objects.select_for_update().filter(pk=block_id).first()
        if block is None:
            return "conflict", "the block was deleted"
        undone = merge.merge3(after, block.value, before)
        if undone is None:
            return "conflict", "later edits changed the same lines"
        if undone == block.value:
            return "unchanged", ""
        if len(undone) > block.limit:
            return "conflict", f"the result would exceed the block's limit of {block.limit}"
        previous_value = block.value
        block.value = undone
        block.version += 1
        block.save(update_fields=["value", "version", "updated_at"])
        record_version(block, previous_value, actor, reverts=reverts)
    return "reverted", ""


# --- Attaching blocks to agents ------------------------------------------------------------


def attach_block(agent: Agent, block: Block) -> None:
    if AgentBlock.objects.filter(agent=agent, block=block).exists():
        return
    if AgentBlock.objects.filter(agent=agent, label=block.label).exists():
        raise Conflict(
            f"Agent '{agent.id}' already has a block labelled '{block.label}'; "
            "detach it first or relabel one of them."
        )
    position = (AgentBlock.objects.filter(agent=agent).aggregate(p=Max("position"))["p"] or 0) + 1
    try:
        with transaction.atomic():
            AgentBlock.objects.create(
                agent=agent, block=block, label=block.label, position=position
            )
            events.publish_blocks_changed(agent.id)
    except IntegrityError:
        # A concurrent attach of the same label won the race; same answer as the check above.
        raise Conflict(
            f"Agent '{agent.id}' already has a block labelled '{block.label}'."
        ) from None


def detach_block(agent: Agent, block_id: str) -> None:
    deleted, _ = AgentBlock.objects.filter(agent=agent, block_id=block_id).delete()
    if not deleted:
        raise NotFound(f"Block '{block_id}' is not attached to agent '{agent.id}'")
    events.publish_blocks_changed(agent.id)


# --- Archival memory -----------------------------------------------------------------------


# Candidates the HNSW scan keeps while it walks the graph (pgvector's default is 40).
# Short queries against the local embedder's vectors, where common words weigh heavily in
# every stored passage, need a wider walk: at 100,000 passages recall@10 goes from 0.59
# at 40 to 0.73 at 100 (0.77 at 150, past a 20 ms p95). From about 200 the planner prices
# the index above ranking every row and scans the table instead (~500 ms).
# bench/archival.py measures it.
ARCHIVAL_EF_SEARCH = 100


def _embed(agent: Agent, texts: list[str]) -> list[list[float]]:
    return llm.embed(agent.embedding_handle, texts, EMBEDDING_DIM)


def insert_passage(
    agent: Agent,
    text: str,
    *,
    tags: list[str] | None = None,
    created_at: datetime | None = None,
) -> Passage:
    if not text or not text.strip():
        raise InvalidRequest("An archival memory needs some text.")
    # The embedding call is slow network I/O; it happens before any transaction opens.
    (vector,) = _embed(agent, [text])
    passage = Passage.objects.create(
        owner_id=agent.owner_id,
        agent=agent,
        text=text,
        embedding=vector,
        embedding_handle=agent.embedding_handle,
        tags=sorted(set(tags or [])),
    )
    if created_at is not None:
        Passage.objects.filter(pk=passage.pk).update(created_at=created_at)
        passage.created_at = created_at
    return passage


def agent_passages(agent: Agent) -> QuerySet[Passage]:
    """The agent's archival memory: its own passages and those of its attached sources."""
    return Passage.objects.filter(Q(agent=agent) | Q(source__agents=agent))


def archival_count(agent: Agent) -> int:
    """How many passages `agent_passages` holds, from the counts the database keeps
    (PassageCount): a lookup per holder, whatever the size of archival memory."""
    holders = Q(holder=agent.id) | Q(holder__in=agent.sources.values("pk"))
    return PassageCount.objects.filter(holders).aggregate(n=Sum("count"))["n"] or 0


# Reciprocal Rank Fusion (Cormack, Clarke and Buettcher, 2009): a passage scores
# 1 / (RRF_K + rank) in each ranking it appears in, and the scores add up. It needs no
# calibration between a cosine distance and a text rank, which share no scale; 60 is the
# paper's constant, which damps the weight of the very first places.
RRF_K = 60


def fusion_depth(top_k: int) -> int:
    """How far down each ranking fusion looks for a search of `top_k` results. Several
    times deeper than the results: fusion lifts a passage both rankings place fairly
    well above one only a single ranking places high, so it must see those places."""
    return max(50, 5 * top_k)


def search_passages(
    agent: Agent,
    query: str,
    *,
    top_k: int = 10,
    tags: list[str] | None = None,
    tag_match_mode: Literal["any", "all"] = "any",
    start: datetime | None = None,
    end: datetime | None = None,
    full_text: bool = True,
) -> list[Passage]:
    """The agent's passages that best answer `query`, best first (at most `top_k`, 1-100).

    Two rankings of the same rows (the agent's and its sources', narrowed by the tag and
    date filters) are fused by Reciprocal Rank Fusion: by cosine distance to the query's
    embedding (the HNSW index: approximate over a large archival memory, exact when the
    planner finds the agent's share small enough to rank every row), and by full-text
    rank among the passages holding the query's words but stop words (all of them where
    some passages do, else any; no stemming: `full_text_query`). So a rare
    exact word, a name or a code like AX-4471, finds its passage even where the
    embedding blurs it among many similar ones. The approximate walk's list is completed
    by the full-text candidates' exact distances, so a passage both rankings place well
    keeps its place where the walk missed it. Without such passages (or words) the
    order is the vector ranking's. Ties go to
    the nearer passage. `full_text=False` ranks by the vector alone (bench/archival.py
    measures both). Each result carries its cosine `distance`, and no embedding.
    """
    if not query or not query.strip():
        return []
    (vector,) = _embed(agent, [query])
    top_k = max(1, min(top_k, 100))
    passages = _searchable(agent, tags, tag_match_mode, start, end)
    ranked: Iterable[Passage]
    if full_text:
        ranked = _fused_ranking(passages, query, vector, top_k)
    else:
        ranked = _by_distance(passages, vector)[:top_k]
    with transaction.atomic():
        with connection.cursor() as cursor:
            # With a filter (one agent among many), a plain HNSW scan returns its ef_search
            # nearest rows and then filters them, which can leave fewer than asked for;
            # the iterative scan keeps walking the graph until enough rows pass the filter.
            # ef_search: see ARCHIVAL_EF_SEARCH. Both in one round trip, for this
            # transaction only.
            # No sequential or bitmap scan where another plan exists: over most of a
            # table whose rows carry their words (search_vector) the planner took ranking
            # every row exactly for cheaper than the HNSW index (30 ms against 4 ms at
            # 10,000 passages). An agent with few rows is still ranked exactly, through
            # its own index, and full-text search still reads its GIN index (bitmap
            # scans are its only kind).
            cursor.execute(
                "SELECT set_config('hnsw.iterative_scan', 'strict_order', true),"
                " set_config('hnsw.ef_search', %s, true),"
                " set_config('enable_seqscan', 'off', true),"
                " set_config('enable_bitmapscan', 'off', true)",
                [str(ARCHIVAL_EF_SEARCH)],
            )
        return list(ranked)


def _searchable(
    agent: Agent,
    tags: list[str] | None,
    tag_match_mode: Literal["any", "all"],
    start: datetime | None,
    end: datetime | None,
) -> QuerySet[Passage]:
    """The rows an archival search ranks; both rankings of a hybrid search use these."""
    # The same rows as agent_passages(), stated on this table's own columns. That query's
    # OR across the join to the attachments leaves the planner blind to how many rows
    # match: for an agent holding 1% of 100,000 passages it walked the HNSW graph through
    # ~1,150 other rows (70-150 ms, recall 0.57) where ranking its ~1,000 rows exactly
    # takes a few milliseconds; here it has statistics for each condition (bench/archival.py).
    source_ids = list(agent.sources.values_list("pk", flat=True))
    passages = Passage.objects.filter(Q(agent=agent) | Q(source_id__in=source_ids))
    if tags:
        if tag_match_mode == "all":
            passages = passages.filter(tags__contains=sorted(set(tags)))
        else:
            any_tag = Q()
            for tag in set(tags):
                any_tag |= Q(tags__contains=[tag])
            passages = passages.filter(any_tag)
    if start is not None:
        passages = passages.filter(created_at__gte=start)
    if end is not None:
        passages = passages.filter(created_at__lte=end)
    return passages


def _by_distance(passages: QuerySet[Passage], vector: list[float]) -> QuerySet[Passage]:
    # Nobody reads a result's 1536 floats, and parsing them cost ~5 ms per search.
    return (
        passages.defer("embedding", "search_vector")
        .annotate(distance=CosineDistance("embedding", vector))
        .order_by("distance")
    )


# Words a question is made of that say nothing about what it asks (English, where most
# of them would match most passages); the rest of a query's words are what full-text
# search looks for.
STOP_WORDS = frozenset(
    """a about after all also am an and any are as at be been before being but by can
    could did do does doing for from had has have having he her here him his how i if in
    into is it its me my no not of on or our she so some than that the their them then
    there these they this those to too us was we were what when where which while who whom
    why will with would you your yours""".split()
)


def full_text_query(query: str, passages: QuerySet[Passage] | None = None) -> SearchQuery | None:
    """What full-text search looks for: the query's words but stop words and single
    letters (numbers count), so a question like "what did I say about AX-4471?" is its
    words "say" and "AX-4471"; None without such words. Passages holding all of them, if
    `passages` has any (one look in the GIN index), else those holding any of them: all
    the words keep the ranking to few rows, and any word still finds a passage a
    question's other words are not in."""
    words = [w for w in re.findall(r"\w[\w-]*", query.lower()) if len(w) > 1 or w.isdigit()]
    kept = list(dict.fromkeys(w for w in words if w not in STOP_WORDS))
    if not kept:
        return None
    terms = [SearchQuery(word, config=TEXT_SEARCH_CONFIG, search_type="plain") for word in kept]
    every = functools.reduce(operator.and_, terms)
    if len(terms) == 1 or passages is None or passages.filter(search_vector=every).exists():
        return every
    return functools.reduce(operator.or_, terms)


def _fused_ranking(
    passages: QuerySet[Passage], query: str, vector: list[float], top_k: int
) -> Iterable[Passage]:
    """One statement: the vector ranking and the full-text ranking of `passages`, each
    `fusion_depth(top_k)` deep, fused. The ORM writes both rankings (so their filters are
    the very same); SQL joins them, which the ORM cannot say."""
    depth = fusion_depth(top_k)
    nearest = (
        passages.annotate(distance=CosineDistance("embedding", vector))
        .order_by("distance")
        .values("id", "distance")[:depth]
    )
    words = full_text_query(query, passages)
    if words is None:
        # The vector ranking alone, ties in key order as the fusion breaks them.
        by_distance: list[Passage] = list(_by_distance(passages, vector)[:depth])
        by_distance.sort(key=lambda passage: (passage.distance, passage.id))  # type: ignore[attr-defined]
        return by_distance[:top_k]
    # ts_rank_cd (cover density) favours passages holding more of the query's words, close
    # together. Every matching row is ranked, which the GIN index keeps to the rows that
    # hold one of the words. Rows not yet backfilled (NULL) match nothing here.
    matching = (
        passages.filter(search_vector=words)
        .annotate(text_rank=SearchRank(F("search_vector"), words, cover_density=True))
        .order_by("-text_rank", "id")
        .values("id", "text_rank")[:depth]
    )
    nearest_sql, nearest_params = nearest.query.sql_with_params()
    matching_sql, matching_params = matching.query.sql_with_params()
    quote = connection.ops.quote_name
    columns = ", ".join(
        f"passage.{quote(field.column)}"
        for field in Passage._meta.concrete_fields
        if field.column and field.name not in ("embedding", "search_vector")
    )
    # The HNSW walk is approximate: it may miss a passage among the nearest `depth`. The
    # full-text candidates' exact distances complete it, so a passage both rankings place
    # well keeps its place in the vector ranking too (with a perfect walk this changes
    # nothing: a candidate nearer than the walk's last is one the walk found). What then
    # ranks beyond `depth` counts for full text only, as in an exact ranking.
    sql = f"""
        WITH walked AS ({nearest_sql}),
        matching AS (
            SELECT id, row_number() OVER (ORDER BY text_rank DESC, id) AS rank
            FROM ({matching_sql}) AS ranked
        ),
        candidates AS (
            SELECT id, distance FROM walked
            UNION ALL
            SELECT passage.id, passage.embedding <=> %s::vector
            FROM matching JOIN {quote(Passage._meta.db_table)} AS passage
                ON passage.id = matching.id
            WHERE matching.id NOT IN (SELECT id FROM walked)
        ),
        nearest AS (
            SELECT id, distance, row_number() OVER (ORDER BY distance, id) AS rank
            FROM candidates
        ),
        fused AS (
            SELECT nearest.id, nearest.distance,
                CASE WHEN nearest.rank <= %s THEN 1.0 / (%s + nearest.rank) ELSE 0 END
                    + COALESCE(1.0 / (%s + matching.rank), 0) AS score
            FROM nearest LEFT JOIN matching ON matching.id = nearest.id
        )
        SELECT {columns}, fused.distance, fused.score
        FROM fused JOIN {quote(Passage._meta.db_table)} AS passage ON passage.id = fused.id
        ORDER BY fused.score DESC, fused.distance, passage.id
        LIMIT %s
    """
    params = [
        *nearest_params,
        *matching_params,
        Vector(vector).to_text(),
        depth,
        RRF_K,
        RRF_K,
        top_k,
    ]
    return Passage.objects.raw(sql, params)


def list_passages(
    agent: Agent,
    *,
    after: str | None = None,
    before: str | None = None,
    limit: int | None = 100,
    search: str | None = None,
    ascending: bool = True,
) -> list[Passage]:
    passages = agent_passages(agent)
    if search:
        passages = passages.filter(text__icontains=search)
    page = cursor_page(passages, after=after, before=before, limit=limit, ascending=ascending)
    return list(page)


def delete_passage(agent: Agent, passage_id: str) -> None:
    deleted, _ = Passage.objects.filter(agent=agent, pk=passage_id).delete()
    if not deleted:
        raise NotFound(f"Passage '{passage_id}' not found")
