from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from ninja import Field, Schema

from config.schemas import In
from forgetting.models import ForgetJob, Tombstone
from forgetting.services import ForgetSpec


class ForgetIn(In):
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
    start_date: datetime | None = None
    end_date: datetime | None = None
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


def tombstone_out(tombstone: Tombstone) -> dict[str, Any]:
    return {
        "id": tombstone.id,
        "agent_id": tombstone.agent_id,
        "organization_id": tombstone.organization_id,
        "who": tombstone.who,
        "kind": tombstone.kind,
        "count": tombstone.count,
        "details": tombstone.details,
        "created_at": tombstone.created_at,
    }


def job_out(job: ForgetJob) -> dict[str, Any]:
    # Never the matter: the caller knows it, and the job forgets it when it ends.
    return {
        "id": job.id,
        "agent_id": job.agent_id,
        "who": job.who,
        "status": job.status,
        "run_ids": job.run_ids,
        "tombstone": tombstone_out(job.tombstone) if job.tombstone else None,
        "error": job.error,
        "created_at": job.created_at,
        "started_at": job.started_at,
        "completed_at": job.completed_at,
    }
