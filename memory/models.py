from __future__ import annotations

from django.conf import settings
from django.contrib.postgres.indexes import GinIndex
from django.contrib.postgres.search import SearchVectorField
from django.db import models
from django.db.models.functions import Length
from pgvector.django import HnswIndex, VectorField

from accounts.querysets import OrganizationQuerySet
from config.ids import block_id, passage_id, proposal_id

DEFAULT_BLOCK_LIMIT = 5000
# Every stored embedding has this many dimensions. Shorter model outputs are zero-padded,
# which leaves cosine similarity unchanged; one width lets one HNSW index serve all models.
EMBEDDING_DIM = 1536
# One run of an agent may remove at most this share of a block's text (a per-block setting).
DEFAULT_DELETION_BUDGET = 0.3
# The text search configuration of archival passages: 'simple' lower-cases words and does
# nothing else (no stemming, no stop words), so text in every language is indexed alike.
# The trigger that fills Passage.search_vector names it too (migration 0007).
TEXT_SEARCH_CONFIG = "simple"


class Policy(models.TextChoices):
    """What an agent's edit to a block does: lands at once, waits for review, or nothing."""

    AUTO = "auto"
    REVIEW = "review"
    READ_ONLY = "read_only"


class BlockQuerySet(OrganizationQuerySet["Block"]):
    pass


class Block(models.Model):
    """A labelled, size-limited piece of core memory, shareable between agents."""

    id = models.CharField(primary_key=True, max_length=64, default=block_id, editable=False)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="blocks"
    )
    organization = models.ForeignKey(
        "accounts.Organization", on_delete=models.CASCADE, related_name="blocks"
    )
    label = models.CharField(max_length=100)
    value = models.TextField(blank=True)
    limit = models.PositiveIntegerField(default=DEFAULT_BLOCK_LIMIT)
    description = models.TextField(blank=True)
    read_only = models.BooleanField(default=False, help_text="Agents may not edit it.")
    # Agents' edits become proposals a person accepts or rejects (memory/proposals.py).
    requires_review = models.BooleanField(
        default=False, help_text="Agents' edits wait for a person's review."
    )
    # The share of the block's text one run of an agent may remove (memory/guards.py).
    deletion_budget = models.FloatField(
        default=DEFAULT_DELETION_BUDGET,
        help_text="The share (0-1) of its text one agent run may remove.",
    )
    metadata = models.JSONField(default=dict, blank=True)
    is_template = models.BooleanField(default=False)
    template_name = models.CharField(max_length=200, blank=True)
    # Bumped on every write; later used for optimistic concurrency and live diffs.
    version = models.PositiveIntegerField(default=1)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = BlockQuerySet.as_manager()

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            # The limit holds on every write path, including ones that bypass the services
            # (admin, shell, raw SQL): the database refuses an over-limit value.
            models.CheckConstraint(
                condition=models.Q(limit__gte=Length("value")), name="block_value_within_limit"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.label} ({self.id})"

    @property
    def chars_current(self) -> int:
        return len(self.value)

    @property
    def policy(self) -> Policy:
        if self.read_only:
            return Policy.READ_ONLY
        return Policy.REVIEW if self.requires_review else Policy.AUTO


class ActorType(models.TextChoices):
    USER = "user"
    AGENT = "agent"
    SYSTEM = "system"


class BlockVersion(models.Model):
    """One change of a block: what it was, what it became, who did it and when."""

    block = models.ForeignKey(Block, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField()
    label = models.CharField(max_length=100)
    previous_value = models.TextField(blank=True)
    value = models.TextField(blank=True)
    limit = models.PositiveIntegerField()
    description = models.TextField(blank=True)
    actor_type = models.CharField(max_length=10, choices=ActorType.choices)
    actor_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True
    )
    # Plain ids, not foreign keys: history outlives the agent and run that made it.
    actor_agent_id = models.CharField(max_length=64, blank=True)
    run_id = models.CharField(max_length=64, blank=True, db_index=True)
    # The tool call that made the change, when an agent made it.
    tool_call_id = models.CharField(max_length=100, blank=True)
    # Set on versions written by a revert: the version or run they undo.
    reverts = models.CharField(max_length=64, blank=True)
    # An agent's edit a person accepted: the proposal, and who accepted it.
    proposal_id = models.CharField(max_length=64, blank=True)
    reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="reviewed_versions",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["block", "number"]
        constraints = [
            models.UniqueConstraint(fields=["block", "number"], name="block_version_number"),
        ]

    def __str__(self) -> str:
        return f"{self.block_id} v{self.number}"


class ProposalStatus(models.TextChoices):
    PENDING = "pending"
    ACCEPTED = "accepted"
    PARTIAL = "partially_accepted"
    REJECTED = "rejected"
    # The block changed on the same lines since: accepting would undo that change.
    CONFLICT = "conflict"


class ProposalQuerySet(OrganizationQuerySet["Proposal"]):
    pass


class Proposal(models.Model):
    """An agent's edits to a block held for a person's review: what the block was when
    the run first touched it (`base_value`) and what the run would make of it. One per
    run and block; the run's later edits of the block build on it."""

    id = models.CharField(primary_key=True, max_length=64, default=proposal_id, editable=False)
    block = models.ForeignKey(Block, on_delete=models.CASCADE, related_name="proposals")
    organization = models.ForeignKey(
        "accounts.Organization", on_delete=models.CASCADE, related_name="proposals"
    )
    label = models.CharField(max_length=100)
    # Plain ids: the review outlives the run and the (ephemeral) agent that proposed it.
    agent_id = models.CharField(max_length=64, db_index=True)
    actor_agent_id = models.CharField(max_length=64, blank=True)
    run_id = models.CharField(max_length=64, blank=True, db_index=True)
    tool_call_id = models.CharField(max_length=100, blank=True)
    base_version = models.PositiveIntegerField()
    base_value = models.TextField(blank=True)
    proposed_value = models.TextField(blank=True)
    # Why it waits: the block's policy, and anything the guards noticed.
    reasons = models.JSONField(default=list, blank=True)
    status = models.CharField(
        max_length=20,
        choices=ProposalStatus.choices,
        default=ProposalStatus.PENDING,
        db_index=True,
    )
    # Hunk indices (of the base -> proposed diff) accepted and rejected so far.
    accepted_hunks = models.JSONField(default=list, blank=True)
    rejected_hunks = models.JSONField(default=list, blank=True)
    reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True
    )
    reviewed_at = models.DateTimeField(null=True, blank=True)
    # The versions accepting it wrote.
    applied_versions = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = ProposalQuerySet.as_manager()

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"{self.id} ({self.label}, {self.status})"


class AgentBlock(models.Model):
    """Attachment of a block to an agent's core memory.

    The label is copied here so the database itself guarantees an agent never holds two
    blocks with one label; the block services keep it in step when a block is relabelled.
    """

    agent = models.ForeignKey("agents.Agent", on_delete=models.CASCADE, related_name="block_links")
    block = models.ForeignKey(Block, on_delete=models.CASCADE, related_name="agent_links")
    label = models.CharField(max_length=100)
    position = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["position", "id"]
        constraints = [
            models.UniqueConstraint(fields=["agent", "label"], name="agent_block_label"),
            models.UniqueConstraint(fields=["agent", "block"], name="agent_block_once"),
        ]

    def __str__(self) -> str:
        return f"{self.agent_id} ← {self.label}"


class Passage(models.Model):
    """A unit of archival memory: text with its embedding."""

    id = models.CharField(primary_key=True, max_length=64, default=passage_id, editable=False)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="passages"
    )
    agent = models.ForeignKey(
        "agents.Agent", on_delete=models.CASCADE, null=True, blank=True, related_name="passages"
    )
    # A passage of an uploaded file belongs to its source (and every agent attached to
    # it) rather than to one agent.
    source = models.ForeignKey(
        "sources.Source", on_delete=models.CASCADE, null=True, blank=True, related_name="passages"
    )
    file = models.ForeignKey(
        "sources.SourceFile",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="passages",
    )
    page = models.PositiveIntegerField(null=True, blank=True)
    chunk_index = models.PositiveIntegerField(null=True, blank=True)
    text = models.TextField()
    embedding = VectorField(dimensions=EMBEDDING_DIM)
    embedding_handle = models.CharField(max_length=200)
    tags = models.JSONField(default=list, blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    # The words of `text` for full-text search (to_tsvector with TEXT_SEARCH_CONFIG). A
    # database trigger fills it on every insert and on every update of `text`, whatever
    # writes the row (services, bulk_create, COPY, raw SQL); Python never sets it. NULL
    # only on rows stored before the column existed, until memory/fulltext.py fills them.
    search_vector = SearchVectorField(null=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [
            # Approximate nearest neighbours by cosine distance, the metric Letta uses.
            HnswIndex(
                name="passage_embedding_hnsw",
                fields=["embedding"],
                m=16,
                ef_construction=64,
                opclasses=["vector_cosine_ops"],
            ),
            # Tag filters (`tags @> '["x"]'`) in archival search.
            GinIndex(fields=["tags"], name="passage_tags_gin", opclasses=["jsonb_path_ops"]),
            # The full-text half of archival search (`search_vector @@ query`).
            GinIndex(fields=["search_vector"], name="passage_search_vector_gin"),
            # The rows still waiting for their search vector, in key order: the backfill
            # walks it batch by batch, and the worker's clock asks whether it is empty. It
            # stays empty once the backfill is done (the trigger fills every new row), so
            # that question costs one index probe on a table of any size.
            models.Index(
                fields=["id"],
                name="passage_search_pending",
                condition=models.Q(search_vector__isnull=True),
            ),
            models.Index(fields=["agent", "created_at"], name="passage_agent_created"),
            # A file's passages in reading order (digest windows, re-digests).
            models.Index(fields=["file", "chunk_index"], name="passage_file_chunk"),
        ]

    def __str__(self) -> str:
        return self.text[:60]


class PassageCount(models.Model):
    """How many passages an agent or a source owns (`holder` is the agent's id, or the
    source's for a file's passages), kept by PostgreSQL triggers on every insert and
    delete (migration 0009), so the system prompt's archival count costs one lookup
    rather than a count over archival memory. A holder whose count falls to 0 has no
    row."""

    holder = models.CharField(primary_key=True, max_length=64)
    count = models.BigIntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.holder}: {self.count}"
