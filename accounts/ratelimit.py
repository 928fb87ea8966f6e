"""Failed logins and failed API keys, counted in the cache, so guessing stays slow without
ever refusing somebody's valid credentials because of somebody else's mistakes.

A fixed window of AUTH_FAILURE_WINDOW_SECONDS:

- Logins count per address *and username*: after AUTH_FAILURE_LIMIT wrong passwords for
  one username from one address, that username is refused from that address until the
  window ends, the right password too (a password is guessable, so guessing must stop).
  Other people behind the same address (an office's NAT) still log in. An address that
  fails for many usernames (SPRAY_FACTOR times the limit: one password tried against every
  account) is refused whole.
- API keys count per address, but a valid key is always served: a key is 256 random bits,
  so no rate makes guessing one possible, and a tenant's broken client must not lock out
  the other tenants behind its address. Over the limit, a wrong key is answered 429 rather
  than 401.

With REDIS_URL the cache, and so the count, is shared by every web process.
"""

from __future__ import annotations

import time

from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest

from config.errors import TooManyRequests

# Wrong passwords from one address, across usernames, before the whole address waits.
SPRAY_FACTOR = 5


def client_address(request: HttpRequest) -> str:
    # daphne with --proxy-headers puts the proxy's X-Forwarded-For here.
    return str(request.META.get("REMOTE_ADDR") or "unknown")


def _setting(name: str) -> int:
    value = getattr(settings, name)
    if not isinstance(value, int):
        raise TypeError(f"{name} must be an int, not {value!r}")
    return value


def _key(scope: str, address: str, subject: str) -> str:
    return f"reverie:auth-failures:{scope}:{address}:{subject.lower()}"


def _refuse_over(key: str, limit: int) -> None:
    entry = cache.get(key)
    if entry is None:
        return
    count, window_ends = entry
    if count >= limit:
        wait = max(1, int(window_ends - time.time()))
        raise TooManyRequests(
            f"Too many failed attempts from your address; try again in {wait} seconds.",
            retry_after=wait,
        )


def check(scope: str, request: HttpRequest, subject: str = "") -> None:
    """Raise TooManyRequests while `request`'s address is over the limit for `scope`: for
    `subject` (a username) if given, and for the address as a whole."""
    limit = _setting("AUTH_FAILURE_LIMIT")
    address = client_address(request)
    if subject:
        _refuse_over(_key(scope, address, subject), limit)
        _refuse_over(_key(scope, address, ""), limit * SPRAY_FACTOR)
    else:
        _refuse_over(_key(scope, address, ""), limit)


def record_failure(scope: str, request: HttpRequest, subject: str = "") -> None:
    address = client_address(request)
    _count(_key(scope, address, ""))
    if subject:
        _count(_key(scope, address, subject))


def _count(key: str) -> None:
    window = _setting("AUTH_FAILURE_WINDOW_SECONDS")
    entry: tuple[int, float] | None = cache.get(key)
    now = time.time()
    if entry is None or entry[1] <= now:
        cache.set(key, (1, now + window), timeout=window)
    else:
        count, window_ends = entry
        cache.set(key, (count + 1, window_ends), timeout=max(1, int(window_ends - now)))
