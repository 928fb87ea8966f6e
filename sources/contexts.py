"""What the sources panel of an agent's page shows: the page's views and its websocket
(config/consumers.py) render the same partials from these."""

from __future__ import annotations

from typing import Any, TypedDict

from django.db.models import Prefetch

from agents.models import Agent
from sources.models import FileStatus, Source, SourceFile


class FileRow(TypedDict):
    file: SourceFile
    progress: int


class SourceRow(TypedDict):
    source: Source
    files: list[FileRow]


def file_progress(file: SourceFile) -> int:
    """How far the file's processing is, 0-100, from the counts its worker records.

    Parsing and embedding advance with the chunks embedded, digesting with the windows
    read; a finished file is full. Pending, and an error, show no progress.
    """
    status = file.processing_status
    if status == FileStatus.COMPLETED:
        return 100
    if status in (FileStatus.PARSING, FileStatus.EMBEDDING):
        done, total = file.chunks_embedded, file.total_chunks
    elif status == FileStatus.DIGESTING:
        done, total = file.windows_digested, file.total_windows
    else:
        return 0
    if not total:
        return 0
    return max(0, min(100, done * 100 // total))


def file_row_context(file: SourceFile, agent: Agent, *, oob: bool = False) -> dict[str, Any]:
    """What `_file.html` renders: the page's panel and the websocket push share it."""
    return {"file": file, "progress": file_progress(file), "agent": agent, "oob": oob}


def sources_context(
    agent: Agent, *, error: str = "", new_source: dict[str, str] | None = None
) -> dict[str, Any]:
    """The agent's attached sources with their files, and the owner's other sources.

    Three queries whatever the number of sources and files; the stored upload bytes are
    never loaded.
    """
    files = SourceFile.objects.defer("content").order_by("created_at", "id")
    attached = list(
        agent.sources.order_by("name", "id").prefetch_related(Prefetch("files", queryset=files))
    )
    available = list(
        Source.objects.filter(organization_id=agent.organization_id)
        .exclude(pk__in=[source.pk for source in attached])
        .order_by("name", "id")
    )
    rows: list[SourceRow] = [
        {
            "source": source,
            "files": [
                {"file": file, "progress": file_progress(file)} for file in source.files.all()
            ],
        }
        for source in attached
    ]
    return {
        "agent": agent,
        "sources": rows,
        "available": available,
        "sources_error": error,
        "new_source": new_source or {"name": "", "description": "", "instructions": ""},
    }
