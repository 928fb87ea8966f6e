"""Failed logins and failed API keys, counted per client address in the cache.

A fixed window: after AUTH_FAILURE_LIMIT failures within AUTH_FAILURE_WINDOW_SECONDS the
address is refused until the window ends, right or wrong password alike, so guessing
stays slow. With REDIS_URL the cache, and so the count, is shared by every web process.
"""

from __future__ import annotations

import time

from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest

from config.errors import TooManyRequests


def client_address(request: HttpRequest) -> str:
    # daphne with --proxy-headers puts the proxy's X-Forwarded-For here.
    return str(request.META.get("REMOTE_ADDR") or "unknown")


def _setting(name: str) -> int:
    value = settings.REVERIE[name]
    if not isinstance(value, int):
        raise TypeError(f"REVERIE[{name!r}] must be an int, not {value!r}")
    return value


def _key(scope: str, address: str) -> str:
    return f"reverie:auth-failures:{scope}:{address}"


def check(scope: str, request: HttpRequest) -> None:
    """Raise TooManyRequests while `request`'s address is over the limit for `scope`."""
    entry = cache.get(_key(scope, client_address(request)))
    if entry is None:
        return
    count, window_ends = entry
    if count >= _setting("AUTH_FAILURE_LIMIT"):
        wait = max(1, int(window_ends - time.time()))
        raise TooManyRequests(
            f"Too many failed attempts from your address; try again in {wait} seconds.",
            retry_after=wait,
        )


def record_failure(scope: str, request: HttpRequest) -> None:
    window = _setting("AUTH_FAILURE_WINDOW_SECONDS")
    key = _key(scope, client_address(request))
    entry: tuple[int, float] | None = cache.get(key)
    now = time.time()
    if entry is None or entry[1] <= now:
        cache.set(key, (1, now + window), timeout=window)
    else:
        count, window_ends = entry
        cache.set(key, (count + 1, window_ends), timeout=max(1, int(window_ends - now)))
