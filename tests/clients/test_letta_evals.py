"""letta-evals 0.26.0 (from PyPI, in `.venv-evals`) runs `evals/suite.yaml` against a live
Reverie: its letta_code target drives Letta Code on agents made by `evals/agent_factory.py`,
and a `memory_block` grader reads what each agent's sleep-time agent filed in its `human`
block. letta-evals exits 0 even when every sample fails, so the test reads summary.json
and the per-sample results; and every request the clients made must have had a 2xx."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from tests.clients.harness import CLIENTS, EVALS_VENV, LETTA_CODE, client_env, require, run
from tests.factories import TEST_MODEL
from tests.live import active_run_ids, wait_until
from tests.llm_server import SLEEPER_TOOL, ToolCall, make_tool_call

SUITE = CLIENTS / "evals"


@pytest.fixture(autouse=True)
def _runs_settle(django_db_blocker: Any) -> Any:
    yield
    with django_db_blocker.unblock():
        wait_until(lambda: not active_run_ids(), timeout=20, what="the test's runs to end")


def samples() -> list[dict[str, Any]]:
    lines = (SUITE / "dataset.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def test_letta_evals_grades_what_the_sleep_time_agents_filed_in_memory(
    live_server_url, api_key, worker, llm, home, tmp_path, access_log
):
    require(EVALS_VENV / "bin" / "letta-evals", "letta-evals")
    require(LETTA_CODE, "Letta Code")
    assert "- " + TEST_MODEL in (SUITE / "suite.yaml").read_text()
    facts = {s["agent_args"]["extra"]["tell"]: s["agent_args"]["extra"]["fact"] for s in samples()}

    def file_the_fact(body: dict[str, Any]) -> list[ToolCall]:
        """The sleep-time agent: files the fact it was told in `human`, then finishes."""
        if any(m.get("role") == "tool" for m in body["messages"]):
            return [make_tool_call(SLEEPER_TOOL, {})]
        transcript = json.dumps(body["messages"])
        told = [fact for tell, fact in facts.items() if tell in transcript]
        if not told:
            return [make_tool_call(SLEEPER_TOOL, {})]
        return [make_tool_call("memory_insert", {"label": "human", "new_str": told[-1]})]

    llm.sleeper.answer_with(file_the_fact)

    # Letta Code writes .letta/ into the suite's folder, its working directory: use a copy.
    suite = tmp_path / "suite"
    shutil.copytree(SUITE, suite, ignore=shutil.ignore_patterns("__pycache__"))
    output = tmp_path / "out"
    command = [str(EVALS_VENV / "bin" / "letta-evals"), "run", str(suite / "suite.yaml")]
    command += ["--base-url", live_server_url, "--api-key", api_key]
    command += ["--output", str(output), "--display", "none"]
    env = client_env(live_server_url, api_key, home, LETTA_EVALS_CACHE_DIR=str(tmp_path / "cache"))

    finished = run(command, env=env, cwd=suite, timeout=180)

    context = f"{finished.describe()}\n--- server answered ---\n{access_log.describe()}"
    assert finished.returncode == 0, context
    summary = json.loads((output / "summary.json").read_text())
    [model] = summary["models"]
    results = [json.loads(line) for line in _results_file(output).read_text().splitlines()]
    errors = {r["sample_id"]: r["error"] for r in results if r.get("error")}
    assert errors == {}, f"{errors}\n{context}"
    assert (model["n_total"], model["n_attempted"]) == (2, 2), f"{model}\n{context}"
    assert model["per_metric"] == {"remembered": 1.0}, model
    submissions = {r["sample_id"]: r["submissions"]["remembered"] for r in results}
    assert "Favourite colour: teal" in submissions["colour"], submissions
    assert "Lives in Lisbon" in submissions["city"], submissions
    assert access_log.failures() == [], context


def _results_file(output: Path) -> Path:
    [jsonl] = [path for path in output.glob("*.jsonl")]
    return jsonl
