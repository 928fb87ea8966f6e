"""The sources of an Agent File: exported with the text of their files, imported as new
sources whose files are processed by a worker like uploads (registered with the agents
app's Agent File code when this app starts, sources/apps.py).

A file keeps its bytes only until a worker has processed it; after that its text lives
in its passages, which overlap (each repeats the end of the one before), so the export
joins them back without the repeats. An imported file is parsed and embedded but not
digested again: the memory learned from it comes with the agents in the same file.
"""

from __future__ import annotations

import hashlib
import itertools
from pathlib import PurePosixPath
from typing import Any

from agents.agentfile.parts import FileIds, SourcesExport, SourcesImport
from agents.models import Agent
from config.errors import Conflict
from memory import services as memory_services
from memory.models import EMBEDDING_DIM, Block, Passage
from sources import chunking, services, tasks
from sources.models import FileStatus, Source, SourceFile

# Letta's file statuses (it has no digest step).
_LETTA_STATUS: dict[str, str] = {FileStatus.DIGESTING: "embedding"}
# Text decoded from the bytes a file still holds, for kinds that are text already.
_TEXT_KINDS = ("text", "markdown", "html", "json", "csv")


# --- Export --------------------------------------------------------------------------------


def export_sources(agents: list[Agent], ids: FileIds) -> SourcesExport:
    out = SourcesExport()
    seen: set[str] = set()
    for agent in agents:
        attached = list(agent.sources.order_by("created_at", "id"))
        out.source_ids[agent.id] = [ids.get("source", source.id) for source in attached]
        for source in attached:
            if source.id in seen:
                continue
            seen.add(source.id)
            out.sources.append(_source(source, ids))
            for upload in source.files.defer("content").order_by("created_at", "id"):
                out.files.append(_file(upload, ids))
    return out


def _source(source: Source, ids: FileIds) -> dict[str, Any]:
    provider, _, model = source.embedding_handle.partition("/")
    return {
        "id": ids.get("source", source.id),
        "name": source.name,
        "description": source.description or None,
        "instructions": source.instructions or None,
        "metadata": source.metadata or {},
        "embedding_config": {
            "embedding_endpoint_type": provider,
            "embedding_endpoint": None,
            "embedding_model": model,
            "embedding_dim": EMBEDDING_DIM,
            "embedding_chunk_size": source.embedding_chunk_size,
            "handle": source.embedding_handle,
        },
    }


def _file(upload: SourceFile, ids: FileIds) -> dict[str, Any]:
    return {
        "id": ids.get("file", upload.id),
        "source_id": ids.get("source", upload.source_id),
        "file_name": upload.file_name,
        "original_file_name": upload.original_file_name,
        "file_path": None,
        "file_type": upload.file_type,
        "file_size": upload.file_size,
        "processing_status": _LETTA_STATUS.get(upload.processing_status, upload.processing_status),
        "error_message": upload.error_message or None,
        "total_chunks": upload.total_chunks,
        "chunks_embedded": upload.chunks_embedded,
        "content": file_text(upload),
    }


def file_text(upload: SourceFile) -> str | None:
    """The file's text: its bytes while it still has them (text kinds), else its passages
    joined back together; None when it has neither (a PDF not processed yet)."""
    if upload.kind in _TEXT_KINDS:
        data = SourceFile.objects.filter(pk=upload.pk).values_list("content", flat=True).first()
        if data is not None:
            try:
                return bytes(data).decode("utf-8")
            except UnicodeDecodeError:
                pass
    passages = Passage.objects.filter(file=upload).order_by("chunk_index")
    chunk = upload.source.embedding_chunk_size
    # The overlap ingest asked the chunker for (sources/ingest.py), as the chunker bounds it.
    overlap = min(50, chunk // 5, chunk // 2)
    return join_passages(list(passages.values_list("text", "page")), overlap)


def join_passages(passages: list[tuple[str, int | None]], overlap_tokens: int) -> str | None:
    """The text of consecutive chunks (text, page), each repeating up to `overlap_tokens`
    of the end of the one before on the same page, without the repeats; pages apart by a
    blank line."""
    if not passages:
        return None
    out = passages[0][0]
    for (before, page_before), (text, page) in itertools.pairwise(passages):
        repeated = _overlap(before, text, overlap_tokens) if page == page_before else 0
        out += text[repeated:] if repeated else "\n\n" + text
    return out


def _overlap(before: str, text: str, limit: int) -> int:
    """The length of the repeat at the start of `text`: the longest start of it that ends
    `before`, stops before a space and is within `limit` tokens (a text that repeats
    itself could otherwise match more than was repeated)."""
    for size in range(min(len(before), len(text)), 0, -1):
        if not before.endswith(text[:size]):
            continue
        if size < len(text) and not text[size].isspace():
            continue
        if chunking.count_tokens(text[:size]) <= limit:
            return size
    return 0


# --- Import --------------------------------------------------------------------------------


def import_sources(job: SourcesImport) -> None:
    """New sources for the file's sources (a name already taken gets a number), attached
    to their agents, with one file per file of the file whose content came with it."""
    made: dict[str, Source] = {}
    taken = set(Source.objects.filter(organization=job.organization).values_list("name", flat=True))
    for entry in job.sources.values():
        name = _free_name(entry.name, taken)
        taken.add(name)
        source = services.create_source(
            job.owner,
            name=name,
            description=entry.description,
            instructions=entry.instructions,
            embedding=job.embedding or entry.embedding,
            embedding_chunk_size=_chunk_size(entry.embedding_chunk_size),
            metadata=entry.metadata,
        )
        made[entry.id] = source
        agents = job.attached.get(entry.id, [])
        if agents:
            source.agents.add(*agents)
        if name != entry.name:
            _relabel_digest_blocks(agents, entry.name, name)
    for upload in job.files:
        _create_file(made[upload.source_id], upload.file_name, upload.file_type, upload.content,
                     upload.file_size)  # fmt: skip


def _free_name(name: str, taken: set[str]) -> str:
    name = _clean(name)
    if name not in taken:
        return name
    number = 2
    while f"{name}_{number}" in taken:
        number += 1
    return f"{name}_{number}"


def _clean(name: str) -> str:
    cleaned = "".join(char if services.NAME_PATTERN.match(char) else "-" for char in name)
    return cleaned.strip(" -")[:90] or "imported-source"


def _chunk_size(size: int | None) -> int | None:
    # Reverie chunks between 50 and 2000 tokens (sources.services.create_source).
    return None if size is None else min(max(size, 50), 2000)


def _relabel_digest_blocks(agents: list[Agent], old: str, new: str) -> None:
    """A source's digest block is the block labelled with its name: renamed with it."""
    for block in Block.objects.filter(
        agent_links__agent__in=agents, agent_links__label=old
    ).distinct():
        try:
            memory_services.update_block(block.id, actor=memory_services.Actor.system(), label=new)
        except Conflict:
            continue  # the agent has a block of the new name already; the old one stays


def _create_file(
    source: Source, name: str, file_type: str, content: str | None, size: int | None
) -> SourceFile:
    # Letta names a file after its folder too (`folder/file.md`).
    name = PurePosixPath(name).name or name
    data = (content or "").encode("utf-8")
    upload = SourceFile.objects.create(
        source=source,
        owner=source.owner,
        organization_id=source.organization_id,
        file_name=name[:255],
        original_file_name=name[:255],
        file_type=file_type[:100],
        # The content of an Agent File is the text extracted from the file.
        kind="text",
        file_size=size if size is not None else len(data),
        content_hash=hashlib.sha256(data).hexdigest(),
        content=data if content else None,
        # Nothing to digest: the memory learned from it came with the agents.
        total_windows=0,
    )
    if not content:
        SourceFile.objects.filter(pk=upload.pk).update(
            processing_status=FileStatus.ERROR,
            error_message="The agent file did not include the text of this file; upload it "
            "again to search it.",
        )
    else:
        tasks.enqueue_file(upload.id)
    return upload
