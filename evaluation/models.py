"""An evaluation as a durable job: what it replays into which arms, how far it got, and
each finished step (one arm's copy after one item) with what it measured.

The material and the template are snapshots taken when the evaluation is made, so a
resumed or repeated step replays exactly what the first try would have, whatever happened
to the agent meanwhile.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models

from accounts.querysets import OrganizationQuerySet
from config.ids import evaluation_id


class EvaluationStatus(models.TextChoices):
    QUEUED = "queued"  # a step waits for a worker
    RUNNING = "running"  # a worker is on a step
    PAUSED = "paused"  # the next step would go over a budget; resume when it allows
    COMPLETED = "completed"
    FAILED = "failed"  # a step failed; `error` says why; resume retries it
    CANCELLED = "cancelled"


ACTIVE = (EvaluationStatus.QUEUED, EvaluationStatus.RUNNING)
RESUMABLE = (EvaluationStatus.PAUSED, EvaluationStatus.FAILED)


class EvaluationQuerySet(OrganizationQuerySet["Evaluation"]):
    pass


class Evaluation(models.Model):
    id = models.CharField(primary_key=True, max_length=64, default=evaluation_id, editable=False)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="evaluations"
    )
    organization = models.ForeignKey(
        "accounts.Organization", on_delete=models.CASCADE, related_name="evaluations"
    )
    # The agent copied, if any (None: a bare model); its name stays when it goes.
    agent = models.ForeignKey(
        "agents.Agent", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    agent_name = models.CharField(max_length=200, blank=True)
    # What every copy starts from: model, embedding, system, blocks (runner.Template).
    template = models.JSONField()
    # How the material was made ({"kind": "arithmetic", "count": 3, "seed": 1}, ...) and
    # the items themselves, as material.to_jsonl writes them (one dict per item).
    material = models.JSONField()
    items = models.JSONField()
    # Counted once, so lists need not load the items.
    item_count = models.PositiveIntegerField(default=0)
    question_count = models.PositiveIntegerField(default=0)
    arms = models.JSONField(help_text="Arm texts: off, on, on:model=...:passes=2")
    judge_model = models.CharField(max_length=200, blank=True)
    keep_copies = models.BooleanField(default=False)
    # At most this many tokens in all (None: only the organization's budgets hold).
    token_budget = models.PositiveBigIntegerField(null=True, blank=True)
    # The estimate made before it ran (evaluation/estimate.py): an estimate, not usage.
    estimated_tokens = models.PositiveBigIntegerField(default=0)

    status = models.CharField(
        max_length=10,
        choices=EvaluationStatus.choices,
        default=EvaluationStatus.QUEUED,
        db_index=True,
    )
    # Why it is paused, failed or cancelled.
    reason = models.TextField(blank=True)
    steps_total = models.PositiveIntegerField(default=0)
    steps_done = models.PositiveIntegerField(default=0)
    # Provider-reported tokens of the finished steps, and of steps lost with a worker
    # (their copies' finished turns and runs), which were spent but measured nothing.
    tokens_used = models.PositiveBigIntegerField(default=0)
    tokens_discarded = models.PositiveBigIntegerField(default=0)

    # Workers that took the step now under way: more than one means tries were lost.
    attempts = models.PositiveIntegerField(default=0)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    objects = EvaluationQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "id"]
        indexes = [models.Index(fields=["organization", "created_at"], name="evaluation_org")]

    def __str__(self) -> str:
        return f"{self.id} ({self.status})"


class EvaluationStep(models.Model):
    """One arm's copy after one item: runner.ArmItem as a dict, and its tokens in all."""

    evaluation = models.ForeignKey(Evaluation, on_delete=models.CASCADE, related_name="steps")
    # Its place in the evaluation's order (item by item, arm by arm).
    position = models.PositiveIntegerField()
    arm = models.CharField(max_length=200)
    item_id = models.CharField(max_length=200)
    record = models.JSONField()
    tokens = models.PositiveBigIntegerField(default=0)
    # Tokens of earlier tries of this step that a stopped worker lost (prompt and
    # completion, as the provider reported them for the turns and runs that finished).
    discarded_prompt_tokens = models.PositiveBigIntegerField(default=0)
    discarded_completion_tokens = models.PositiveBigIntegerField(default=0)
    # For the organization's budgets, which count evaluations as background work.
    organization = models.ForeignKey(
        "accounts.Organization", on_delete=models.CASCADE, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["position"]
        constraints = [
            models.UniqueConstraint(fields=["evaluation", "position"], name="evaluation_step_once")
        ]
        indexes = [
            models.Index(fields=["organization", "created_at"], name="evaluation_step_spend")
        ]

    def __str__(self) -> str:
        return f"{self.evaluation_id} #{self.position} ({self.arm}, {self.item_id})"
