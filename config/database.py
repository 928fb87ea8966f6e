"""Database connection settings: a Postgres server from DATABASE_URL, or the embedded one.

The embedded server is pgserver (PostgreSQL with pgvector, from PyPI) running on a Unix
socket inside DATA_DIR. Every process that loads the settings (web, worker, a management
command) takes a handle on it; pgserver starts it under an inter-process lock if it is not
running and stops it when the last handle goes away, so processes share one server safely.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Any

import dj_database_url


def embedded_server_uri(data_dir: Path) -> str:
    """Start (or join) the embedded Postgres in DATA_DIR and return its URI."""
    with warnings.catch_warnings():
        # platformdirs warns when XDG_RUNTIME_DIR is unset (servers, CI); harmless here.
        warnings.simplefilter("ignore")
        import pgserver

        pgdata = data_dir / "pgdata"
        pgdata.parent.mkdir(parents=True, exist_ok=True)
        server = pgserver.get_server(pgdata, cleanup_mode="stop")
    return server.get_uri("reverie")


def ensure_embedded_database(uri: str) -> None:
    """Create the `reverie` database on first start (pgserver only ships `postgres`)."""
    import psycopg

    admin_uri = uri.replace("/reverie?", "/postgres?", 1)
    with psycopg.connect(admin_uri, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = 'reverie'").fetchone()
        if not exists:
            try:
                conn.execute("CREATE DATABASE reverie")
            except psycopg.errors.DuplicateDatabase:
                pass  # another process created it between our check and our create


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
