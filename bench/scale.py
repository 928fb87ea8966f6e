"""The scale curve of a turn (issue 18, target 5): an in-process turn's time after 10,
1,000 and 100,000 messages of history. The history is out of the context, as
compaction or the summary leaves it, so the design says a turn should cost the same at
every size: it reads the context, not the history.

The history is bulk-inserted (as an import would write it), the table analysed, then
TURNS turns are sent through `send_message` with the scripted model (0 ms); the figure is
the median of the turns after the first few, with the slowest statements of the last
turn, to show what grows when something does.
"""

from __future__ import annotations

import statistics
import time
import uuid
from typing import Any

from django.db import connection
from django.test.utils import CaptureQueriesContext

from agents.models import Message, Role
from bench.common import Context
from tests.factories import make_agent, make_user, say

SIZES = (10, 1_000, 100_000)
TURNS = 40
WARMUP = 5


def _turns_after(history: int) -> dict[str, Any]:
    user = make_user(f"bench-scale-{time.time_ns()}")
    agent = make_agent(user, name=f"history-{history}")
    Message.objects.bulk_create(
        [
            Message(
                agent=agent,
                role=Role.USER,
                content=f"Earlier message {n}: something said long ago.",
                turn_id=uuid.uuid4().hex,
                in_context=False,
            )
            for n in range(history)
        ],
        batch_size=5_000,
    )
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE agents_message")
    durations = []
    slowest: list[tuple[float, str]] = []
    for n in range(TURNS):
        with CaptureQueriesContext(connection) as queries:
            started = time.perf_counter()
            say(agent, f"Hello {n}")
            durations.append(time.perf_counter() - started)
        slowest = sorted(
            ((float(q["time"]) * 1000, q["sql"][:80]) for q in queries.captured_queries),
            reverse=True,
        )[:3]
    return {
        "history_messages": history,
        "turn_p50_ms": round(statistics.median(durations[WARMUP:]) * 1000, 2),
        "statements": len(queries.captured_queries),
        "slowest_statements_ms": slowest,
    }


def run(ctx: Context) -> dict[str, Any]:
    results = [_turns_after(size) for size in SIZES]
    low, high = results[0]["turn_p50_ms"], results[-1]["turn_p50_ms"]
    return {
        "turns": results,
        "ratio_largest_to_smallest": round(high / low, 3),
    }
