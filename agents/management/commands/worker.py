from __future__ import annotations

import logging
import time
from typing import Any

from django.core.management.base import BaseCommand, CommandParser
from django.db import close_old_connections, connection, connections

logger = logging.getLogger("reverie.clock")


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
        from django_q.cluster import Cluster

        from agents import runs

        # The cluster forks its processes now; none of them may inherit an open
        # database connection from this one.
        connections.close_all()
        cluster = Cluster()
        cluster.start()
        # The cluster's signal handlers stop it on SIGTERM / SIGINT; the clock follows.
        interval = options["clock_interval"]
        try:
            while cluster.sentinel.is_alive():
                try:
                    runs.tick()
                except Exception:
                    logger.exception("clock tick failed; retrying")
                    close_old_connections()
                time.sleep(interval)
        finally:
            connection.close()
