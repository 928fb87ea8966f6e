from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from ninja import Field, Schema

from config.schemas import SOLID_CHAR, STORABLE_CHAR, In, Moment
from forgetting.models import Kind
from forgetting.services import ALLOWED_FIELDS, MAX_TEXT, MIN_TEXT, ForgetSpec

# --- What each kind takes, for the schema (the service checks the same: ALLOWED_FIELDS) ---

# Text to forget: at least MIN_TEXT characters once the spaces around it are stripped.
_TEXT = {
    "type": "string",
    "maxLength": MAX_TEXT,
    "pattern": (
        f"^{STORABLE_CHAR}*{SOLID_CHAR}{STORABLE_CHAR}{{{MIN_TEXT - 2},}}{SOLID_CHAR}"
        f"{STORABLE_CHAR}*$"
    ),
}
_RANGE = ("start_message_id", "end_message_id", "start_date", "end_date")
# A field's values that leave it out ("given" in ForgetSpec: not None, False or []).
_UNSET: dict[str, dict[str, Any]] = {
    "all": {"const": False},
    "message_ids": {"anyOf": [{"type": "null"}, {"type": "array", "maxItems": 0}]},
    "passage_ids": {"anyOf": [{"type": "null"}, {"type": "array", "maxItems": 0}]},
    **{name: {"type": "null"} for name in ("text", "file_id", *_RANGE)},
}
# The value of a field a branch selects by.
_SET: dict[str, dict[str, Any]] = {
    "all": {"const": True},
    "text": _TEXT,
    "message_ids": {"type": "array", "minItems": 1},
    "passage_ids": {"type": "array", "minItems": 1},
    "file_id": {"type": "string", "minLength": 1},
    "start_message_id": {"type": "string"},
    "end_message_id": {"type": "string"},
    "start_date": {"type": "string", "format": "date-time"},
    "end_date": {"type": "string", "format": "date-time"},
}


def _branch(kind: str, *selectors: str) -> dict[str, Any]:
    """The requests of `kind` that select by `selectors` (one of them, for a range)."""
    chosen = set(selectors)
    branch: dict[str, Any] = {
        "properties": {
            "kind": {"const": kind},
            **{name: _UNSET[name] for name in _UNSET if name not in chosen},
        },
        "required": ["kind"],
    }
    if len(selectors) == 1:
        branch["properties"][selectors[0]] = _SET[selectors[0]]
        branch["required"].append(selectors[0])
    else:
        branch["anyOf"] = [
            {"properties": {name: _SET[name]}, "required": [name]} for name in selectors
        ]
    return branch


def _one_kind(schema: dict[str, Any]) -> None:
    """Each kind with exactly one way of saying what (purge_messages, purge_passages)."""
    branches = [
        _branch(Kind.MESSAGES, "all"),
        _branch(Kind.MESSAGES, "text"),
        _branch(Kind.MESSAGES, "message_ids"),
        _branch(Kind.MESSAGES, *_RANGE),
        _branch(Kind.PASSAGES, "text"),
        _branch(Kind.PASSAGES, "passage_ids"),
        _branch(Kind.FILE, "file_id"),
        _branch(Kind.BLOCK_TEXT, "text"),
        _branch(Kind.MATTER, "text"),
    ]
    assert {b["properties"]["kind"]["const"] for b in branches} == set(ALLOWED_FIELDS)
    schema["oneOf"] = branches


class ForgetIn(In, json_schema_extra=_one_kind):
    kind: Literal["messages", "passages", "file", "block_text", "matter"] = Field(
        description=(
            "messages: delete messages (all, message_ids, a range, or those containing text); "
            "passages: delete archival passages (passage_ids, or those containing text); "
            "file: delete a file of an attached source and all derived from it; "
            "block_text: rewrite text out of the blocks and their history; "
            "matter: all of the above for text, as a job, with the sleep-time agent "
            "rewriting the blocks."
        )
    )
    text: str | None = None
    all: bool = False
    message_ids: list[str] | None = None
    start_message_id: str | None = Field(None, description="First message of a range.")
    end_message_id: str | None = Field(None, description="Last message of a range.")
    start_date: Moment | None = None
    end_date: Moment | None = None
    passage_ids: list[str] | None = None
    file_id: str | None = None

    def spec(self) -> ForgetSpec:
        return ForgetSpec(**self.model_dump())


class TombstoneOut(Schema):
    id: str
    agent_id: str
    organization_id: str
    who: str
    kind: str
    count: int
    details: dict[str, int]
    created_at: datetime


class ForgetJobOut(Schema):
    """A forget job, never with its matter: the caller knows it, and the job forgets it
    when it ends."""

    id: str
    agent_id: str
    who: str
    status: str
    run_ids: list[str]
    tombstone: TombstoneOut | None
    error: str
    created_at: datetime
    started_at: datetime | None
    completed_at: datetime | None
