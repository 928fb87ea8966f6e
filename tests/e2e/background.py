"""Changes made behind the browser's back, for the browser tests: in a thread of their own,
whose database connection commits at once (the live server sees it) and is closed after.
The test's own thread runs Playwright's event loop, where Django refuses database calls."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from django.db import connection

T = TypeVar("T")


def in_background(django_db_blocker: Any, func: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """`func(*args, **kwargs)` on a committed connection in another thread; its result."""

    def call() -> T:
        try:
            return func(*args, **kwargs)
        finally:
            connection.close()

    with django_db_blocker.unblock(), ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(call).result(timeout=60)
