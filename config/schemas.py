"""The base of every request body's schema."""

from __future__ import annotations

from datetime import UTC, datetime
from types import UnionType
from typing import Annotated, Any, Union, get_args, get_origin

from django.utils import timezone
from ninja import Schema
from ninja.schema import DjangoGetter
from pydantic import AfterValidator, BaseModel, BeforeValidator, model_validator

# PostgreSQL's integer: the largest count, size or number of seconds a column holds.
INT32 = 2**31 - 1


class In(Schema):
    """An input schema: only a JSON object validates, and a number is not a boolean.

    django-ninja's Schema reads attributes off whatever it is given (it also serves to
    render model instances), so a string sent where an object belongs validated as an
    empty object, and `{"manager_config": "x"}` was accepted as if nothing were asked.
    """

    @model_validator(mode="before")
    @classmethod
    def _an_object(cls, value: Any) -> Any:
        raw = value._obj if isinstance(value, DjangoGetter) else value
        if not isinstance(raw, dict | BaseModel):
            raise ValueError("must be a JSON object")
        if isinstance(raw, dict):
            # Pydantic reads true as 1 where a number belongs, and 0 or "yes" as a
            # boolean; JSON does neither.
            for name, field in cls.model_fields.items():
                given = raw.get(name)
                if isinstance(given, bool) and _numeric(field.annotation):
                    raise ValueError(f"{name} must be a number, not {str(given).lower()}")
                if given is not None and not isinstance(given, bool) and _boolean(field):
                    raise ValueError(f"{name} must be true or false, not {given!r}")
        return value


def _kinds(annotation: Any) -> tuple[Any, ...]:
    return get_args(annotation) if get_origin(annotation) in (Union, UnionType) else (annotation,)


def _numeric(annotation: Any) -> bool:
    """Whether `annotation` is a number or an optional one."""
    return any(kind in (int, float) for kind in _kinds(annotation))


def _boolean(field: Any) -> bool:
    """Whether a field takes a boolean only (or null)."""
    kinds = set(_kinds(field.annotation)) - {type(None)}
    return kinds == {bool}


# --- Patterns for the schema ------------------------------------------------------------------
# Spelled so that JavaScript's regular expressions (the dialect of JSON Schema) and Python's
# read them alike: no `\s`, `.` or `\S`, whose meanings differ between the two.

# Python's whitespace (str.isspace, what str.strip removes), character by character.
SPACE = r"\t\n\x0b\x0c\r\x1c-\x1f \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
# A character PostgreSQL can store (anything but NUL), and one that is not a space either.
STORABLE_CHAR = r"[^\x00]"
SOLID_CHAR = rf"[^\x00{SPACE}]"
# Storable text with something besides spaces (what `not text.strip()` refuses).
NOT_BLANK = rf"^{STORABLE_CHAR}*{SOLID_CHAR}{STORABLE_CHAR}*$"
# provider/model, as the model registry splits it.
HANDLE_PATTERN = r"^[^/\x00]+/[^\x00]+$"


# --- Moments ------------------------------------------------------------------------------


def in_utc(moment: datetime) -> datetime:
    """`moment` in UTC (a naive one read in the default time zone).

    RFC 3339 allows offsets PostgreSQL refuses (beyond ±15:59); in UTC every one is
    stored. A moment within a day of year 1 or 9999 may have no UTC form in Python: it is
    then the first or last moment there is, which filters and sorts the same.
    """
    if timezone.is_naive(moment):
        moment = timezone.make_aware(moment, timezone.get_default_timezone())
    try:
        return moment.astimezone(UTC)
    except OverflowError:
        edge = datetime.min if moment.year == datetime.min.year else datetime.max
        return edge.replace(tzinfo=UTC)


def _written_out(value: Any) -> Any:
    # Pydantic would read a number as seconds since 1970; the schema says a date-time.
    if not isinstance(value, str | datetime):
        raise ValueError("must be an ISO 8601 date-time such as 2026-01-31T09:00:00Z")
    return value


# A datetime in a request, in UTC.
Moment = Annotated[datetime, BeforeValidator(_written_out), AfterValidator(in_utc)]
