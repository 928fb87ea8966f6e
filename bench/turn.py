"""Turn overhead (issue 7, item 1): what a turn costs the server beyond the model's own
time, through the HTTP API (POST /v1/agents/{id}/messages) of a live web process, with a
zero-latency model, for 1 client and for 8 concurrent clients.

Every turn is one model call (the scripted model answers with send_message, which ends
the turn). The scripted server records how long it held each call (tests/llm_server.py,
`served`); a turn's server time is its round trip minus that. Each client talks to its
own agent; after CONVERSATION_TURNS turns it moves to a fresh agent, so every figure is
over conversations of the same length (0 to 40 turns of history), not ever longer ones.

Besides latencies, the CPU the web process and the database's backends used per turn:
with 8 clients and no pause between turns the server is never idle, a turn waits for the
7 others, and its latency is about 8 / throughput, which the CPU per turn decides.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import httpx

from bench.common import Context, summary
from bench.stack import Stack, cpu_seconds, create_agent, database_backends, live_stack, send

CONVERSATION_TURNS = 40
WARMUP_TURNS = 20


def _last_user_text(body: dict[str, Any]) -> str:
    for message in reversed(body.get("messages") or []):
        if message.get("role") == "user":
            return str(message.get("content"))
    return ""


def _talk(client: httpx.Client, label: str, turns: int, out: list[tuple[str, float]]) -> None:
    """`turns` turns, a fresh agent every CONVERSATION_TURNS; (text, seconds) into `out`."""
    agent_id = ""
    for index in range(turns):
        if index % CONVERSATION_TURNS == 0:
            agent_id = create_agent(client, f"{label}-{index}")["id"]
        text = f"{label} turn {index}"
        started = time.perf_counter()
        send(client, agent_id, text)
        out.append((text, time.perf_counter() - started))


def measure(ctx: Context, stack: Stack, clients: int, turns: int) -> dict[str, Any]:
    """`clients` threads, each with its own connection and agents, `turns` turns each."""
    results: list[list[tuple[str, float]]] = [[] for _ in range(clients)]
    errors: list[BaseException] = []
    connections = [stack.client() for _ in range(clients)]
    # Warm-up, not measured: the web process's first turns import and fill caches.
    for index, client in enumerate(connections):
        _talk(client, f"warm-{clients}-{index}", WARMUP_TURNS // clients + 1, [])
    ctx.llm.reset()

    def work(index: int) -> None:
        try:
            _talk(connections[index], f"c{clients}-{index}", turns, results[index])
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=work, args=(index,)) for index in range(clients)]
    backends = database_backends()
    cpu_before = (cpu_seconds(stack.web_pids), cpu_seconds(backends))
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    backends = sorted(set(backends) | set(database_backends()))
    web_cpu = cpu_seconds(stack.web_pids) - cpu_before[0]
    database_cpu = cpu_seconds(backends) - cpu_before[1]
    if errors:
        raise errors[0]
    held = {_last_user_text(served.body): served.seconds for served in ctx.llm.served}
    raw = [seconds for result in results for _, seconds in result]
    model = [held[text] for result in results for text, _ in result]
    own = [seconds - held[text] for result in results for text, seconds in result]
    return {
        "clients": clients,
        "turns": len(raw),
        "turns_per_second": round(len(raw) / elapsed, 1),
        "round_trip": summary(raw),
        "model_held": summary(model),
        "server_time": summary(own),
        "cpu_per_turn_ms": {
            "web_process": round(web_cpu / len(raw) * 1000, 2),
            "database": round(database_cpu / len(raw) * 1000, 2),
        },
    }


def run(ctx: Context) -> dict[str, Any]:
    with live_stack(ctx, web=1) as stack:
        one = measure(ctx, stack, clients=1, turns=400)
        eight = measure(ctx, stack, clients=8, turns=50)
    return {
        "conversation_turns": CONVERSATION_TURNS,
        "single_client": one,
        "eight_clients": eight,
        "target_server_time_p50_ms": 15,
    }
