"""The memory app's background jobs: the backfill of passages' search vectors, how it is
queued, and the clock's step that queues it (manage.py worker)."""

from __future__ import annotations

from config.tasks import enqueue_on_commit
from memory import fulltext

# One job's share of a long backfill; it queues the rest as a new job. Well inside the
# cluster's timeout (Q_CLUSTER["timeout"]), which would kill it as a hung job.
BACKFILL_JOB_SECONDS = 300.0


# --- Queueing ------------------------------------------------------------------------------


def enqueue_search_backfill() -> None:
    enqueue_on_commit("memory.tasks.backfill_search", task_name="backfill-search-vectors")


# --- Entry points --------------------------------------------------------------------------


def backfill_search() -> str:
    result = fulltext.backfill_search_vectors(seconds=BACKFILL_JOB_SECONDS)
    if result["outcome"] == "paused":
        enqueue_search_backfill()
    return f"{result['outcome']}: {result['filled']} filled, {result['pending']} waiting"


# --- The clock (manage.py worker) ----------------------------------------------------------


def queue_search_backfill() -> bool:
    """Queue the backfill if passages wait for their search vector and no backfill is
    running (two index probes). A job queued twice is harmless: the second finds the
    first's lock taken and returns. Whether it queued one."""
    if not fulltext.pending_exists() or fulltext.backfill_running():
        return False
    enqueue_search_backfill()
    return True
