"""A worker's heartbeat outlives a database blip: a job still running must not be taken
for lost once the database is back."""

from __future__ import annotations

import threading
from typing import Any

from django.db import OperationalError

from config.heartbeat import Heartbeat


class FlakyRows:
    """Stands in for the queryset: the second update fails as if the server restarted."""

    def __init__(self) -> None:
        self.beats = 0
        self.calls = 0
        self.after_failure = threading.Event()

    def update(self, **fields: Any) -> int:
        self.calls += 1
        if self.calls == 2:
            raise OperationalError("server closed the connection unexpectedly")
        self.beats += 1
        if self.calls >= 4:
            self.after_failure.set()
        return 1


def test_the_heartbeat_keeps_beating_after_a_database_error():
    rows = FlakyRows()
    with Heartbeat(rows, interval=0.2):  # type: ignore[arg-type]
        assert rows.after_failure.wait(timeout=5)
    assert rows.beats >= 3
