from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from typing import Any

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError

from accounts.services import bootstrap_admin
from config import env
from config.vector_check import VectorSupportError, check_vector_support, database_log

# Requests (and websocket events) in flight at once, each holding a connection; a turn
# holds its own while the model thinks.
WEB_POOL_SIZE = 40


class Command(BaseCommand):
    help = (
        "Migrate, then run one daphne web process and one worker (django-q2 and the "
        "sleep-time clock) until Ctrl-C."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        # This process keeps its handle on the embedded database for as long as the
        # children run, so the server never stops between them.
        call_command("migrate", interactive=False, verbosity=0)
        try:
            check_vector_support(server_log=database_log())
        except VectorSupportError as error:
            raise CommandError(str(error)) from None
        host, port = str(settings.REVERIE["HOST"]), str(settings.REVERIE["PORT"])
        url = f"http://{'localhost' if host in {'127.0.0.1', '0.0.0.0'} else host}:{port}"
        created = bootstrap_admin()
        if created:
            username, password, api_key = created
            self.stdout.write(
                "\nFirst start: created the admin user. This is shown only once.\n"
                f"  URL:      {url}/\n  username: {username}\n  password: {password}\n"
                f"  API key:  {api_key}\n"
            )
        python = sys.executable
        # The web process serves from a pool of database connections (config/database.py).
        pool_size = env.DATABASE_POOL_SIZE or WEB_POOL_SIZE
        web_env = {**os.environ, "DATABASE_POOL_SIZE": str(pool_size)}
        children = [
            subprocess.Popen(
                [python, "-m", "daphne", "-b", host, "-p", str(port), "config.asgi:application"],
                env=web_env,
            ),
            subprocess.Popen([python, "manage.py", "worker"]),
        ]
        self.stdout.write(f"Reverie is serving on {url} (API at {url}/v1/, Ctrl-C stops).")
        stopping = False

        def stop(signum: int, frame: Any) -> None:
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGTERM, stop)
        try:
            while not stopping and all(child.poll() is None for child in children):
                time.sleep(0.2)
        finally:
            for child in children:
                if child.poll() is None:
                    child.send_signal(signal.SIGTERM)
            deadline = time.monotonic() + 15
            for child in children:
                try:
                    child.wait(timeout=max(0.1, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    child.kill()
        failed = [
            " ".join(map(str, child.args))  # type: ignore[arg-type]
            for child in children
            if child.returncode not in (0, -15, None)
        ]
        if failed and not stopping:
            self.stderr.write(f"A process exited unexpectedly: {failed}")
            raise SystemExit(1)
