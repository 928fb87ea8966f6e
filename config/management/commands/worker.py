from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import (
    InterfaceError,
    OperationalError,
    close_old_connections,
    connection,
    connections,
)
from django.utils import timezone
from django_q.cluster import Cluster

from agents import runs, sleeptime
from config.processes import forks_die_with_their_parent
from config.vector_check import VectorSupportError, check_vector_support, database_log
from evaluation import services as evaluations
from memory import tasks as memory_tasks
from sources import tasks as source_tasks

logger = logging.getLogger("reverie.clock")


class Every:
    """A step of the clock taken on its first beat, then at most once per `seconds`: for
    checks that matter rarely and should not cost a query every second."""

    def __init__(self, seconds: float, step: Callable[[], object]) -> None:
        self.seconds = seconds
        self.step = step
        self.last: datetime | None = None

    def __call__(self, now: datetime | None = None) -> None:
        now = now or timezone.now()
        if self.last is not None and (now - self.last).total_seconds() < self.seconds:
            return
        self.last = now
        self.step()


# Passages stored before full-text search existed get their search vectors in the
# background: queued on the clock's first beat, and looked for again now and then in case
# a worker died in the middle (a running backfill queues its own next part).
backfill_search_vectors = Every(60.0, memory_tasks.queue_search_backfill)


def tick(now: datetime | None = None) -> None:
    """One beat of the clock that runs beside the workers. Each step is safe on several
    machines at once: rows are claimed with skip_locked, so no two clocks act on one."""
    runs.recover_lost(now)  # runs whose worker died fail, and so are retried
    runs.recover_lost_turns(now)  # turns whose web process died fail
    sleeptime.fire_idle(now)  # conversations gone quiet get their run
    runs.enqueue_due(now)  # retries after their back-off, runs whose job was lost
    source_tasks.recover_ingestion(now)  # files and digests whose worker died
    evaluations.recover_lost(now)  # evaluations whose worker died go on elsewhere
    backfill_search_vectors(now)  # passages older than full-text search get their words


class Command(BaseCommand):
    help = (
        "Run a django-q2 worker cluster and, beside it, the clock that starts idle "
        "sleep-time runs, retries failed runs after their back-off and recovers runs "
        "lost with a killed worker. Run one per worker machine; clocks on several "
        "machines never act twice on one run."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--clock-interval", type=float, default=1.0, help="Seconds between clock ticks."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            check_vector_support(server_log=database_log())
        except VectorSupportError as error:
            raise CommandError(str(error)) from None
        # The cluster forks its processes now; none of them may inherit an open
        # database connection from this one.
        connections.close_all()
        # Nor a pool of them (DATABASE_POOL_SIZE, for web processes): psycopg's pool does
        # not survive a fork, and the cluster forks again whenever it replaces a worker,
        # so this process tree connects per use whatever the environment says.
        close_pool = getattr(connection, "close_pool", None)  # PostgreSQL's backend only
        if close_pool is not None:
            close_pool()
        connection.settings_dict["OPTIONS"].pop("pool", None)
        # Should this process be killed outright, the cluster must not live on without it.
        forks_die_with_their_parent()
        cluster = Cluster()
        cluster.start()
        stopping = threading.Event()

        def on_signal(signum: int, frame: Any) -> None:
            stopping.set()

        # Replace the cluster's own handlers: they stop it from inside the handler, and
        # when the signal went to the whole process group (systemd, Ctrl-C in a shell
        # script) the sentinel has already died of it, and stopping waits for it forever.
        signal.signal(signal.SIGTERM, on_signal)
        signal.signal(signal.SIGINT, on_signal)
        interval = options["clock_interval"]
        database_down = False
        try:
            while not stopping.is_set() and cluster.sentinel.is_alive():
                try:
                    tick()
                except (OperationalError, InterfaceError) as error:
                    # The database restarted or is unreachable: say so once, drop the
                    # broken connection, and tick on; the next tick connects anew.
                    if not database_down:
                        logger.warning("database unavailable (%s); the clock keeps trying", error)
                    database_down = True
                    connection.close()
                except Exception:
                    logger.exception("clock tick failed; retrying")
                    close_old_connections()
                else:
                    if database_down:
                        logger.warning("database reachable again; the clock carries on")
                    database_down = False
                stopping.wait(interval)
        finally:
            connection.close()
        self._stop(cluster)

    def _stop(self, cluster: Any) -> None:
        """Stop the cluster gracefully if its sentinel lives; never hang on a dead one."""
        stopping_since = time.monotonic()
        # A signal sent to the whole group reaches the sentinel too; give it a moment.
        while cluster.sentinel.is_alive() and time.monotonic() - stopping_since < 0.5:
            time.sleep(0.05)
        if not cluster.sentinel.is_alive():
            return
        stopper = threading.Thread(target=cluster.stop, name="stop cluster", daemon=True)
        stopper.start()
        while stopper.is_alive():
            stopper.join(timeout=0.2)
            if not cluster.sentinel.is_alive():
                return  # it died meanwhile; the stop call would wait for it forever
