"""`manage.py worker` as deployed: a django-q2 cluster and its clock, in their own processes.

Everything is created through the live server's HTTP API; the worker (the `worker`
fixture, with RUN_STALE_SECONDS=3 and SLEEPTIME_RETRY_SECONDS=1) executes the runs against
the scripted model's sleeper lane. These tests are about what happens around a run:
failures and their retries, a worker killed mid-run, the idle trigger.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from datetime import datetime
from typing import Any

import httpx
import pytest

from tests.factories import TEST_EMBEDDING, TEST_MODEL
from tests.live import SLEEPTIME_RETRY_SECONDS, WorkerProcess, active_run_ids, wait_until
from tests.llm_server import ScriptedLLM

ENDED = ("completed", "failed", "cancelled")


class Api:
    """A thin JSON client for the live server that fails loudly on an error status."""

    def __init__(self, base_url: str, key: str) -> None:
        self.http = httpx.Client(
            base_url=base_url, headers={"Authorization": f"Bearer {key}"}, timeout=30
        )

    def call(self, method: str, path: str, body: Any = None, **params: Any) -> Any:
        response = self.http.request(method, path, json=body, params=params or None)
        assert response.status_code == 200, (method, path, response.status_code, response.text)
        return response.json()

    def get(self, path: str, **params: Any) -> Any:
        return self.call("GET", path, **params)

    def post(self, path: str, body: Any = None) -> Any:
        return self.call("POST", path, body)

    def create_pair(self, name: str, **settings: Any) -> dict[str, Any]:
        return self.post(
            "/v1/agents/",
            {
                "name": name,
                "model": TEST_MODEL,
                "embedding": TEST_EMBEDDING,
                "memory_blocks": [
                    {"label": "human", "value": "Name: ?"},
                    {"label": "persona", "value": "You are a helpful assistant."},
                ],
                "enable_sleeptime": True,
                **settings,
            },
        )

    def say(self, agent_id: str, text: str) -> list[str]:
        """Send one user message; return the run ids the turn started."""
        body = {"messages": [{"role": "user", "content": text}]}
        response = self.post(f"/v1/agents/{agent_id}/messages", body)
        assert response["stop_reason"]["stop_reason"] == "end_turn", response
        return response["usage"]["run_ids"] or []

    def run(self, run_id: str) -> dict[str, Any]:
        return self.get(f"/v1/runs/{run_id}")

    def wait_for_run(
        self, run_id: str, statuses: tuple[str, ...] = ENDED, timeout: float = 15
    ) -> dict[str, Any]:
        def reached() -> dict[str, Any] | None:
            run = self.run(run_id)
            return run if run["status"] in statuses else None

        return wait_until(reached, timeout=timeout, what=f"run {run_id} to be {statuses}")

    def retry_of(self, run_id: str, agent_id: str, timeout: float = 10) -> dict[str, Any]:
        """The run that retries `run_id`, once it exists."""

        def found() -> dict[str, Any] | None:
            runs = self.get("/v1/runs", agent_id=agent_id, limit=100)
            return next((run for run in runs if run["retry_of"] == run_id), None)

        return wait_until(found, timeout=timeout, what=f"a retry of {run_id}")


@pytest.fixture
def api(live_server_url: str, api_key: str) -> Api:
    return Api(live_server_url, api_key)


@pytest.fixture(autouse=True)
def _runs_settle(django_db_blocker: Any) -> Any:
    """Let every run end before the next test, so none answers from its script."""
    yield
    with django_db_blocker.unblock():
        wait_until(lambda: not active_run_ids(), timeout=20, what="the test's runs to end")


def _when(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def test_a_run_whose_model_fails_is_marked_failed_then_retried_after_its_back_off(
    api: Api, worker: WorkerProcess, llm: ScriptedLLM
):
    # One request plus the client's one retry (LLM_MAX_RETRIES=1), both refused.
    llm.sleeper.fail(500, "the sleeper's model is down", times=2)
    agent = api.create_pair("flaky")
    sleeper_id = agent["multi_agent_group"]["agent_ids"][0]

    [run_id] = api.say(agent["id"], "I moved to Porto last week")

    failed = api.wait_for_run(run_id)
    assert failed["status"] == "failed", failed
    assert "500" in failed["error"] and "the sleeper's model is down" in failed["error"]
    assert failed["metadata"]["error"] == failed["error"]
    assert failed["stop_reason"] == "error"
    assert failed["attempt"] == 1
    assert len(llm.sleeper.requests) == 2

    retry = api.retry_of(run_id, sleeper_id)
    assert retry["trigger"] == "retry"
    assert retry["attempt"] == 2
    assert retry["agent_id"] == sleeper_id
    back_off = (_when(retry["not_before"]) - _when(failed["completed_at"])).total_seconds()
    assert SLEEPTIME_RETRY_SECONDS - 0.2 <= back_off <= SLEEPTIME_RETRY_SECONDS + 0.5, back_off

    done = api.wait_for_run(retry["id"])
    assert done["status"] == "completed", done
    assert _when(done["started_at"]) >= _when(retry["not_before"])
    assert len(llm.sleeper.requests) == 3
    # The retry reads what the failed run read.
    assert "user: I moved to Porto last week" in done["transcript"]
    assert done["transcript"] == failed["transcript"]
    assert [call["name"] for call in done["tool_calls"]] == ["memory_finish_edits"]


def test_a_run_lost_with_its_killed_worker_is_failed_and_redone_by_another_without_doubling_edits(
    api: Api, worker: WorkerProcess, start_worker: Any, llm: ScriptedLLM
):
    sleeper = llm.sleeper
    insert = {"label": "human", "new_str": "Likes jazz"}
    agent = api.create_pair("doomed")
    sleeper_id = agent["multi_agent_group"]["agent_ids"][0]
    human = api.get(f"/v1/agents/{agent['id']}/core-memory/blocks/human")

    # The run's first step inserts a line; its second request hangs, so the run is in
    # flight, its edit made, when the worker dies.
    sleeper.hold()
    sleeper.tool_call("memory_insert", insert)
    [run_id] = api.say(agent["id"], "I love jazz")
    api.wait_for_run(run_id, ("running",))
    sleeper.wait_for_waiting(1, timeout=10)
    with sleeper._cond:  # let the first request through and hold the next, atomically
        sleeper.release()
        sleeper.hold()
    wait_until(
        lambda: len(sleeper.requests) == 2 and sleeper.waiting == 1,
        what="the run's second model request",
    )
    assert api.get(f"/v1/blocks/{human['id']}")["value"] == "Name: ?\nLikes jazz"

    try:
        worker.kill()
        assert not worker.alive()
        sleeper.release()  # the dead worker's request gets an answer nobody reads
        wait_until(lambda: sleeper.waiting == 0, what="the held request to leave")
        sleeper.tool_call("memory_insert", insert)  # the retry makes the same edit
        start_worker()

        lost = api.wait_for_run(run_id, timeout=10)
        assert lost["status"] == "failed", lost
        assert "worker" in lost["error"], lost["error"]
        assert [entry["label"] for entry in lost["metadata"]["rolled_back"]] == ["human"]

        retry = api.retry_of(run_id, sleeper_id)
        done = api.wait_for_run(retry["id"])
        assert done["status"] == "completed", done
        assert done["attempt"] == 2
    finally:
        worker.start()

    value = api.get(f"/v1/blocks/{human['id']}")["value"]
    assert value == "Name: ?\nLikes jazz"
    assert value.count("Likes jazz") == 1
    history = api.get(f"/v1/blocks/{human['id']}/history", order="asc")
    # The lost run's edit, its roll-back when it was failed, then the retry's edit.
    assert [(v["run_id"], v["value"], bool(v["reverts"])) for v in history if v["run_id"]] == [
        (run_id, "Name: ?\nLikes jazz", False),
        (run_id, "Name: ?", True),
        (retry["id"], "Name: ?\nLikes jazz", False),
    ]
    [undo] = [v for v in history if v["reverts"]]
    assert undo["reverts"].startswith(f"run:{run_id}")


def test_a_quiet_conversation_gets_an_idle_run_that_the_worker_completes(
    api: Api, worker: WorkerProcess, llm: ScriptedLLM
):
    agent = api.create_pair("quiet", sleeptime_agent_frequency=0, sleeptime_idle_seconds=1)
    group = agent["multi_agent_group"]
    assert group["sleeptime_agent_frequency"] == 0
    assert group["sleeptime_idle_seconds"] == 1

    assert api.say(agent["id"], "I prefer tea to coffee") == []

    def idle_runs() -> list[dict[str, Any]]:
        return [r for r in api.get("/v1/runs", agent_id=agent["id"]) if r["trigger"] == "idle"]

    [first] = wait_until(idle_runs, timeout=8, what="an idle run")
    done = api.wait_for_run(first["id"])
    assert done["status"] == "completed", done
    assert done["agent_id"] == group["agent_ids"][0]
    assert "user: I prefer tea to coffee" in done["transcript"]

    # The next quiet spell gets its own run, which reads only what is new.
    assert api.say(agent["id"], "Actually, make that coffee") == []
    second = wait_until(
        lambda: [r for r in idle_runs() if r["id"] != first["id"]], timeout=8, what="a 2nd run"
    )
    done = api.wait_for_run(second[0]["id"])
    assert done["status"] == "completed", done
    assert "user: Actually, make that coffee" in done["transcript"]
    assert "I prefer tea" not in done["transcript"]
    assert len(idle_runs()) == 2


def test_a_worker_stops_when_sigterm_reaches_its_whole_process_group(start_worker: Any):
    """`systemctl stop` (default KillMode=control-group) and `kill -TERM -<pgid>` signal
    every process of the worker, not only the main one. Whether it hangs depends on what
    the cluster's processes are doing at that moment, so three stops are tried."""
    for attempt in range(1, 4):
        extra = start_worker()
        # The main process, the cluster's sentinel, pusher, monitor and Q_WORKERS=2 workers.
        wait_until(lambda w=extra: w.group_size() >= 6, timeout=15, what="the cluster to start")
        time.sleep(0.5)
        os.killpg(extra.process.pid, signal.SIGTERM)
        try:
            extra.process.wait(timeout=5)
            stopped = True
        except subprocess.TimeoutExpired:
            stopped = False
            extra.kill()
        assert stopped, (
            f"attempt {attempt}: `manage.py worker` was still running 5 s after SIGTERM "
            "reached its process group"
        )


def test_a_killed_workers_job_processes_end_with_it(start_worker: Any):
    """SIGKILL (the OOM killer, `kill -9`) gives `manage.py worker` no chance to stop its
    cluster; its processes must not be adopted by init and go on taking jobs with no clock."""
    import psutil

    extra = start_worker()
    wait_until(lambda: extra.group_size() >= 6, timeout=15, what="the cluster to start")
    cluster = psutil.Process(extra.process.pid).children(recursive=True)
    assert len(cluster) >= 5

    os.kill(extra.process.pid, signal.SIGKILL)  # the main process only, not its group

    def ended(process: psutil.Process) -> bool:
        try:
            return process.status() == psutil.STATUS_ZOMBIE
        except psutil.NoSuchProcess:
            return True

    wait_until(
        lambda: all(ended(process) for process in cluster),
        timeout=10,
        what="the killed worker's cluster to end",
    )
