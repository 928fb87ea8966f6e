"""The base of every request body's schema."""

from __future__ import annotations

from typing import Any

from ninja import Schema
from ninja.schema import DjangoGetter
from pydantic import BaseModel, model_validator


class In(Schema):
    """An input schema: only a JSON object validates.

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
        return value
