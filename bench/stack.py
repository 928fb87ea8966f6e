"""The live stack for benchmarks that measure through HTTP and websockets: daphne web
processes and a `manage.py worker` on the run's throwaway database, the model pointed at
the scripted server, and an account (API key and signed-in session) to act with.

The processes start as the test suite starts them (tests/live.py).
"""

from __future__ import annotations

import itertools
import os
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from bench.common import Context
from tests.live import WorkerProcess, start_daphne, stop_process, worker_env
from tests.llm_server import ToolCall, make_tool_call


@dataclass
class Stack:
    web: list[str]  # base URLs of the web processes
    web_pids: list[int]
    api_key: str
    session_cookie: str  # "sessionid=..." of a browser signed in as the key's user
    logs: Path
    worker: WorkerProcess | None = None
    keep_logs: bool = False  # set by a benchmark that found something to look into
    _clients: list[httpx.Client] = field(default_factory=list)

    def client(self, index: int = 0, timeout: float = 60) -> httpx.Client:
        """An HTTP client of web process `index` (round robin), authenticated with the
        key; closed with the stack."""
        client = httpx.Client(
            base_url=self.web[index % len(self.web)],
            headers={"Authorization": f"Bearer {self.api_key}"},
            timeout=timeout,
            trust_env=False,  # never a proxy from the environment
        )
        self._clients.append(client)
        return client

    def ws_url(self, agent_id: str, index: int = 0) -> str:
        return f"{self.web[index % len(self.web)].replace('http', 'ws', 1)}/ws/agents/{agent_id}/"

    def origin(self, index: int = 0) -> str:
        return self.web[index % len(self.web)]


def _account() -> tuple[str, str]:
    """A committed user with an API key, and the session cookie of a browser signed in
    as them (the websocket authenticates with the session, as the page does)."""
    from django.conf import settings
    from django.test import Client

    from accounts.services import create_api_key, get_or_create_user

    user, _ = get_or_create_user(f"bench-{uuid.uuid4().hex[:8]}")
    _, raw_key = create_api_key(user)
    browser = Client()
    browser.force_login(user)
    name = settings.SESSION_COOKIE_NAME
    return raw_key, f"{name}={browser.cookies[name].value}"


@contextmanager
def live_stack(
    ctx: Context, *, web: int = 1, worker: bool = False, env: dict[str, str] | None = None
) -> Iterator[Stack]:
    """`web` daphne processes (and a worker if asked) serving the run's database.

    `env` adds to the processes' environment (Q_WORKERS, say). Logs go to a temporary
    directory, removed afterwards unless the benchmark failed or set `keep_logs`.
    """
    from django.conf import settings

    logs = Path(tempfile.mkdtemp(prefix="reverie-bench-"))
    environment = {
        **worker_env(ctx.llm),
        # The bench signs the session cookie; the web processes must accept it.
        "SECRET_KEY": settings.SECRET_KEY,
        # Hundreds of requests from one address; none fails authentication, but a
        # benchmark must never be throttled by the guard against key guessing.
        "AUTH_FAILURE_LIMIT": "1000000",
        # The product's own clock settings, not the suite's short ones.
        "RUN_STALE_SECONDS": "60",
        "SLEEPTIME_RETRY_SECONDS": "15",
        # Web processes pool their connections, as `make run` has them do (README.md);
        # the worker ignores it.
        "DATABASE_POOL_SIZE": "40",
        **(env or {}),
    }
    processes: list[subprocess.Popen[bytes]] = []
    worker_process: WorkerProcess | None = None
    keep_logs = False
    try:
        urls = []
        for index in range(web):
            process, url = start_daphne(environment, logs / f"web-{index + 1}.log")
            processes.append(process)
            urls.append(url)
        if worker:
            worker_process = WorkerProcess(
                environment, logs / "worker.log", clock_interval=1.0
            ).start()
        api_key, cookie = _account()
        stack = Stack(urls, [p.pid for p in processes], api_key, cookie, logs, worker_process)
        try:
            yield stack
        finally:
            keep_logs = stack.keep_logs
            for client in stack._clients:
                client.close()
    except BaseException:
        keep_logs = True
        print(f"benchmark failed; the stack's logs are in {logs}")
        raise
    finally:
        if worker_process is not None:
            worker_process.stop()
            _cancel_background_work()
        for process in processes:
            stop_process(process)
        if not keep_logs:
            shutil.rmtree(logs, ignore_errors=True)


def _cancel_background_work() -> None:
    """Runs still queued when a stack stops would be done by the next benchmark's worker
    (all benchmarks share the run's database), with that benchmark's scripted model, and
    counted as its own: cancel them, and empty the job queue."""
    from django_q.models import OrmQ

    from agents.models import ACTIVE_RUN_STATUSES, Run, RunStatus

    Run.objects.filter(status__in=ACTIVE_RUN_STATUSES).update(status=RunStatus.CANCELLED)
    OrmQ.objects.all().delete()


def cpu_seconds(pids: list[int]) -> float:
    """CPU time (user and system) the processes have used so far."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:  # gone meanwhile
            continue
        total += (int(fields[11]) + int(fields[12])) / ticks
    return total


def database_backends() -> list[int]:
    """Process ids of the PostgreSQL backends connected to the run's database now."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
            "AND pid <> pg_backend_pid()"
        )
        return [int(row[0]) for row in cursor.fetchall()]


def create_agent(client: httpx.Client, name: str, **fields: Any) -> dict[str, Any]:
    """An agent made through the API, with a `human` block the benchmarks edit."""
    payload = {
        "name": name,
        "model": "openai/gpt-4.1",
        "embedding": "openai/text-embedding-3-small",
        "memory_blocks": [
            {"label": "persona", "value": "I am a patient assistant."},
            {"label": "human", "value": "Name: Ada", "limit": 200_000},
        ],
        **fields,
    }
    response = client.post("/v1/agents/", json=payload)
    response.raise_for_status()
    agent: dict[str, Any] = response.json()
    return agent


def send(client: httpx.Client, agent_id: str, text: str) -> dict[str, Any]:
    """One turn through the API; raises unless it ended normally."""
    response = client.post(
        f"/v1/agents/{agent_id}/messages", json={"messages": [{"role": "user", "content": text}]}
    )
    response.raise_for_status()
    body: dict[str, Any] = response.json()
    stop = body["stop_reason"]["stop_reason"]
    if stop != "end_turn":
        raise RuntimeError(f"turn on {agent_id} stopped with {stop}: {body['messages'][-1:]}")
    return body


class MemoryEdits:
    """A script for the sleep-time lane: each run inserts one new line at the end of the
    block `label` (memory_insert), then finishes. Every line is unique and remembered,
    so a benchmark can look for each of them at the end."""

    def __init__(self, label: str = "human") -> None:
        self.label = label
        self.lines: list[str] = []
        self._numbers = itertools.count()

    def __call__(self, body: dict[str, Any]) -> list[ToolCall]:
        # Runs on the scripted server's threads, under its lock.
        if body["messages"][-1].get("role") == "tool":  # the edit is done (or refused)
            return [make_tool_call("memory_finish_edits", {})]
        line = f"memory-{next(self._numbers)}"
        self.lines.append(line)
        arguments = {"label": self.label, "new_str": line, "insert_line": -1}
        return [make_tool_call("memory_insert", arguments)]
