"""The sources app's background jobs: how each is queued, where a worker starts it (ids
in; the ingest module re-reads everything), and how the clock hands on lost ones."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from agents.models import Run, RunStatus, RunTrigger
from config.tasks import enqueue_on_commit
from sources import ingest
from sources.models import IN_PROGRESS, FileStatus, SourceFile

# --- Queueing ------------------------------------------------------------------------------


def enqueue_file(file_id: str) -> None:
    enqueue_on_commit("sources.tasks.process_file", file_id, task_name=file_id)


def enqueue_source_digest(source_id: str, agent_id: str, *, reset: bool) -> None:
    enqueue_on_commit("sources.tasks.digest_source", source_id, agent_id, reset)


# --- Entry points --------------------------------------------------------------------------


def process_file(file_id: str) -> str:
    return ingest.process_file(file_id)


def digest_source(source_id: str, agent_id: str, reset: bool) -> str:
    return ingest.digest_source(source_id, agent_id, reset)


# --- The clock (manage.py worker) ----------------------------------------------------------


def recover_ingestion(now: datetime | None = None) -> list[str]:
    """Hand files and source digests whose worker stopped beating to a new worker."""
    now = now or timezone.now()
    stale = now - timedelta(seconds=ingest.stale_seconds())
    # Lost: a worker stopped beating, or a job handed on (or queued) long ago never started.
    lost = Q(heartbeat_at__lt=stale) | Q(heartbeat_at__isnull=True, updated_at__lt=stale)
    resumed = []
    with transaction.atomic():
        files = SourceFile.objects.select_for_update(skip_locked=True).filter(
            lost, processing_status__in=(FileStatus.PENDING, *IN_PROGRESS)
        )
        for upload in files.only("pk"):
            # No heartbeat: the next worker may claim it at once; updated_at now: the
            # clock hands it on again only if that worker never starts.
            SourceFile.objects.filter(pk=upload.pk).update(heartbeat_at=None, updated_at=now)
            enqueue_file(upload.pk)
            resumed.append(upload.pk)
        digests = Run.objects.select_for_update(skip_locked=True).filter(
            lost, trigger=RunTrigger.DIGEST, status=RunStatus.RUNNING, metadata__file_id=None
        )
        for run in digests:
            Run.objects.filter(pk=run.pk).update(heartbeat_at=None, updated_at=now)
            enqueue_source_digest(
                run.metadata["source_id"], run.primary_agent_id, reset=bool(run.metadata["reset"])
            )
            resumed.append(run.pk)
    return resumed
