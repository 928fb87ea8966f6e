"""Foreground isolation (issue 7, item 2): a conversation's turn latency with sleep-time on
(its sleep-time agent runs after every turn, its model taking 2 s per call) against off.

One client alternates turns between two agents on one web process, one with sleep-time
on and one without, so machine noise falls on both alike; a worker runs the background
runs meanwhile. Each run inserts a line into the shared `human` block (two sleep-time
model calls, 4 s), so background work really writes while the conversation goes on.
Both agents are replaced by fresh ones every CONVERSATION_TURNS turns, as in bench/turn.py.
"""

from __future__ import annotations

import time
from typing import Any

from bench.common import Context, summary
from bench.stack import MemoryEdits, create_agent, live_stack, send

TURNS = 200  # per agent
WARMUP_TURNS = 10
CONVERSATION_TURNS = 50
SLEEPTIME_MODEL_SECONDS = 2.0


def run(ctx: Context) -> dict[str, Any]:
    from django.utils import timezone

    from agents.models import Run, RunStatus

    ctx.llm.sleeper.delay(SLEEPTIME_MODEL_SECONDS)
    ctx.llm.sleeper.answer_with(MemoryEdits())
    with live_stack(ctx, web=1, worker=True) as stack:
        client = stack.client()

        def pair(label: str) -> dict[str, str]:
            on = create_agent(
                client, f"on-{label}", enable_sleeptime=True, sleeptime_agent_frequency=1
            )
            off = create_agent(client, f"off-{label}")
            return {"on": on["id"], "off": off["id"]}

        agents = pair("warm")
        for index in range(WARMUP_TURNS):
            for kind in ("on", "off"):
                send(client, agents[kind], f"warm {kind} {index}")
        started_at = timezone.now()
        samples: dict[str, list[float]] = {"on": [], "off": []}
        for index in range(TURNS):
            if index % CONVERSATION_TURNS == 0:
                agents = pair(str(index))
            # Alternate which goes first, so neither always follows the other.
            order = ("on", "off") if index % 2 == 0 else ("off", "on")
            for kind in order:
                began = time.perf_counter()
                send(client, agents[kind], f"{kind} turn {index}")
                samples[kind].append(time.perf_counter() - began)
        finished_at = timezone.now()
        runs = Run.objects.filter(created_at__gte=started_at, created_at__lte=finished_at)
        completed_during = Run.objects.filter(
            completed_at__gte=started_at, completed_at__lte=finished_at
        ).count()
        failed = runs.filter(status=RunStatus.FAILED).count()
    on, off = summary(samples["on"]), summary(samples["off"])
    return {
        "turns_per_agent": TURNS,
        "sleeptime_model_seconds": SLEEPTIME_MODEL_SECONDS,
        "sleeptime_frequency": 1,
        "sleeptime_on": on,
        "sleeptime_off": off,
        "p50_ratio": round(on["p50_ms"] / off["p50_ms"], 3),
        "p95_ratio": round(on["p95_ms"] / off["p95_ms"], 3),
        "target_p95_ratio": 1.1,
        "background_runs_completed_meanwhile": completed_during,
        "background_runs_failed": failed,
    }
