"""In-process costs of the two hottest paths: a turn, and a block edit with its version."""

from __future__ import annotations

import time
from typing import Any

from bench.common import Context, summary


def bench_turn_overhead(turns: int = 200) -> dict[str, Any]:
    """Server time per turn with a zero-latency model: prompt compilation, storage,
    tool execution and the HTTP round trip to the model (which is loopback)."""
    from django.contrib.auth import get_user_model

    from agents.loop import InputMessage
    from agents.services import send_message
    from tests.factories import make_agent

    user = get_user_model().objects.create_user(username=f"bench-{time.time_ns()}")
    agent = make_agent(user, name="bench")
    samples = []
    for index in range(turns):
        started = time.perf_counter()
        result = send_message(agent, [InputMessage(role="user", content=f"message {index}")])
        samples.append(time.perf_counter() - started)
        assert result.stop_reason == "end_turn", result.error
    return {"turn_overhead_single_client": summary(samples[10:])}  # first turns warm caches


def bench_block_edit(edits: int = 300) -> dict[str, Any]:
    from django.contrib.auth import get_user_model

    from memory.services import Actor, create_block, update_block

    user = get_user_model().objects.create_user(username=f"bench-{time.time_ns()}")
    block = create_block(user, label="human", value="", limit=100_000)
    samples = []
    for index in range(edits):
        started = time.perf_counter()
        update_block(block.id, actor=Actor.for_user(user), value=f"line {index}\n" * 20)
        samples.append(time.perf_counter() - started)
    return {"block_edit_with_version": summary(samples[10:])}


def run(ctx: Context) -> dict[str, Any]:
    return {**bench_turn_overhead(), **bench_block_edit()}
