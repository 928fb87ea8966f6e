"""What every benchmark shares: percentiles, the machine, the throwaway database and the
scripted model, and writing results.

A benchmark is a module `bench/<name>.py` with `run(ctx: Context) -> dict` returning
JSON-ready figures; `python -m bench [name ...]` runs them (all by default) and writes
`bench/results/<name>.json` with the machine it ran on.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(share * (len(ordered) - 1))))
    return ordered[index]


def summary(samples: list[float]) -> dict[str, float]:
    """Percentiles of durations in seconds, reported in milliseconds."""
    return {
        "n": len(samples),
        "p50_ms": round(percentile(samples, 0.5) * 1000, 2),
        "p95_ms": round(percentile(samples, 0.95) * 1000, 2),
        "mean_ms": round(statistics.fmean(samples) * 1000, 2),
    }


def machine() -> dict[str, Any]:
    def first_line(command: list[str]) -> str:
        try:
            return subprocess.run(command, capture_output=True, text=True).stdout.strip()
        except OSError:
            return ""

    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "cpu_model": next(
            (
                line.split(":", 1)[1].strip()
                for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")
            ),
            "",
        )
        if Path("/proc/cpuinfo").exists()
        else "",
        "date": time.strftime("%Y-%m-%d"),
        "git": first_line(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"]),
    }


@dataclass
class Context:
    """Handed to every benchmark: the scripted model (a tests.llm_server.ScriptedLLM)
    whose base URL the environment points OPENAI_BASE_URL at, and the settings of the
    throwaway test database already created for this run."""

    llm: Any
    database: dict[str, Any]


def write(name: str, figures: dict[str, Any]) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps({"machine": machine(), **figures}, indent=2) + "\n")
    return path
