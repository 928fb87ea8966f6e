"""Records of forgetting: tombstones (what kind of data was removed, by whom, when) and
the jobs that carry out a request to forget a matter."""

from __future__ import annotations

from django.db import models

from config.ids import new_id


def tombstone_id() -> str:
    return new_id("tombstone")


def forget_job_id() -> str:
    return new_id("forget")


class Kind(models.TextChoices):
    MESSAGES = "messages"
    PASSAGES = "passages"
    FILE = "file"
    BLOCK_TEXT = "block_text"
    MATTER = "matter"


class Tombstone(models.Model):
    """That data was removed from an agent: who removed what kind of data, how much, when.

    Never *what*: no text, no file name, no query. The forgotten text is exactly what must
    not be kept, and a record of it would defeat the purpose.
    """

    id = models.CharField(primary_key=True, max_length=64, default=tombstone_id, editable=False)
    # Plain ids, not foreign keys: the record outlives the agent (and its organization).
    agent_id = models.CharField(max_length=64)
    organization_id = models.CharField(max_length=64, blank=True)
    # A user's id, or "agent:<id>" when an agent asked to forget on a user's behalf.
    who = models.CharField(max_length=100)
    kind = models.CharField(max_length=20, choices=Kind.choices)
    # Rows deleted plus rows and block versions rewritten.
    count = models.PositiveIntegerField(default=0)
    # The same, per kind of record ({"messages": 3, "versions": 5, ...}): numbers only.
    details = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "id"]
        indexes = [
            # Listed per agent, newest first.
            models.Index(fields=["agent_id", "created_at"], name="tombstone_agent_created"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} forgotten from {self.agent_id}"


class JobStatus(models.TextChoices):
    QUEUED = "queued"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"


class ForgetJob(models.Model):
    """A request to forget a matter, carried out on a worker (`forgetting.tasks`).

    `matter` is the only place the text is kept, and only while the job is pending: the
    job clears it when it ends, whatever the outcome. The task carries only the job's id,
    so the text is never in the queue's tables either.
    """

    id = models.CharField(primary_key=True, max_length=64, default=forget_job_id, editable=False)
    agent_id = models.CharField(max_length=64)
    organization_id = models.CharField(max_length=64, blank=True)
    who = models.CharField(max_length=100)
    matter = models.TextField(blank=True)
    status = models.CharField(max_length=10, choices=JobStatus.choices, default=JobStatus.QUEUED)
    # The sleep-time runs that rewrote the blocks without the matter.
    run_ids = models.JSONField(default=list, blank=True)
    tombstone = models.OneToOneField(
        Tombstone, on_delete=models.SET_NULL, null=True, blank=True, related_name="job"
    )
    error = models.TextField(blank=True)
    attempts = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "id"]
        indexes = [
            models.Index(fields=["agent_id", "created_at"], name="forget_job_agent_created"),
        ]

    def __str__(self) -> str:
        return f"{self.id} ({self.status})"

    @property
    def is_active(self) -> bool:
        return self.status in (JobStatus.QUEUED, JobStatus.RUNNING)
