from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError

from accounts.services import bootstrap_admin
from config import env
from config.processes import ends_with_this_process, remember_this_process
from config.vector_check import VectorSupportError, check_vector_support, database_log
from toolbox import sandbox

# Requests (and websocket events) in flight at once, each holding a connection; a turn
# holds its own while the model thinks.
WEB_POOL_SIZE = 40


class Command(BaseCommand):
    help = (
        "Migrate, then run one daphne web process and one worker (django-q2 and the "
        "sleep-time clock) until Ctrl-C, starting either again if it dies."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        # This process keeps its handle on the embedded database for as long as the
        # children run, so the server never stops between them.
        call_command("migrate", interactive=False, verbosity=0)
        try:
            check_vector_support(server_log=database_log())
        except VectorSupportError as error:
            raise CommandError(str(error)) from None
        host, port = str(settings.HOST), str(settings.PORT)
        url = f"http://{'localhost' if host in {'127.0.0.1', '0.0.0.0'} else host}:{port}"
        created = bootstrap_admin()
        if created:
            username, password, api_key = created
            self.stdout.write(
                "\nFirst start: created the admin user. This is shown only once.\n"
                f"  URL:      {url}/\n  username: {username}\n  password: {password}\n"
                f"  API key:  {api_key}\n"
            )
        # Asked before the children start: it may start a probe sandbox.
        sandbox_problem = sandbox.available()
        python = sys.executable
        # The web process serves from a pool of database connections (config/database.py).
        pool_size = env.DATABASE_POOL_SIZE or WEB_POOL_SIZE
        children = [
            Supervised(
                "web",
                [python, "-m", "daphne", "-b", host, "-p", str(port), "config.asgi:application"],
                {**os.environ, "DATABASE_POOL_SIZE": str(pool_size)},
            ),
            Supervised("worker", [python, "manage.py", "worker"], dict(os.environ)),
        ]
        stopping = False

        def stop(signum: int, frame: Any) -> None:
            nonlocal stopping
            stopping = True

        # Ctrl-C is the stack's to handle from before the first child starts: one that
        # came in between (right after "is serving on", say) once left the children
        # running, and the embedded database waiting for them at exit.
        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGTERM, stop)
        try:
            for child in children:
                child.start()
            if sandbox_problem:
                self.stdout.write(f"Custom tools cannot run here: {sandbox_problem}")
            self.stdout.write(f"Reverie is serving on {url} (API at {url}/v1/, Ctrl-C stops).")
            while not stopping:
                for child in children:
                    child.keep_running(self.stderr)
                time.sleep(0.2)
        finally:
            for child in children:
                child.stop()


# A child that dies is started again after these waits (then the last, again and again),
# so a crash loop does not spin; one that ran STEADY_SECONDS starts from the first again.
RESTART_DELAYS = (1.0, 2.0, 5.0, 10.0, 30.0)
STEADY_SECONDS = 60.0


@dataclass
class Supervised:
    """A child process of the stack, started again whenever it dies.

    Each runs in a process group of its own, so that what it leaves behind when it dies
    (a worker's job processes) can be ended with it, and so that Ctrl-C in the terminal
    reaches only this process, which stops the children in order. Should this process be
    killed outright, each child is sent SIGTERM (config/processes.py).
    """

    name: str
    argv: list[str]
    env: dict[str, str]
    process: subprocess.Popen[bytes] | None = None
    started_at: float = 0.0
    crashes: int = 0
    restart_at: float | None = None

    def start(self) -> None:
        remember_this_process()
        self.process = subprocess.Popen(
            self.argv, env=self.env, start_new_session=True, preexec_fn=ends_with_this_process
        )
        self.started_at = time.monotonic()
        self.restart_at = None

    def keep_running(self, log: Any) -> None:
        if self.process is None:
            return
        if self.restart_at is not None:
            if time.monotonic() >= self.restart_at:
                self.start()
                log.write(f"Restarted the {self.name} process (pid {self.process.pid}).")
            return
        code = self.process.poll()
        if code is None:
            return
        self._end_group()
        if time.monotonic() - self.started_at >= STEADY_SECONDS:
            self.crashes = 0
        delay = RESTART_DELAYS[min(self.crashes, len(RESTART_DELAYS) - 1)]
        self.crashes += 1
        self.restart_at = time.monotonic() + delay
        log.write(
            f"The {self.name} process (pid {self.process.pid}) exited with "
            f"{_describe(code)}; starting it again in {delay:g} s."
        )

    def stop(self) -> None:
        """SIGTERM, up to 15 s to finish, then SIGKILL for whatever is left of the group."""
        process = self.process
        if process is None:
            return
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                pass
        self._end_group()
        process.wait()

    def _end_group(self) -> None:
        if self.process is None:
            return
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass  # nothing left


def _describe(code: int) -> str:
    if code < 0:
        try:
            return f"signal {signal.Signals(-code).name}"
        except ValueError:
            return f"signal {-code}"
    return f"exit code {code}"
