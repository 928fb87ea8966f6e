"""The start-up self-check: a database that cannot compute with vectors stops the process
at start, with the cause and what to do, instead of crashing later inside a request.

The broken database is real: a copy of the embedded PostgreSQL whose pgvector has an
illegal instruction (ud2) written over the start of `array_to_vector`, the function that
casts a float array to a vector. The CPU then does exactly what a CPU without AVX-512 did
with release 0.1's pgvector: it kills the database process with signal 4.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

from config.vector_check import check_vector_support
from tests.live import manage
from tests.postgres import DedicatedPostgres, copy_installation, scratch_directory

UD2 = b"\x0f\x0b"


def _file_offset(library: Path, symbol: str) -> int:
    """Where in the file the code of `symbol` starts (its address, less its segment's)."""
    symbols = subprocess.run(
        ["nm", "-D", "--defined-only", str(library)], capture_output=True, text=True, check=True
    ).stdout
    [address] = [
        int(line.split()[0], 16) for line in symbols.splitlines() if line.endswith(f" {symbol}")
    ]
    segments = subprocess.run(
        ["readelf", "-lW", str(library)], capture_output=True, text=True, check=True
    ).stdout
    for line in segments.splitlines():
        fields = line.split()
        if fields[:1] == ["LOAD"]:
            offset, virtual, size = int(fields[1], 16), int(fields[2], 16), int(fields[5], 16)
            if virtual <= address < virtual + size:
                return address - virtual + offset
    raise AssertionError(f"{symbol} is in no loaded segment of {library}")


def break_vector_library(bin_dir: Path) -> None:
    library = bin_dir.parent / "lib" / "postgresql" / "vector.so"
    offset = _file_offset(library, "array_to_vector")
    with library.open("r+b") as file:
        file.seek(offset)
        file.write(UD2)


def _manage(
    database_url: str, *args: str, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DATABASE_URL": database_url}
    env.pop("REDIS_URL", None)
    return manage(env, *args, timeout=timeout)


CHECK_WITH_LOG = """
from pathlib import Path
from config.vector_check import VectorSupportError, check_vector_support
try:
    check_vector_support(server_log=Path({log!r}))
except VectorSupportError as error:
    print(error)
"""


def test_a_crashing_vector_library_stops_the_worker_at_start_with_the_cause():
    with scratch_directory("selfcheck") as directory:
        bin_dir = copy_installation(directory / "pginstall")
        break_vector_library(bin_dir)
        cluster = DedicatedPostgres(directory, bin_dir).initdb().start().create_database()
        try:
            # Before migrations: no vector extension in the database yet.
            unmigrated = _manage(cluster.uri, "worker")
            assert unmigrated.returncode == 1, unmigrated.stderr
            assert "run `python manage.py migrate`" in unmigrated.stderr

            migrated = _manage(cluster.uri, "migrate", "-v", "0")
            assert migrated.returncode == 0, migrated.stderr

            # The worker stops at once, saying why, and starts no job processes.
            worker = _manage(cluster.uri, "worker")
            assert worker.returncode == 1, worker.stdout + worker.stderr
            message = " ".join(worker.stderr.split())
            assert "dropped the connection during the start-up self-check" in message
            assert "pgvector" in message
            assert "make clean && make run" in message and "DATABASE_URL" in message
            assert "Traceback" not in worker.stderr
            assert "django_q" not in worker.stderr

            # Where the server's log is at hand (the embedded database), the check
            # quotes the crash it finds there.
            quoted = _manage(
                cluster.uri, "shell", "-c", CHECK_WITH_LOG.format(log=str(cluster.log))
            )
            assert quoted.returncode == 0, quoted.stderr
            text = " ".join(quoted.stdout.split())
            assert re.search(
                r"crashed the database in the start-up self-check \(the database process was "
                r"terminated by signal 4 \(Illegal instruction\): the vector library holds an "
                r"instruction this CPU does not have",
                text,
            ), text

            # The database itself survived: it recovered and answers.
            assert cluster.running()
        finally:
            cluster.remove()


@pytest.mark.django_db(transaction=True)
def test_the_self_check_passes_on_a_working_database_and_leaves_nothing_behind():
    from django.db import connection

    check_vector_support()

    with connection.cursor() as cursor:
        cursor.execute("SELECT to_regclass('reverie_vector_check')")
        assert cursor.fetchone() == (None,)
