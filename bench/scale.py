"""The scale curve of a turn (issue 18, target 5): an in-process turn's time after 10,
1,000 and 100,000 messages of history, and with 1,000, 10,000 and 100,000 passages in
the agent's archival memory. The history is out of the context, as compaction or the
summary leaves it, and the turn searches no archival memory (the model does not ask), so
the design says a turn should cost the same at every size: it reads the context, not the
history, and the counts the system prompt states are kept by the database. Beside each
passage size, `count_over_passages_ms` is what counting them took before (a COUNT over
the agent's archival memory on every step), for comparison.

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
from django.utils import timezone

from agents.models import Message, Role
from bench.common import Context
from memory import services as memory_services
from memory.models import EMBEDDING_DIM
from tests.factories import make_agent, make_user, say

SIZES = (10, 1_000, 100_000)
PASSAGE_SIZES = (1_000, 10_000, 100_000)
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


def _copy_passages(agent: Any, count: int) -> None:
    """`count` passages of `agent` by binary COPY, with one vector (the turn never
    searches them), without the HNSW index: building it would take minutes at 100,000
    and change nothing this measures (the throwaway database keeps it dropped)."""
    vector = "[" + ",".join(["0"] * (EMBEDDING_DIM - 1) + ["1"]) + "]"
    with connection.cursor() as cursor:
        cursor.execute("DROP INDEX IF EXISTS passage_embedding_hnsw")
        statement = (
            "COPY memory_passage (id, owner_id, agent_id, text, embedding, embedding_handle,"
            " tags, metadata, created_at, updated_at) FROM STDIN"
        )
        now = timezone.now().isoformat()
        with cursor.cursor.copy(statement) as copy:
            for n in range(count):
                copy.write_row(
                    (
                        f"passage-{uuid.uuid4()}",
                        agent.owner_id,
                        agent.id,
                        f"Fact {n}: something the agent once chose to remember.",
                        vector,
                        "local/hashing-bow",
                        "[]",
                        "{}",
                        now,
                        now,
                    )
                )
    # The load wrote about 700 MB at 100,000 passages: settle what it leaves to the
    # background (autovacuum of the new rows, the checkpoint), which otherwise slows the
    # turns measured next. CHECKPOINT needs a superuser, as the embedded server's is.
    connection.set_autocommit(True)
    with connection.cursor() as cursor:
        cursor.execute("VACUUM (ANALYZE) memory_passage")
        cursor.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
        if cursor.fetchone()[0]:
            cursor.execute("CHECKPOINT")


def _turns_with_passages(count: int) -> dict[str, Any]:
    user = make_user(f"bench-scale-{time.time_ns()}")
    agent = make_agent(user, name=f"passages-{count}")
    _copy_passages(agent, count)
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
    counts = []
    for _ in range(WARMUP + 10):
        started = time.perf_counter()
        memory_services.agent_passages(agent).count()
        counts.append(time.perf_counter() - started)
    return {
        "archival_passages": count,
        "turn_p50_ms": round(statistics.median(durations[WARMUP:]) * 1000, 2),
        "count_over_passages_ms": round(statistics.median(counts[WARMUP:]) * 1000, 2),
        "statements": len(queries.captured_queries),
        "slowest_statements_ms": slowest,
    }


def run(ctx: Context) -> dict[str, Any]:
    results = [_turns_after(size) for size in SIZES]
    with_passages = [_turns_with_passages(size) for size in PASSAGE_SIZES]
    low, high = results[0]["turn_p50_ms"], results[-1]["turn_p50_ms"]
    return {
        "turns": results,
        "ratio_largest_to_smallest": round(high / low, 3),
        "turns_with_passages": with_passages,
        "passages_ratio_largest_to_smallest": round(
            with_passages[-1]["turn_p50_ms"] / with_passages[0]["turn_p50_ms"], 3
        ),
    }
