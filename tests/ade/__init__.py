"""ADE page tests, and what the websocket tests share."""

from __future__ import annotations

from typing import Any

from asgiref.sync import sync_to_async
from django.db import connection
from django.test import Client

# Headers of a request htmx makes.
HTMX = {"HTTP_HX_REQUEST": "true"}


def session_cookie(user: Any) -> bytes:
    """The Cookie header of a browser logged in as `user`."""
    client = Client()
    client.force_login(user)
    return f"sessionid={client.cookies['sessionid'].value}".encode()


def closed_thread_connection(func: Any) -> Any:
    """`func` for an async test, run in a thread whose database connection is closed after,
    so no connection outlives the test database."""

    def run(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        finally:
            connection.close()

    return sync_to_async(run)
