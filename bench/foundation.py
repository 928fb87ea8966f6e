"""In-process costs of the two hottest paths: a turn, and a block edit with its version."""

from __future__ import annotations

import time
from typing import Any

from bench.common import Context, summary


def bench_turn_overhead(turns: int = 200) -> dict[str, Any]:
    """Server time per turn with a zero-latency model: prompt compilation, storage,
    tool execution and the HTTP round trip to the model (which is loopback).

    Alternating with it, the same turn with the model's reply streamed (`stream_tokens`,
    as the ADE's chat asks): the streamed request and its chunks, each piece rendered in
    Letta's shape and pushed to the agent's pages."""
    from agents.loop import InputMessage
    from agents.services import send_message
    from tests.factories import make_agent, make_user

    user = make_user(f"bench-{time.time_ns()}")
    plain, streamed = make_agent(user, name="bench"), make_agent(user, name="bench-streamed")
    samples: dict[bool, list[float]] = {False: [], True: []}
    for index in range(turns):
        for stream_tokens, agent in ((False, plain), (True, streamed)):
            started = time.perf_counter()
            result = send_message(
                agent,
                [InputMessage(role="user", content=f"message {index}")],
                stream_tokens=stream_tokens,
            )
            samples[stream_tokens].append(time.perf_counter() - started)
            assert result.stop_reason == "end_turn", result.error
    # The first turns warm caches.
    figures: dict[str, Any] = {
        "turn_overhead_single_client": summary(samples[False][10:]),
        "turn_overhead_streamed_tokens": summary(samples[True][10:]),
    }
    figures["streamed_to_plain_p50"] = round(
        figures["turn_overhead_streamed_tokens"]["p50_ms"]
        / figures["turn_overhead_single_client"]["p50_ms"],
        2,
    )
    return figures


def bench_block_edit(edits: int = 300) -> dict[str, Any]:
    from memory.services import Actor, create_block, update_block
    from tests.factories import make_user

    user = make_user(f"bench-{time.time_ns()}")
    block = create_block(user, label="human", value="", limit=100_000)
    samples = []
    for index in range(edits):
        started = time.perf_counter()
        update_block(block.id, actor=Actor.for_user(user), value=f"line {index}\n" * 20)
        samples.append(time.perf_counter() - started)
    return {"block_edit_with_version": summary(samples[10:])}


def run(ctx: Context) -> dict[str, Any]:
    return {**bench_turn_overhead(), **bench_block_edit()}
