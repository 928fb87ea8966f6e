"""Processes of a live stack on the test database: daphne web processes and
`manage.py worker`, pointed at the scripted model.

Shared by the suite's fixtures (tests/conftest.py) and the benchmarks (bench/stack.py),
so both start the stack the same way. No pytest here: the benchmarks run without it.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.llm_server import ScriptedLLM

ROOT = Path(__file__).resolve().parent.parent

# Short enough for tests: a lost run is noticed after 3 s, a failed one retried after 1 s.
RUN_STALE_SECONDS = 3
SLEEPTIME_RETRY_SECONDS = 1


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def database_url(settings_dict: dict[str, Any]) -> str:
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
        "DATABASE_URL": database_url(settings_dict),
        "OPENAI_BASE_URL": llm_server.base_url,
        "OPENAI_API_KEY": "sk-test",
        "LLM_MAX_RETRIES": "1",
        "RUN_STALE_SECONDS": str(RUN_STALE_SECONDS),
        "SLEEPTIME_RETRY_SECONDS": str(SLEEPTIME_RETRY_SECONDS),
        "Q_WORKERS": "2",
    }
    env.pop("LLM_BASE_URL", None)
    return env


def manage(
    env: dict[str, str], *args: str, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    """`manage.py <args>` in a process of its own with `env`, its output captured."""
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def wait_for_start(ready: Callable[[], bool], process: subprocess.Popen[bytes], log: Path) -> None:
    """Poll `ready` until it holds; kill the process and raise with its log if it exits
    or a minute passes first."""
    deadline = time.monotonic() + 60
    while not ready():
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise RuntimeError(f"{process.args[:3]} did not start:\n{log.read_text()}")
        time.sleep(0.2)


def stop_process(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM, then SIGKILL after 10 s."""
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)


def start_daphne(env: dict[str, str], log: Path) -> tuple[subprocess.Popen[bytes], str]:
    """A web process serving the app on a free loopback port, once it answers health
    checks; returns it and its base URL."""
    port = free_port()
    command = [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port)]
    command.append("config.asgi:application")
    with open(log, "wb") as output:
        process = subprocess.Popen(
            command,
            cwd=ROOT,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"

    def ready() -> bool:
        try:
            with urllib.request.urlopen(f"{url}/v1/health/", timeout=2) as response:
                return bool(response.status == 200)
        except OSError:
            return False

    wait_for_start(ready, process, log)
    return process, url


class WorkerProcess:
    """`manage.py worker` (django-q2 cluster + clock) in a process group of its own."""

    def __init__(self, env: dict[str, str], log_path: Path, clock_interval: float = 0.2) -> None:
        self.env = env
        self.log_path = log_path
        self.clock_interval = clock_interval  # the suite's is short; the command's default is 1
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> WorkerProcess:
        if self.alive():
            return self
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                [
                    sys.executable,
                    "manage.py",
                    "worker",
                    "--clock-interval",
                    str(self.clock_interval),
                ],
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
        the group can leave it hanging; see tests/system/test_worker.py.)
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


# --- Waiting for background work ------------------------------------------------------


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
