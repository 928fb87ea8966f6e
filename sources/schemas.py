from __future__ import annotations

from datetime import datetime
from typing import Any

from ninja import Field, Schema
from pydantic.json_schema import JsonDict

from config.schemas import HANDLE_PATTERN, In
from memory.models import EMBEDDING_DIM
from sources.models import FileStatus, Source, SourceFile

# What create_source enforces (it also labels the digest's memory block).
NAME: JsonDict = {"pattern": r"^[A-Za-z0-9_\-. ]+$"}


class SourceIn(In):
    name: str = Field(json_schema_extra=NAME)
    description: str | None = None
    instructions: str | None = None
    metadata: dict[str, Any] | None = None
    embedding: str | None = Field(
        None, json_schema_extra={"pattern": HANDLE_PATTERN, "description": "provider/model"}
    )
    embedding_chunk_size: int | None = Field(None, ge=50, le=2000)
    # Reverie: a trusted source's digest may write to the agent's other blocks; an
    # untrusted one (the default) writes only to its own, and what it would write there
    # that reads as instructions to the agent waits for review.
    trusted: bool = False

    class EmbeddingConfig(In):
        embedding_model: str | None = None
        embedding_endpoint_type: str | None = None
        handle: str | None = Field(
            None, json_schema_extra={"pattern": HANDLE_PATTERN, "description": "provider/model"}
        )
        embedding_chunk_size: int | None = Field(
            None, json_schema_extra={"minimum": 50, "maximum": 2000}
        )

    embedding_config: EmbeddingConfig | None = None

    def embedding_handle(self) -> str | None:
        if self.embedding:
            return self.embedding
        config = self.embedding_config
        if config is None:
            return None
        if config.handle:
            return config.handle
        if config.embedding_model:
            return f"{config.embedding_endpoint_type or 'openai'}/{config.embedding_model}"
        return None


class SourceUpdateIn(In):
    name: str | None = Field(None, json_schema_extra=NAME)
    description: str | None = None
    instructions: str | None = None
    metadata: dict[str, Any] | None = None
    trusted: bool | None = None


class SourceOut(Schema):
    id: str
    name: str
    description: str | None
    instructions: str | None
    metadata: dict[str, Any]
    trusted: bool
    embedding_config: dict[str, Any]
    created_by_id: str
    last_updated_by_id: str
    created_at: datetime
    updated_at: datetime

    @staticmethod
    def resolve_description(source: Source) -> str | None:
        return source.description or None

    @staticmethod
    def resolve_instructions(source: Source) -> str | None:
        return source.instructions or None

    @staticmethod
    def resolve_embedding_config(source: Source) -> dict[str, Any]:
        provider, _, model = source.embedding_handle.partition("/")
        return {
            "embedding_endpoint_type": provider,
            "embedding_endpoint": None,
            "embedding_model": model,
            "embedding_dim": EMBEDDING_DIM,
            "embedding_chunk_size": source.embedding_chunk_size,
            "handle": source.embedding_handle,
        }

    @staticmethod
    def resolve_created_by_id(source: Source) -> str:
        return f"user-{source.owner_id}"

    @staticmethod
    def resolve_last_updated_by_id(source: Source) -> str:
        return f"user-{source.owner_id}"


class _AsJob(Schema):
    """A file as a Letta Job too, so 0.1.x's `while job.status != "completed"` loop works
    (job_state)."""

    status: str
    job_type: str
    metadata: dict[str, Any]

    @staticmethod
    def resolve_status(upload: SourceFile) -> str:
        return str(job_state(upload)["status"])

    @staticmethod
    def resolve_job_type(upload: SourceFile) -> str:
        return "file_processing"

    @staticmethod
    def resolve_metadata(upload: SourceFile) -> dict[str, Any]:
        return dict(job_state(upload)["metadata"])


class FileOut(_AsJob):
    id: str
    source_id: str
    folder_id: str
    file_name: str
    original_file_name: str
    file_path: str | None
    file_type: str
    file_size: int
    file_creation_date: str | None
    file_last_modified_date: str | None
    processing_status: str
    error_message: str | None
    total_pages: int | None
    total_chunks: int | None
    chunks_embedded: int
    total_windows: int | None
    windows_digested: int
    estimate: dict[str, Any]
    content_hash: str
    created_at: datetime
    updated_at: datetime
    completed_at: datetime | None

    @staticmethod
    def resolve_folder_id(upload: SourceFile) -> str:
        return upload.source_id

    @staticmethod
    def resolve_file_path(upload: SourceFile) -> None:
        return None

    @staticmethod
    def resolve_file_creation_date(upload: SourceFile) -> None:
        return None

    @staticmethod
    def resolve_file_last_modified_date(upload: SourceFile) -> None:
        return None

    @staticmethod
    def resolve_error_message(upload: SourceFile) -> str | None:
        return upload.error_message or None


class JobOut(_AsJob):
    id: str
    created_at: datetime
    completed_at: datetime | None
    updated_at: datetime


def job_state(upload: SourceFile) -> dict[str, Any]:
    """The file as a Letta Job, for `GET /v1/jobs/{id}` and the upload response."""
    status = {
        FileStatus.PENDING: "created",
        FileStatus.COMPLETED: "completed",
        FileStatus.ERROR: "failed",
    }.get(FileStatus(upload.processing_status), "running")
    metadata: dict[str, Any] = {
        "type": "embedding",
        "job_type": "file_processing",
        "file_id": upload.pk,
        "source_id": upload.source_id,
        "filename": upload.file_name,
        "num_passages": upload.total_chunks or 0,
        "processing_status": upload.processing_status,
    }
    if upload.error_message:
        metadata["error"] = upload.error_message
    return {"status": status, "metadata": metadata}
