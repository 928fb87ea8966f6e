"""Forgetting: removing an agent's data so that the text no longer survives anywhere.

Each purge runs in one transaction and leaves a Tombstone (never the text). What the
caller names is deleted: messages, passages, a file. What was *derived* from it is
rewritten in place, because deleting it would break other records: a run keeps its
transcript minus the forgotten lines, a sleep-time agent keeps its tool calls, a block
keeps its history. Rewritten text reads MARKER ("[forgotten]"), see `records.scrub_block`.

The derived records of an agent are those of its *family*: the agent and, for a
primary, its sleep-time agents, whose inputs quote the primary's conversation.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any

from django.db.models import QuerySet

from agents.models import Agent
from config.errors import InvalidRequest, NotFound
from forgetting.models import ForgetJob, Kind, Tombstone
from forgetting.services.jobs import (
    FORGET_RUN_TRANSCRIPT,
    FORGET_TOOL,
    forget_in_block,
    request_forget,
    run_forget_job,
)
from forgetting.services.purges import (
    purge_block_text,
    purge_file,
    purge_messages,
    purge_passages,
)
from forgetting.services.records import MAX_TEXT, MIN_TEXT, check_storable, check_text

__all__ = [
    "ALLOWED_FIELDS",
    "FORGET_REQUEST_TOOL",
    "FORGET_RUN_TRANSCRIPT",
    "FORGET_TOOL",
    "MAX_TEXT",
    "MIN_TEXT",
    "ForgetSpec",
    "forget",
    "forget_in_block",
    "get_job",
    "list_jobs",
    "list_tombstones",
    "purge_block_text",
    "purge_file",
    "purge_messages",
    "purge_passages",
    "request_forget",
    "run_forget_job",
    "who_for_user",
]

# The primary's tool; opt-in (see the ADE's forgetting page), so Letta's tool sets stay exact.
FORGET_REQUEST_TOOL = "forget"


def who_for_user(user: Any) -> str:
    return str(user.pk)


# --- The one entry point for the API and the ADE ------------------------------------------


@dataclass(frozen=True)
class ForgetSpec:
    """What to forget. `kind` says which other fields apply (see ALLOWED_FIELDS)."""

    kind: str
    text: str | None = None
    all: bool = False
    message_ids: list[str] | None = None
    start_message_id: str | None = None
    end_message_id: str | None = None
    start_date: datetime | None = None
    end_date: datetime | None = None
    passage_ids: list[str] | None = None
    file_id: str | None = None

    def given(self) -> set[str]:
        return {
            field.name
            for field in fields(self)
            if field.name != "kind" and getattr(self, field.name) not in (None, False, [])
        }


ALLOWED_FIELDS: dict[str, set[str]] = {
    Kind.MESSAGES: {
        "all",
        "text",
        "message_ids",
        "start_message_id",
        "end_message_id",
        "start_date",
        "end_date",
    },
    Kind.PASSAGES: {"text", "passage_ids"},
    Kind.FILE: {"file_id"},
    Kind.BLOCK_TEXT: {"text"},
    Kind.MATTER: {"text"},
}


def forget(agent: Agent, spec: ForgetSpec, *, who: str) -> Tombstone | ForgetJob:
    """Forget what `spec` names: a Tombstone at once, or for a matter a queued job."""
    allowed = ALLOWED_FIELDS.get(spec.kind)
    if allowed is None:
        raise InvalidRequest(f"kind must be one of {', '.join(Kind.values)}.")
    for name in spec.given():
        value = getattr(spec, name)
        for item in value if isinstance(value, list) else [value]:
            if isinstance(item, str):
                check_storable(item, name)
    extra = spec.given() - allowed
    if extra:
        raise InvalidRequest(
            f"{', '.join(sorted(extra))} cannot be used with kind '{spec.kind}' "
            f"(it takes {', '.join(sorted(allowed))})."
        )
    if spec.kind == Kind.MESSAGES:
        return purge_messages(
            agent,
            who=who,
            everything=spec.all,
            text=spec.text,
            message_ids=spec.message_ids,
            start_message_id=spec.start_message_id,
            end_message_id=spec.end_message_id,
            start_date=spec.start_date,
            end_date=spec.end_date,
        )
    if spec.kind == Kind.PASSAGES:
        return purge_passages(agent, who=who, passage_ids=spec.passage_ids, text=spec.text)
    if spec.kind == Kind.FILE:
        if not spec.file_id:
            raise InvalidRequest("Say which file to forget with file_id.")
        return purge_file(agent, spec.file_id, who=who)
    if spec.kind == Kind.BLOCK_TEXT:
        return purge_block_text(agent, check_text(spec.text), who=who)
    return request_forget(agent, check_text(spec.text), who=who)


# --- Reading -------------------------------------------------------------------------------


def list_tombstones(agent: Agent) -> QuerySet[Tombstone]:
    return Tombstone.objects.filter(agent_id=agent.id).order_by("-created_at", "id")


def list_jobs(agent: Agent) -> QuerySet[ForgetJob]:
    return (
        ForgetJob.objects.filter(agent_id=agent.id)
        .select_related("tombstone")
        .defer("matter")
        .order_by("-created_at", "id")
    )


def get_job(agent: Agent, job_id: str) -> ForgetJob:
    job = list_jobs(agent).filter(pk=job_id).first()
    if job is None:
        raise NotFound(f"Forget job '{job_id}' not found")
    return job
