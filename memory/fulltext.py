"""The full-text search vectors of archival passages: filling those of the rows stored
before the column existed (the backfill), and how far that has got.

A database trigger fills `Passage.search_vector` on every write (migration 0007), so
only rows older than it wait here. Until then search finds them through the vector
ranking alone, so the backfill is never urgent: it runs in the background
(memory/tasks.py queues it when the worker's clock finds rows waiting) or in the
foreground (`manage.py backfill_search`), in batches of short transactions that skip
rows someone else holds, and picks up where it stopped (it fills whatever is still NULL).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Literal, TypedDict

from django.contrib.postgres.search import SearchVector
from django.db import connection, transaction
from django.db.models import Count, Q

from memory.models import TEXT_SEARCH_CONFIG, Passage

logger = logging.getLogger("reverie.memory")

# Rows per UPDATE, each batch its own transaction, so the rows it locks are free again
# within seconds. An updated row is a new row version with new entries in every index of
# the table, the HNSW graph included (a graph search each): that, not computing the
# vectors, is the cost, about 1.4 ms a row on a 10,000-row table of 2 vCPUs (0.06 ms
# without the HNSW index), so about 3 s a batch.
BATCH_SIZE = 2000
# The key of the session advisory lock that lets one backfill run at a time across every
# machine. Two int4 keys: their own key space, apart from the bigint keys of turn locks
# (agents/loop.py). A worker that dies loses the lock with its connection.
_LOCK_KEYS = (int.from_bytes(b"arch", "big"), 1)
# How often a long backfill writes its progress to the log.
_LOG_EVERY_SECONDS = 30.0


class BackfillStatus(TypedDict):
    passages: int
    pending: int  # rows whose search vector is still NULL
    running: bool  # a backfill holds the lock now, on some machine


class BackfillResult(TypedDict):
    # done: nothing left it could fill; paused: it ran out of time with rows left;
    # busy: another backfill was running, and this one did nothing.
    outcome: Literal["done", "paused", "busy"]
    filled: int
    pending: int


def pending_exists() -> bool:
    """Whether any passage waits for its search vector: one probe of the partial index
    `passage_search_pending`, cheap enough for every beat of the clock."""
    return Passage.objects.filter(search_vector__isnull=True).exists()


def backfill_running() -> bool:
    """Whether a backfill holds its lock now, in any process of this database."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND granted"
            " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
            " AND classid = %s AND objid = %s AND objsubid = 2)",
            list(_LOCK_KEYS),
        )
        row = cursor.fetchone()
    return bool(row and row[0])


def backfill_status() -> BackfillStatus:
    """How far the backfill has got. Counts every passage: for a person who asks, not for
    a loop."""
    counts = Passage.objects.aggregate(
        passages=Count("pk"), pending=Count("pk", filter=Q(search_vector__isnull=True))
    )
    return {
        "passages": counts["passages"],
        "pending": counts["pending"],
        "running": backfill_running(),
    }


def backfill_search_vectors(
    *,
    batch_size: int | None = None,
    seconds: float | None = None,
    progress: Callable[[int, int], object] | None = None,
) -> BackfillResult:
    """Fill the search vector of every passage that has none, `batch_size` rows
    (default BATCH_SIZE) per statement in key order, stopping after the batch that passes
    `seconds` (None: when done). `progress(filled, pending_at_start)` is called after
    each batch.

    Safe to start anywhere at any time: when another backfill runs it returns at once
    ("busy"); rows a writer has locked are skipped, never waited for (they are filled
    by a later run, or by the trigger if the writer changes their text)."""
    size = max(1, batch_size or BATCH_SIZE)
    with _backfill_lock() as held:
        if not held:
            return {"outcome": "busy", "filled": 0, "pending": _pending_count()}
        pending_at_start = _pending_count()
        if pending_at_start:
            logger.info("filling the search vectors of %d passages", pending_at_start)
        started = last_log = time.monotonic()
        filled, after = 0, ""
        outcome: Literal["done", "paused"] = "done"
        while True:
            ids = _fill_batch(after, size)
            if ids:
                filled += len(ids)
                after = ids[-1]
                if progress is not None:
                    progress(filled, pending_at_start)
            if len(ids) < size:
                break  # a short batch: no row above `after` waits (or is free to take)
            now = time.monotonic()
            if now - last_log >= _LOG_EVERY_SECONDS:
                logger.info("search vectors: %d of %d filled", filled, pending_at_start)
                last_log = now
            if seconds is not None and now - started >= seconds:
                outcome = "paused"
                break
        pending = _pending_count()
        if filled:
            logger.info("search vectors: %d filled, %d still waiting", filled, pending)
        return {"outcome": outcome, "filled": filled, "pending": pending}


def _fill_batch(after: str, size: int) -> list[str]:
    """Fill the next `size` waiting rows with keys above `after`; their keys, in order.

    Walking on from the last key (rather than from the start each time) keeps every
    batch an index range scan, however many rows the run has filled already."""
    with transaction.atomic():
        ids = list(
            Passage.objects.select_for_update(skip_locked=True)
            .filter(search_vector__isnull=True, pk__gt=after)
            .order_by("pk")
            .values_list("pk", flat=True)[:size]
        )
        if ids:
            # QuerySet.update leaves updated_at alone: the passage itself did not change.
            # The same expression as the trigger's (to_tsvector with TEXT_SEARCH_CONFIG).
            Passage.objects.filter(pk__in=ids).update(
                search_vector=SearchVector("text", config=TEXT_SEARCH_CONFIG)
            )
    return ids


def _pending_count() -> int:
    return Passage.objects.filter(search_vector__isnull=True).count()


@contextmanager
def _backfill_lock() -> Iterator[bool]:
    """The backfill's advisory lock if nobody holds it (True), else nothing (False). A
    session lock, so that no transaction stays open across the batches."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s, %s)", list(_LOCK_KEYS))
        row = cursor.fetchone()
    held = bool(row and row[0])
    try:
        yield held
    finally:
        if held:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(%s, %s)", list(_LOCK_KEYS))
