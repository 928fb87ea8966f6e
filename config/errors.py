"""Domain exceptions. Services raise these; config/api.py maps each to one HTTP status."""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    status = 400

    def __init__(self, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.message = message
        # More fields for the API's answer, beside `detail`.
        self.extra = extra


class InvalidRequest(DomainError):
    """The request cannot be carried out as asked (400)."""


class Conflict(InvalidRequest):
    """In conflict with the current state (409): two writers changed the same lines (and
    `extra` says what it is now, so the writer can decide), a run still in progress, a name
    already taken. An InvalidRequest, so every form that shows those shows this too."""

    status = 409


class TooLong(InvalidRequest):
    """A text over a configured size limit (413). An InvalidRequest, so every form that
    shows those shows this one too."""

    status = 413


class NotFound(DomainError):
    """Missing, or not visible to this user (404); both read the same to a caller."""

    status = 404


class Unavailable(DomainError):
    """A dependency (the model provider) failed; the request itself was fine (502)."""

    status = 502


class PayloadTooLarge(DomainError):
    """An upload over the configured size limit (413)."""

    status = 413


class UnsupportedMediaType(DomainError):
    """An upload of a kind that cannot be parsed (415)."""

    status = 415


class Forbidden(DomainError):
    """Visible, but the caller's role does not allow the change (403)."""

    status = 403


class TooManyRequests(DomainError):
    """Too many failed attempts from one place; try again after `retry_after` seconds (429)."""

    status = 429

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after
