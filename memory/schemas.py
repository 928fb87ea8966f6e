from __future__ import annotations

from datetime import datetime
from typing import Any

from ninja import Field, Schema

from memory.models import Block, Passage


class BlockIn(Schema):
    label: str
    value: str = ""
    limit: int | None = None
    description: str | None = None
    read_only: bool = False
    metadata: dict[str, Any] | None = None
    is_template: bool = False
    name: str | None = Field(None, description="Template name (Letta's `name`).")
    template_name: str | None = None


class BlockUpdateIn(Schema):
    label: str | None = None
    value: str | None = None
    limit: int | None = None
    description: str | None = None
    read_only: bool | None = None
    metadata: dict[str, Any] | None = None
    is_template: bool | None = None
    template_name: str | None = None

    def changes(self) -> dict[str, Any]:
        return self.model_dump(exclude_unset=True, exclude_none=True)


class BlockOut(Schema):
    id: str
    label: str
    value: str
    limit: int
    description: str | None
    read_only: bool
    metadata: dict[str, Any]
    is_template: bool
    name: str | None
    template_name: str | None
    version: int
    created_at: datetime
    updated_at: datetime


def block_out(block: Block) -> dict[str, Any]:
    return {
        "id": block.id,
        "label": block.label,
        "value": block.value,
        "limit": block.limit,
        "description": block.description or None,
        "read_only": block.read_only,
        "metadata": block.metadata,
        "is_template": block.is_template,
        "name": block.template_name or None,
        "template_name": block.template_name or None,
        "version": block.version,
        "created_at": block.created_at,
        "updated_at": block.updated_at,
    }


class PassageIn(Schema):
    text: str
    tags: list[str] | None = None
    created_at: datetime | None = None


class PassageOut(Schema):
    id: str
    text: str
    agent_id: str | None
    tags: list[str]
    metadata: dict[str, Any]
    embedding_config: dict[str, Any] | None
    created_at: datetime
    updated_at: datetime


def passage_out(passage: Passage) -> dict[str, Any]:
    return {
        "id": passage.id,
        "text": passage.text,
        "agent_id": passage.agent_id,
        "tags": passage.tags,
        "metadata": passage.metadata,
        "embedding_config": {"handle": passage.embedding_handle},
        "created_at": passage.created_at,
        "updated_at": passage.updated_at,
    }


class SearchResultOut(Schema):
    id: str
    content: str
    timestamp: str
    tags: list[str]


class SearchOut(Schema):
    results: list[SearchResultOut]
    count: int


class MessageOut(Schema):
    message: str
