"""`make run`'s launcher, as a new user meets it: first start, a key, Ctrl-C."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from typing import Any

import pytest

from tests.live import ROOT, free_port
from tests.llm_server import ScriptedLLM


def _get(url: str, key: str | None = None) -> tuple[int, str]:
    request = urllib.request.Request(url)
    if key:
        request.add_header("Authorization", f"Bearer {key}")
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


@pytest.fixture
def data_dir():
    # Under the project, not /tmp/pytest-of-root: the embedded Postgres runs as its own
    # system user when started by root and must be able to reach its data directory.
    path = ROOT / "var" / f"runstack-{uuid.uuid4().hex[:8]}"
    yield path
    shutil.rmtree(path, ignore_errors=True)


def _start(env: dict[str, str]) -> tuple[subprocess.Popen[str], str]:
    """Start `manage.py runstack`; return it and what it printed up to "is serving on"."""
    process = subprocess.Popen(
        [sys.executable, "manage.py", "runstack"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert process.stdout is not None
    lines = []
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        lines.append(line)
        if not line or "is serving on" in line:
            break
    return process, "".join(lines)


def _send(url: str, key: str, body: dict[str, object], method: str = "POST") -> dict[str, Any]:
    request = urllib.request.Request(
        url,
        data=json.dumps(body).encode(),
        method=method,
        headers={"Content-Type": "application/json"},
    )
    request.add_header("Authorization", f"Bearer {key}")
    with urllib.request.urlopen(request, timeout=30) as response:
        return dict(json.loads(response.read().decode()))


def _stack_env(data_dir: Path, llm_server: ScriptedLLM) -> tuple[dict[str, str], int]:
    """`make run`'s environment on a DATA_DIR of its own (the embedded database), a free
    port and the scripted model; and that port."""
    port = free_port()
    env = {
        **os.environ,
        "DATA_DIR": str(data_dir),
        "PORT": str(port),
        "OPENAI_BASE_URL": llm_server.base_url,
        "OPENAI_API_KEY": "sk-test",
    }
    for name in ("DATABASE_URL", "LLM_BASE_URL", "REDIS_URL"):
        env.pop(name, None)
    return env, port


def test_first_start_prints_credentials_serves_and_stops_on_ctrl_c(
    data_dir: Path, llm_server: ScriptedLLM
):
    llm_server.reset()
    env, port = _stack_env(data_dir, llm_server)
    process, text = _start(env)
    try:
        assert "username: admin" in text, text
        password = re.search(r"password: (\S+)", text)
        api_key = re.search(r"API key:\s+(\S+)", text)
        assert password and api_key, text

        base = f"http://127.0.0.1:{port}"
        for _ in range(100):
            try:
                status, _ = _get(f"{base}/v1/health/")
                break
            except OSError:
                time.sleep(0.2)
        assert status == 200
        status, body = _get(f"{base}/v1/agents/", api_key.group(1))
        assert (status, json.loads(body)) == (200, [])

        # A key made by the management command while the server runs works at once.
        made = subprocess.run(
            [sys.executable, "manage.py", "create_api_key", "bob"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        bob_key = made.stdout.strip().splitlines()[-1]
        assert _get(f"{base}/v1/agents", bob_key)[0] == 200
        assert _get(f"{base}/v1/agents", "rev-not-a-key")[0] == 401

        # The stack's worker runs sleep-time: the first turn's run completes by itself.
        agent = _send(
            f"{base}/v1/agents",
            bob_key,
            {
                "name": "helper",
                "model": "openai/gpt-4.1",
                "memory_blocks": [{"label": "human", "value": ""}],
                "enable_sleeptime": True,
            },
        )
        reply = _send(
            f"{base}/v1/agents/{agent['id']}/messages",
            bob_key,
            {"messages": [{"role": "user", "content": "hello"}]},
        )
        (run_id,) = reply["usage"]["run_ids"]
        status = ""
        for _ in range(150):
            status = json.loads(_get(f"{base}/v1/runs/{run_id}", bob_key)[1])["status"]
            if status == "completed":
                break
            time.sleep(0.2)
        assert status == "completed"
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            raise
    assert process.returncode == 0, text
    with pytest.raises(OSError):
        _get(f"http://127.0.0.1:{port}/v1/health/")

    # A second start finds the admin already there and prints no password.
    second, printed = _start(env)
    second.send_signal(signal.SIGINT)
    # Ctrl-C this early lands while the children still start; each has up to 15 s to
    # stop before it is killed, one after the other (Supervised.stop).
    second.wait(timeout=60)
    assert "is serving on" in printed
    assert "password:" not in printed


def test_a_killed_worker_is_started_again_while_the_web_answers_and_leaves_nothing_behind(
    data_dir: Path, llm_server: ScriptedLLM
):
    import threading

    import psutil

    llm_server.reset()
    env, port = _stack_env(data_dir, llm_server)
    process, text = _start(env)
    base = f"http://127.0.0.1:{port}"
    api_key = re.search(r"API key:\s+(\S+)", text)
    assert api_key, text
    stack = psutil.Process(process.pid)
    # The rest of what the stack prints, read as it comes.
    printed: list[str] = []
    reader = threading.Thread(
        target=lambda: printed.extend(iter(process.stdout.readline, "")),  # type: ignore[union-attr]
        daemon=True,
    )
    reader.start()

    def worker() -> psutil.Process | None:
        for child in stack.children():
            try:
                if child.status() != psutil.STATUS_ZOMBIE and "worker" in " ".join(child.cmdline()):
                    return child
            except psutil.Error:  # ended meanwhile, or not yet reaped
                continue
        return None

    def cluster_of(process: psutil.Process) -> list[psutil.Process]:
        # The command, then django-q2's sentinel, and its workers, monitor and pusher.
        return process.children(recursive=True)

    def gone(processes: list[psutil.Process]) -> bool:
        return all(not p.is_running() or p.status() == psutil.STATUS_ZOMBIE for p in processes)

    def wait_for(predicate: Any, what: str, timeout: float = 60) -> Any:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = predicate()
            if value:
                return value
            time.sleep(0.1)
        raise AssertionError(f"timed out waiting for {what}:\n{text}{''.join(printed)}")

    health: list[int | str] = []
    polling = threading.Event()

    def poll_health() -> None:
        while not polling.is_set():
            try:
                health.append(_get(f"{base}/v1/health/")[0])
            except OSError as error:
                health.append(repr(error))
            time.sleep(0.05)

    try:

        def healthy() -> bool:
            try:
                return _get(f"{base}/v1/health/")[0] == 200
            except OSError:
                return False

        wait_for(healthy, "the web process")
        first = wait_for(worker, "the worker")
        old_cluster = wait_for(lambda: len(c := cluster_of(first)) >= 3 and c, "its cluster")
        poller = threading.Thread(target=poll_health, daemon=True)
        poller.start()

        first.kill()  # SIGKILL: no chance to stop its cluster

        # Its job processes die with it instead of running on without a clock.
        wait_for(lambda: gone(old_cluster), "the killed worker's job processes to end", 15)
        second = wait_for(lambda: (w := worker()) and w.pid != first.pid and w, "a new worker")
        wait_for(lambda: len(cluster_of(second)) >= 3, "the new worker's cluster")
        polling.set()
        poller.join(timeout=5)
        assert health and set(health) == {200}, health
        assert any("The worker process" in line and "SIGKILL" in line for line in printed), printed

        # The new worker does the work: a sleep-time run completes.
        agent = _send(
            f"{base}/v1/agents",
            api_key.group(1),
            {
                "name": "after",
                "model": "openai/gpt-4.1",
                "memory_blocks": [{"label": "human", "value": ""}],
                "enable_sleeptime": True,
            },
        )
        reply = _send(
            f"{base}/v1/agents/{agent['id']}/messages",
            api_key.group(1),
            {"messages": [{"role": "user", "content": "hello"}]},
        )
        (run_id,) = reply["usage"]["run_ids"]
        wait_for(
            lambda: (
                json.loads(_get(f"{base}/v1/runs/{run_id}", api_key.group(1))[1])["status"]
                == "completed"
            ),
            "the sleep-time run",
        )
        everything = stack.children(recursive=True)
    finally:
        polling.set()
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            raise
    # Ctrl-C leaves no process behind.
    assert process.returncode == 0
    wait_for(lambda: gone(everything), "every process of the stack to end", 20)
