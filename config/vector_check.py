"""The start-up self-check of the database's vector support.

A pgvector built for another CPU than the one it runs on (`-march=native` on a machine
with AVX-512) loads and answers simple queries, then kills the database process with
"Illegal instruction" at the first embedding it touches: inside somebody's request, with
every other connection dropped while the server recovers. `make run`, `manage.py worker`
and the test suite's database set-up run this check first, so such a database stops the
process at once, with the cause and what to do, before anyone's data is in flight.

It exercises what the app uses: a 1536-dimension cast from a float array, the cosine
distance, and inserts into an HNSW index (which computes distances and norms), in a
temporary table of a transaction that is rolled back.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

from django.db import DatabaseError, InterfaceError, OperationalError, connections, transaction
from django.db.backends.utils import CursorWrapper

from config import env
from config.database import embedded_server_log

DIMENSIONS = 1536

# The second vector points along the first axis only: its cosine distance to the
# all-equal vector is 1 - 1/sqrt(n), a figure a broken build would not produce by chance.
EXPECTED_DISTANCE = 1 - 1 / math.sqrt(DIMENSIONS)

_CHECK = (
    f"CREATE TEMPORARY TABLE reverie_vector_check (id int, embedding vector({DIMENSIONS}))"
    " ON COMMIT DROP",
    "CREATE INDEX ON reverie_vector_check USING hnsw (embedding vector_cosine_ops)",
    "INSERT INTO reverie_vector_check"
    f" SELECT 1, array_fill(0.5::real, ARRAY[{DIMENSIONS}])::vector({DIMENSIONS})",
    "INSERT INTO reverie_vector_check"
    f" SELECT 2, (ARRAY[1::real] || array_fill(0::real, ARRAY[{DIMENSIONS - 1}]))::vector",
)
_QUERY = (
    f"SELECT id, embedding <=> array_fill(0.5::real, ARRAY[{DIMENSIONS}])::vector AS distance"
    " FROM reverie_vector_check ORDER BY distance"
)

_CRASH = re.compile(r"terminated by signal (\d+)(?:: ([^\n]*))?")

WHAT_TO_DO = (
    "With the embedded database, reinstall (`make clean && make run`): this release's "
    "embedded PostgreSQL runs on any x86-64-v3 (AVX2) or aarch64 CPU. With DATABASE_URL, "
    "build pgvector on the database's own machine, or with portable flags "
    '(`make OPTFLAGS=""` in its source), and restart the server. README.md lists the '
    "supported platforms."
)


def database_log() -> Path | None:
    """The database server's log when it is on this machine (the embedded server's)."""
    return None if env.DATABASE_URL else embedded_server_log(env.DATA_DIR)


class VectorSupportError(Exception):
    """The database cannot compute with vectors; the message says why and what to do."""


def check_vector_support(using: str = "default", server_log: Path | None = None) -> None:
    """Raise VectorSupportError unless the database computes with vectors correctly.

    `server_log` is the database server's log, when this machine has it (the embedded
    server's): a crash found there is quoted in the error. Leaves nothing behind; the
    connection is closed afterwards, so a broken one is never reused.
    """
    connection = connections[using]
    log_start = _log_size(server_log)
    # Unreachable is not a vector problem: let the usual error say so.
    connection.ensure_connection()
    try:
        with transaction.atomic(using=using), connection.cursor() as cursor:
            cursor.execute("SELECT extversion FROM pg_extension WHERE extname = 'vector'")
            if cursor.fetchone() is None:
                raise VectorSupportError(_missing_extension(cursor))
            for statement in _CHECK:
                cursor.execute(statement)
            cursor.execute(_QUERY)
            rows = cursor.fetchall()
            transaction.set_rollback(True, using=using)
    except (OperationalError, InterfaceError) as error:
        raise VectorSupportError(_crashed(error, server_log, log_start)) from error
    except DatabaseError as error:
        raise VectorSupportError(
            f"The database refused the vector self-check: {str(error).strip()}. {WHAT_TO_DO}"
        ) from error
    finally:
        connection.close()
    distances = {row[0]: float(row[1]) for row in rows}
    if (
        set(distances) != {1, 2}
        or abs(distances[1]) > 1e-6
        or abs(distances[2] - EXPECTED_DISTANCE) > 1e-5
    ):
        raise VectorSupportError(
            "The database's vector extension (pgvector) computed wrong cosine distances "
            f"in the self-check: {distances}, expected {{1: 0.0, 2: {EXPECTED_DISTANCE:.6f}}}. "
            f"{WHAT_TO_DO}"
        )


def _missing_extension(cursor: CursorWrapper) -> str:
    cursor.execute("SELECT 1 FROM pg_available_extensions WHERE name = 'vector'")
    if cursor.fetchone() is None:
        return (
            "The database server has no pgvector (the `vector` extension), which Reverie "
            "needs for archival memory and documents. Install it on the server "
            "(https://github.com/pgvector/pgvector#installation), or unset DATABASE_URL "
            "to use the embedded database."
        )
    return (
        "The database has no `vector` extension yet: run `python manage.py migrate` "
        "(`make run` does) before starting this process."
    )


def _log_size(path: Path | None) -> int:
    try:
        return path.stat().st_size if path is not None else 0
    except OSError:
        return 0


def _crashed(error: Exception, server_log: Path | None, log_start: int) -> str:
    detail = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    crash = None
    if server_log is not None:
        try:
            with server_log.open("rb") as log:
                log.seek(log_start)
                crash = _CRASH.search(log.read().decode("utf-8", "replace"))
        except OSError:
            pass
    if crash is not None:
        signal, name = crash.group(1), crash.group(2) or ""
        cause = f"the database process was terminated by signal {signal}"
        if name:
            cause += f" ({name.strip()})"
        if signal == "4":
            cause += (
                ": the vector library holds an instruction this CPU does not have (a "
                "pgvector built for a newer CPU, such as one with AVX-512)"
            )
        return (
            f"The database's vector extension (pgvector) crashed the database in the "
            f"start-up self-check ({cause}; server log: {server_log}). {WHAT_TO_DO}"
        )
    return (
        "The database dropped the connection during the start-up self-check of its vector "
        f"extension (pgvector): {detail}. If the server's log says a process was "
        '"terminated by signal 4: Illegal instruction", its pgvector was built for a newer '
        f"CPU than this one. {WHAT_TO_DO}"
    )
