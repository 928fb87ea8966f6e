"""`make bench`: measures what users feel, writes bench/results/<name>.json.

Runs in-process against a throwaway database on the configured server (the embedded
Postgres by default) and the scripted OpenAI-protocol model with zero latency, so the
figures are Reverie's own overhead. Every figure is a percentile over many repetitions.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(share * (len(ordered) - 1))))
    return ordered[index]


def summary(samples: list[float]) -> dict[str, float]:
    return {
        "n": len(samples),
        "p50_ms": round(percentile(samples, 0.5) * 1000, 2),
        "p95_ms": round(percentile(samples, 0.95) * 1000, 2),
        "mean_ms": round(statistics.fmean(samples) * 1000, 2),
    }


def machine() -> dict[str, Any]:
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
    }


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


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.test.utils import setup_databases, teardown_databases

    from tests.llm_server import ScriptedLLM

    llm = ScriptedLLM()
    llm.start()
    os.environ["OPENAI_BASE_URL"] = llm.base_url
    os.environ["OPENAI_API_KEY"] = "sk-bench"
    old_config = setup_databases(verbosity=0, interactive=False)
    try:
        results: dict[str, Any] = {"machine": machine()}
        results.update(bench_turn_overhead())
        results.update(bench_block_edit())
    finally:
        teardown_databases(old_config, verbosity=0)
        llm.stop()
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "foundation.json").write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
