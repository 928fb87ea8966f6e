"""Data sources: named collections of uploaded files whose passages feed archival memory
and whose digest becomes a memory block of the same name."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from accounts.querysets import OrganizationQuerySet
from config.ids import file_id, source_id


class SourceQuerySet(OrganizationQuerySet["Source"]):
    pass


class SourceFileQuerySet(OrganizationQuerySet["SourceFile"]):
    pass


class Source(models.Model):
    """A Letta source (a "folder" in the 1.x SDK): files an agent can be attached to."""

    id = models.CharField(primary_key=True, max_length=64, default=source_id, editable=False)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="sources"
    )
    organization = models.ForeignKey(
        "accounts.Organization", on_delete=models.CASCADE, related_name="sources"
    )
    name = models.CharField(max_length=100)
    description = models.TextField(blank=True)
    # How the digest agent should read this source; falls back to the description.
    instructions = models.TextField(blank=True)
    # An untrusted source's digest writes only to its own block, and what it would write
    # there that reads as instructions to the agent waits for review (memory/guards.py).
    trusted = models.BooleanField(default=False)
    metadata = models.JSONField(default=dict, blank=True)
    embedding_handle = models.CharField(max_length=200)
    embedding_chunk_size = models.PositiveIntegerField(default=300)
    agents = models.ManyToManyField("agents.Agent", related_name="sources", blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = SourceQuerySet.as_manager()

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            # The digest block is labelled with the source's name, so names must differ.
            models.UniqueConstraint(
                fields=["organization", "name"], name="source_organization_name"
            ),
        ]

    def __str__(self) -> str:
        return self.name


class FileStatus(models.TextChoices):
    PENDING = "pending"
    PARSING = "parsing"
    EMBEDDING = "embedding"
    DIGESTING = "digesting"
    COMPLETED = "completed"
    ERROR = "error"


IN_PROGRESS = (FileStatus.PARSING, FileStatus.EMBEDDING, FileStatus.DIGESTING)


class SourceFile(models.Model):
    """An uploaded file and the progress of turning it into passages and learned context."""

    id = models.CharField(primary_key=True, max_length=64, default=file_id, editable=False)
    source = models.ForeignKey(Source, on_delete=models.CASCADE, related_name="files")
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE)
    organization = models.ForeignKey(
        "accounts.Organization", on_delete=models.CASCADE, related_name="files"
    )
    file_name = models.CharField(max_length=255)
    original_file_name = models.CharField(max_length=255)
    file_type = models.CharField(max_length=100)
    kind = models.CharField(max_length=20)
    file_size = models.PositiveBigIntegerField()
    # SHA-256 of the bytes: an identical re-upload is recognised and never processed twice.
    content_hash = models.CharField(max_length=64, db_index=True)
    # The upload itself, kept in the database (not on one machine's disk) so a worker on
    # any machine can process it; cleared once the file is processed.
    content = models.BinaryField(null=True, blank=True)
    processing_status = models.CharField(
        max_length=10, choices=FileStatus.choices, default=FileStatus.PENDING, db_index=True
    )
    error_message = models.TextField(blank=True)
    total_pages = models.PositiveIntegerField(null=True, blank=True)
    total_chunks = models.PositiveIntegerField(null=True, blank=True)
    chunks_embedded = models.PositiveIntegerField(default=0)
    total_windows = models.PositiveIntegerField(null=True, blank=True)
    windows_digested = models.PositiveIntegerField(default=0)
    # Passages, windows and expected model calls, recorded before the digest runs.
    estimate = models.JSONField(default=dict, blank=True)
    # Refreshed while a worker processes the file; a stale one means the worker died and
    # the clock hands the file to another, which resumes from the last checkpoint.
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    completed_at = models.DateTimeField(null=True, blank=True)

    objects = SourceFileQuerySet.as_manager()

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return self.file_name
