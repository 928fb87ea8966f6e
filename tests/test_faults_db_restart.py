"""Postgres restarted under a running deployment: the processes reconnect on their own.

The shared test database cannot be restarted without disturbing other tests, so this
module starts a Postgres cluster of its own (the embedded binaries, pgserver), migrates it,
and runs a daphne and a `manage.py worker` on it. The test stops the server, sees a
request fail with a clear 503, starts it again, and checks that the API answers, that
the sleep-time work queued before the restart is done after it, and that the websocket
channel layer (a LISTEN connection in the web process) delivers events again. Neither
process is restarted.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from websockets.sync.client import ClientConnection, connect

from config.database import ensure_embedded_database
from tests.conftest import (
    ROOT,
    RUN_STALE_SECONDS,
    SLEEPTIME_RETRY_SECONDS,
    TEST_EMBEDDING,
    TEST_MODEL,
    WorkerProcess,
    wait_until,
)
from tests.live import start_daphne, stop_process
from tests.llm_server import ScriptedLLM

ENDED = ("completed", "failed", "cancelled")


class DedicatedPostgres:
    """A Postgres cluster of the test's own, from the binaries the embedded server uses."""

    def __init__(self, directory: Path) -> None:
        import pgserver

        self.pgdata = directory / "pgdata"
        # Not stopped by pgserver when this process exits: stop() below does it, and a
        # restart makes pgserver's idea of the server's pid stale.
        self.server = pgserver.get_server(self.pgdata, cleanup_mode=None)
        info = self.server.get_postmaster_info()
        self.socket_dir = info.socket_dir
        self.uri = self.server.get_uri("reverie")
        ensure_embedded_database(self.uri)

    def _pg_ctl(self, *args: str) -> None:
        import pgserver

        # As the system user pgserver runs the server as, when the tests run as root.
        pgserver.pg_ctl(list(args), pgdata=self.pgdata, user=self.server.system_user, timeout=60)

    def stop(self) -> None:
        # "fast": what a service manager does; every client connection is cut.
        self._pg_ctl("-w", "-m", "fast", "stop")

    def start(self) -> None:
        # The options pgserver starts it with: no TCP, the socket in the same directory.
        self._pg_ctl(
            "-w",
            "-o",
            '-h ""',
            "-o",
            f"-k {self.socket_dir}",
            "-l",
            str(self.pgdata / "log"),
            "start",
        )

    def running(self) -> bool:
        try:
            with psycopg.connect(self.uri, connect_timeout=2):
                return True
        except psycopg.OperationalError:
            return False

    def remove(self) -> None:
        if self.running():
            self.stop()
        self.server.cleanup()


@dataclass
class Stack:
    url: str
    api_key: str
    session_cookie: str
    postgres: DedicatedPostgres
    worker: WorkerProcess
    logs: list[Path]

    def log_text(self) -> str:
        return "\n".join(
            f"--- {path.name}\n{path.read_text(errors='replace')}"
            for path in self.logs
            if path.exists()
        )


def _manage(env: dict[str, str], *args: str) -> str:
    result = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, f"manage.py {args[0]} failed:\n{result.stdout}{result.stderr}"
    return result.stdout


# Run inside the stack's database: a user with a key and a signed-in browser session.
CREDENTIALS = """
from django.conf import settings
from django.test import Client
from accounts.services import create_api_key, get_or_create_user
user, _ = get_or_create_user("faults")
_, key = create_api_key(user)
browser = Client()
browser.force_login(user)
print(key)
print(settings.SESSION_COOKIE_NAME + "=" + browser.cookies[settings.SESSION_COOKIE_NAME].value)
"""


@pytest.fixture(scope="module")
def stack(llm_server: ScriptedLLM, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    # Under the project, not /tmp/pytest-of-root: started by root, Postgres runs as a
    # system user of its own and must be able to reach its data directory.
    directory = ROOT / "var" / f"faults-{uuid.uuid4().hex[:8]}"
    directory.mkdir(parents=True)
    logs = tmp_path_factory.mktemp("faults")
    postgres: DedicatedPostgres | None = None
    web: subprocess.Popen[bytes] | None = None
    worker: WorkerProcess | None = None
    try:
        postgres = DedicatedPostgres(directory)
        env = {
            **os.environ,
            "DATABASE_URL": postgres.uri,
            "OPENAI_BASE_URL": llm_server.base_url,
            "OPENAI_API_KEY": "sk-test",
            "LLM_MAX_RETRIES": "1",
            "RUN_STALE_SECONDS": str(RUN_STALE_SECONDS),
            "SLEEPTIME_RETRY_SECONDS": str(SLEEPTIME_RETRY_SECONDS),
            "Q_WORKERS": "2",
            # As `make run` deploys it: the web process pools its connections (the
            # worker, which forks, ignores it); pooled ones must survive the restart too.
            "DATABASE_POOL_SIZE": "10",
        }
        env.pop("LLM_BASE_URL", None)
        env.pop("REDIS_URL", None)  # the channel layer under test is PostgreSQL's LISTEN/NOTIFY
        _manage(env, "migrate", "--no-input", "-v", "0")
        api_key, session_cookie = _manage(env, "shell", "-c", CREDENTIALS).split()[-2:]
        web, url = start_daphne(env, logs / "daphne.log")
        worker = WorkerProcess(env, logs / "worker.log").start()
        yield Stack(
            url, api_key, session_cookie, postgres, worker, [logs / "daphne.log", worker.log_path]
        )
    finally:
        if worker is not None:
            worker.stop()
        if web is not None:
            stop_process(web)
        if postgres is not None:
            postgres.remove()
        shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture
def api(stack: Stack) -> Iterator[httpx.Client]:
    with httpx.Client(
        base_url=stack.url, headers={"Authorization": f"Bearer {stack.api_key}"}, timeout=30
    ) as client:
        yield client


def _ok(response: httpx.Response) -> Any:
    assert response.status_code == 200, (response.request.url, response.status_code, response.text)
    return response.json()


def _receive_until(socket: ClientConnection, wanted: Callable[[str], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return False
        try:
            frame = str(socket.recv(timeout=remaining))
        except TimeoutError:
            return False
        if wanted(frame):
            return True


def test_the_app_reconnects_after_postgres_restarts_under_it(
    stack: Stack, api: httpx.Client, llm_server: ScriptedLLM
):
    llm_server.reset()
    sleeper = llm_server.sleeper
    agent = _ok(
        api.post(
            "/v1/agents/",
            json={
                "name": "steadfast",
                "model": TEST_MODEL,
                "embedding": TEST_EMBEDDING,
                "memory_blocks": [{"label": "human", "value": "Name: ?"}],
                "enable_sleeptime": True,
                "sleeptime_agent_frequency": 1,
            },
        )
    )
    block = _ok(api.get(f"/v1/agents/{agent['id']}/core-memory/blocks/human"))

    def edit_block(value: str) -> None:
        _ok(api.patch(f"/v1/blocks/{block['id']}", json={"value": value}))

    def run_of(run_id: str) -> dict[str, Any]:
        return dict(_ok(api.get(f"/v1/runs/{run_id}")))

    def say(text: str) -> list[str]:
        body = {"messages": [{"role": "user", "content": text}]}
        said = _ok(api.post(f"/v1/agents/{agent['id']}/messages", json=body))
        return list(said["usage"]["run_ids"])

    with connect(
        f"{stack.url.replace('http', 'ws', 1)}/ws/agents/{agent['id']}/",
        origin=stack.url,
        additional_headers={"Cookie": stack.session_cookie},
        proxy=None,
    ) as socket:
        for _ in range(4):  # the snapshot: memory blocks, sleep status, chat log, settings
            socket.recv(timeout=10)
        edit_block("Name: Ada")
        assert _receive_until(socket, lambda html: "Name: Ada" in html, 10), stack.log_text()

        # When the database goes, one sleep-time run is in flight, waiting for the model,
        # and a second one is queued behind it (one run per sleep-time agent at a time).
        sleeper.hold()
        [running_id] = say("I moved to Porto")
        sleeper.wait_for_waiting(1, timeout=15)
        [queued_id] = say("I like jazz")
        assert queued_id != running_id
        assert run_of(queued_id)["status"] == "created"

        stack.postgres.stop()
        try:
            during = api.get("/v1/agents/")
            assert during.status_code == 503, during.text
            assert during.json() == {"detail": "The database is unavailable; try again shortly."}
            time.sleep(2)  # the worker's clock and the channel listener meet the outage too
        finally:
            stack.postgres.start()
        sleeper.release()

        # The very next request is served: nobody restarted the web process.
        assert _ok(api.get("/v1/agents/"))[0]["id"] == agent["id"]

        # The channel layer listens again: an edit reaches the open socket. (An event
        # published while the listener was reconnecting is lost, so edit until one lands.)
        def edit_arrives() -> bool:
            value = f"Name: Ada {uuid.uuid4().hex[:6]}"
            edit_block(value)
            return _receive_until(socket, lambda html: value in html, 2)

        wait_until(edit_arrives, timeout=30, what="a block edit to reach the websocket")

        # The run cut off by the restart lost its connection: the clock fails it as lost,
        # and the queued run, which its retry joins, does the work of both.
        queued = wait_until(
            lambda: (run := run_of(queued_id))["status"] in ENDED and run,
            timeout=60,
            what="the queued run to end",
        )
        assert queued["status"] == "completed", (queued, stack.log_text())
        assert "user: I like jazz" in queued["transcript"]
        cut_off = run_of(running_id)
        assert cut_off["status"] in ("failed", "completed"), cut_off
        if cut_off["status"] == "failed":
            assert "user: I moved to Porto" in queued["transcript"]
        assert stack.worker.alive(), stack.log_text()
