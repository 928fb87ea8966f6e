"""Fixtures shared by the whole suite.

The only stand-in is the paid model: `ScriptedLLM` is a real HTTP server speaking the
OpenAI protocol on loopback. Everything else is real: the embedded Postgres with
pgvector, daphne serving the ASGI app, the official Letta SDKs as clients.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.llm_server import ScriptedLLM

ROOT = Path(__file__).resolve().parent.parent
TEST_MODEL = "openai/gpt-4.1"
TEST_EMBEDDING = "openai/text-embedding-3-small"


@pytest.fixture(scope="session")
def llm_server() -> Iterator[ScriptedLLM]:
    server = ScriptedLLM()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def llm(llm_server: ScriptedLLM, monkeypatch: pytest.MonkeyPatch) -> Iterator[ScriptedLLM]:
    """The scripted model, reset, with the openai provider pointed at it."""
    llm_server.reset()
    monkeypatch.delenv("LLM_BASE_URL", raising=False)
    monkeypatch.setenv("OPENAI_BASE_URL", llm_server.base_url)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    yield llm_server
    llm_server.reset()


@pytest.fixture
def user(db: Any) -> Any:
    from django.contrib.auth import get_user_model

    return get_user_model().objects.create_user(username=f"user-{uuid.uuid4().hex[:8]}")


@pytest.fixture
def make_agent(user: Any) -> Any:
    from tests.factories import make_agent

    def build(**overrides: Any) -> Any:
        overrides.setdefault("owner", user)
        return make_agent(**overrides)

    return build


# --- A live server ---------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _database_url(settings_dict: dict[str, Any]) -> str:
    host = settings_dict.get("HOST") or ""
    user = settings_dict.get("USER") or ""
    password = settings_dict.get("PASSWORD") or ""
    port = settings_dict.get("PORT") or ""
    name = settings_dict["NAME"]
    if host.startswith("/"):
        return f"postgresql://{user}:{password}@/{name}?host={host}" + (
            f"&port={port}" if port else ""
        )
    return f"postgresql://{user}:{password}@{host}:{port or 5432}/{name}"


@pytest.fixture(scope="session")
def live_server_url(
    django_db_setup: Any, django_db_blocker: Any, llm_server: ScriptedLLM, tmp_path_factory: Any
) -> Iterator[str]:
    """Daphne serving the app on the test database, talking to the scripted model."""
    from django.db import connection

    port = _free_port()
    log_path = tmp_path_factory.mktemp("live") / "daphne.log"
    env = {
        **os.environ,
        "DATABASE_URL": _database_url(connection.settings_dict),
        "OPENAI_BASE_URL": llm_server.base_url,
        "OPENAI_API_KEY": "sk-test",
        "LLM_MAX_RETRIES": "1",
    }
    env.pop("LLM_BASE_URL", None)
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "daphne",
                "-b",
                "127.0.0.1",
                "-p",
                str(port),
                "config.asgi:application",
            ],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            with urllib.request.urlopen(f"{url}/v1/health/", timeout=2) as response:
                if response.status == 200:
                    break
        except OSError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise RuntimeError(f"daphne did not start:\n{log_path.read_text()}")
        time.sleep(0.2)
    yield url
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()


@pytest.fixture
def api_key(live_server_url: str, django_db_blocker: Any, llm: ScriptedLLM) -> str:
    """A committed user and key, visible to the live server (outside any test transaction)."""
    from accounts.services import create_api_key, get_or_create_user

    with django_db_blocker.unblock():
        user, _ = get_or_create_user(f"sdk-{uuid.uuid4().hex[:8]}")
        _, raw_key = create_api_key(user)
    return raw_key


# --- The test database, for sessions that only use the live server -------------------------


@pytest.fixture(scope="session", autouse=True)
def _live_server_test_database(request: pytest.FixtureRequest, django_db_blocker: Any) -> Any:
    """Make sure the live server and workers run on a test database, never the real one.

    pytest-django creates the test database only when a collected test asks for `db`
    (or a django_db mark). A run of only live-server tests (`pytest tests/sdk`) would
    otherwise point daphne and the workers at the developer's own database. Autouse and
    session-scoped, so it is set up before `live_server_url` reads the connection settings;
    it does nothing when no collected test uses the live server or the database exists.
    """
    items = request.session.items
    if not any("live_server_url" in getattr(item, "fixturenames", ()) for item in items):
        yield
        return
    request.getfixturevalue("django_db_setup")
    from django.db import connection

    settings_dict = connection.settings_dict
    test_name = (settings_dict.get("TEST") or {}).get("NAME") or f"test_{settings_dict['NAME']}"
    if settings_dict["NAME"] == test_name:
        yield  # pytest-django made it
        return
    from django.test.utils import setup_databases, teardown_databases

    with django_db_blocker.unblock():
        config = setup_databases(verbosity=0, interactive=False, aliases={"default"})
    yield
    with django_db_blocker.unblock():
        try:
            teardown_databases(config, verbosity=0)
        except Exception as error:  # a straggling connection; the next run drops it
            request.node.warn(pytest.PytestWarning(f"could not drop the test database: {error}"))


# --- Background workers (`manage.py worker`) -----------------------------------------------

# Short enough for tests: a lost run is noticed after 3 s, a failed one retried after 1 s.
RUN_STALE_SECONDS = 3
SLEEPTIME_RETRY_SECONDS = 1


def wait_until(predicate: Any, timeout: float = 10.0, interval: float = 0.1, what: str = "") -> Any:
    """Poll `predicate` until it returns something truthy, and return that; fail after
    `timeout` seconds naming `what`."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what or predicate}")
        time.sleep(interval)


def active_run_ids() -> list[str]:
    """Ids of every run not yet ended (created or running), whoever owns it."""
    from agents.models import ACTIVE_RUN_STATUSES, Run

    return list(Run.objects.filter(status__in=ACTIVE_RUN_STATUSES).values_list("pk", flat=True))


def worker_env(llm_server: ScriptedLLM) -> dict[str, str]:
    """The live server's environment plus the clock settings tests need."""
    from django.db import connection

    settings_dict = connection.settings_dict
    test_name = (settings_dict.get("TEST") or {}).get("NAME") or f"test_{settings_dict['NAME']}"
    if settings_dict["NAME"] != test_name:
        raise RuntimeError(
            f"refusing to start a worker on database {settings_dict['NAME']!r}: "
            "it is not the test database"
        )
    env = {
        **os.environ,
        "DATABASE_URL": _database_url(settings_dict),
        "OPENAI_BASE_URL": llm_server.base_url,
        "OPENAI_API_KEY": "sk-test",
        "LLM_MAX_RETRIES": "1",
        "RUN_STALE_SECONDS": str(RUN_STALE_SECONDS),
        "SLEEPTIME_RETRY_SECONDS": str(SLEEPTIME_RETRY_SECONDS),
        "Q_WORKERS": "2",
    }
    env.pop("LLM_BASE_URL", None)
    return env


class WorkerProcess:
    """`manage.py worker` (django-q2 cluster + clock) in a process group of its own."""

    def __init__(self, env: dict[str, str], log_path: Path) -> None:
        self.env = env
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> WorkerProcess:
        if self.alive():
            return self
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "manage.py", "worker", "--clock-interval", "0.2"],
                cwd=ROOT,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group, so it can be killed whole
            )
        return self

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def _signal_group(self, signum: int) -> None:
        if self.process is None:
            return
        try:
            os.killpg(self.process.pid, signum)
        except ProcessLookupError:
            pass

    def kill(self) -> None:
        """SIGKILL the whole tree at once, as an out-of-memory killer or a lost host would."""
        self._signal_group(signal.SIGKILL)
        if self.process is not None:
            self.process.wait(timeout=10)

    def stop(self) -> None:
        """SIGTERM the main process, then SIGKILL whatever is left of the group.

        The SIGTERM goes to the main process only, as docker or Kubernetes send it: the
        cluster's handler there stops its processes in order. (SIGTERM to every process of
        the group can leave it hanging; see tests/test_worker.py.)
        """
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass
        self._signal_group(signal.SIGKILL)
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass

    def group_size(self) -> int:
        """How many live processes the worker's process group has."""
        if self.process is None:
            return 0
        count = 0
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            # After the command name: state, ppid, pgrp.
            if int(fields[2]) == self.process.pid and fields[0] != "Z":
                count += 1
        return count

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


@pytest.fixture(scope="session")
def worker(
    live_server_url: str,
    llm_server: ScriptedLLM,
    django_db_blocker: Any,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[WorkerProcess]:
    """A running `manage.py worker` on the test database, started on first use.

    A test that kills it must `start()` it again before it ends. Before handing it out,
    runs left over by earlier tests are worked off, so none of them consumes a later
    test's scripted replies.
    """
    process = WorkerProcess(
        worker_env(llm_server), tmp_path_factory.mktemp("worker") / "worker.log"
    )
    process.start()
    try:
        with django_db_blocker.unblock():
            wait_until(lambda: not active_run_ids(), timeout=30, what="leftover runs to end")
        yield process
    finally:
        process.stop()


@pytest.fixture
def start_worker(worker: WorkerProcess, llm_server: ScriptedLLM, tmp_path: Path) -> Iterator[Any]:
    """Factory for extra workers beside the session's one; all are stopped after the test."""
    started: list[WorkerProcess] = []

    def start() -> WorkerProcess:
        extra = WorkerProcess(worker.env, tmp_path / f"worker-{len(started) + 1}.log")
        started.append(extra.start())
        return extra

    yield start
    for extra in started:
        extra.stop()
