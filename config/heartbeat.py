"""A thread that keeps a row's `heartbeat_at` fresh while a worker is busy with it."""

from __future__ import annotations

import logging
import threading
from typing import Any

from django.db import DatabaseError, connection
from django.db.models import QuerySet
from django.utils import timezone

logger = logging.getLogger("reverie.heartbeat")


class Heartbeat:
    """Refresh `heartbeat_at` on `rows` every `interval` seconds until the block ends.

    A worker killed mid-job stops beating; the clock sees the stale heartbeat and hands
    the job on. The thread has its own database connection and closes it when done.
    """

    def __init__(self, rows: QuerySet[Any], interval: float) -> None:
        self.rows = rows
        self.interval = max(0.2, interval)
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._beat, name="heartbeat", daemon=True)

    def _beat(self) -> None:
        try:
            while not self.stopped.wait(self.interval):
                try:
                    self.rows.update(heartbeat_at=timezone.now())
                except DatabaseError as error:
                    # The database restarted under us: beat again once it is back, or the
                    # clock would take a job that is still running for a lost one.
                    logger.warning("heartbeat missed (%s); retrying", error.__class__.__name__)
                    connection.close()
        finally:
            connection.close()

    def __enter__(self) -> Heartbeat:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stopped.set()
        self.thread.join(timeout=5)
