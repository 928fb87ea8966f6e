"""Use cases for data sources and their files. Web requests only store and enqueue:
parsing, embedding and digesting happen in `sources.ingest`, on a worker."""

from __future__ import annotations

import hashlib
import re
from pathlib import PurePath
from typing import Any, Literal

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import QuerySet

from accounts.access import organization_of
from agents import sleeptime
from agents.models import Agent
from config.errors import Conflict, InvalidRequest, NotFound, PayloadTooLarge, UnsupportedMediaType
from config.pagination import cursor_page, list_page
from memory import services as memory_services
from memory.models import Block, Passage
from sources import parsing, tasks
from sources.models import FileStatus, Source, SourceFile

DuplicateHandling = Literal["skip", "error", "suffix", "replace"]
NAME_PATTERN = re.compile(r"^[A-Za-z0-9_\-. ]+$")


# --- Sources -------------------------------------------------------------------------------


def get_source_for_user(user: Any, source_id: str) -> Source:
    source = Source.objects.for_user(user).filter(pk=source_id).first()
    if source is None:
        raise NotFound(f"Source '{source_id}' not found")
    return source


def get_source_by_name(user: Any, name: str) -> Source:
    source = Source.objects.for_user(user).filter(name=name).first()
    if source is None:
        raise NotFound(f"No source named '{name}'")
    return source


def list_sources(
    user: Any,
    *,
    name: str | None = None,
    after: str | None = None,
    before: str | None = None,
    limit: int = 50,
    ascending: bool = True,
) -> QuerySet[Source]:
    sources = Source.objects.for_user(user)
    if name:
        sources = sources.filter(name=name)
    return cursor_page(sources, after=after, before=before, limit=limit, ascending=ascending)


def _check_name(name: str) -> None:
    if not name or not NAME_PATTERN.match(name):
        raise InvalidRequest(
            "A source name may contain letters, digits, spaces, '_', '-' and '.'; it also "
            "labels the memory block its digest writes."
        )


def create_source(
    owner: Any,
    *,
    name: str,
    description: str = "",
    instructions: str = "",
    embedding: str | None = None,
    embedding_chunk_size: int | None = None,
    metadata: dict[str, Any] | None = None,
    trusted: bool = False,
) -> Source:
    _check_name(name)
    embedding = embedding or settings.DEFAULT_EMBEDDING
    provider, _, model = embedding.partition("/")
    if not provider or not model:
        raise InvalidRequest(f"Embedding handle {embedding!r} must look like 'provider/model'.")
    if embedding_chunk_size is not None and not 50 <= embedding_chunk_size <= 2000:
        raise InvalidRequest("embedding_chunk_size must be between 50 and 2000 tokens.")
    try:
        with transaction.atomic():
            return Source.objects.create(
                owner=owner,
                organization=organization_of(owner),
                name=name,
                description=description or "",
                instructions=instructions or "",
                embedding_handle=embedding,
                embedding_chunk_size=embedding_chunk_size or 300,
                metadata=metadata or {},
                trusted=trusted,
            )
    except IntegrityError:
        raise Conflict(f"A source named '{name}' already exists.") from None


def update_source(source: Source, changes: dict[str, Any]) -> Source:
    """Rename, describe, instruct, trust. A rename relabels the digest blocks that carry
    the name."""
    changes = {key: value for key, value in changes.items() if value is not None}
    with transaction.atomic():
        if "name" in changes and changes["name"] != source.name:
            _check_name(changes["name"])
            if Source.objects.filter(
                organization=source.organization_id, name=changes["name"]
            ).exists():
                raise Conflict(f"A source named '{changes['name']}' already exists.")
            for block in _digest_blocks(source):
                memory_services.update_block(
                    block.id, actor=memory_services.Actor.system(), label=changes["name"]
                )
            source.name = changes["name"]
        for key in ("description", "instructions", "metadata", "trusted"):
            if key in changes:
                setattr(source, key, changes[key])
        source.save()
    return source


def delete_source(source: Source) -> None:
    """Delete the source, its files and passages; its digest blocks leave the agents
    (the block rows and their history stay)."""
    with transaction.atomic():
        for agent in source.agents.all():
            _remove_digest_block(agent, source)
        source.delete()


# --- Attaching to agents -------------------------------------------------------------------


def attach_source(agent: Agent, source: Source) -> None:
    """Attach; a sleep-time agent then digests the source's files into its block."""
    with transaction.atomic():
        if source.agents.filter(pk=agent.pk).exists():
            return
        source.agents.add(agent)
        if (
            _digests_for(agent)
            and source.files.filter(processing_status=FileStatus.COMPLETED).exists()
        ):
            tasks.enqueue_source_digest(source.id, agent.id, reset=False)


def detach_source(agent: Agent, source: Source) -> None:
    with transaction.atomic():
        if not source.agents.filter(pk=agent.pk).exists():
            raise NotFound(f"Source '{source.id}' is not attached to agent '{agent.id}'")
        source.agents.remove(agent)
        _remove_digest_block(agent, source)


def _digests_for(agent: Agent) -> bool:
    return bool(agent.enable_sleeptime) and sleeptime.group_of(agent) is not None


def _digest_blocks(source: Source) -> list[Block]:
    return list(
        Block.objects.filter(
            agent_links__agent__in=source.agents.all(), agent_links__label=source.name
        ).distinct()
    )


def _remove_digest_block(agent: Agent, source: Source) -> None:
    block = (
        Block.objects.filter(agent_links__agent=agent, agent_links__label=source.name)
        .values_list("pk", flat=True)
        .first()
    )
    if block is not None:
        sleeptime.detach_block(agent, block)


# --- Files ---------------------------------------------------------------------------------


def list_files(
    source: Source,
    *,
    after: str | None = None,
    before: str | None = None,
    limit: int = 100,
    ascending: bool = True,
) -> QuerySet[SourceFile]:
    return cursor_page(
        SourceFile.objects.filter(source=source).defer("content"),
        after=after,
        before=before,
        limit=limit,
        ascending=ascending,
    )


def source_passages(
    source: Source,
    *,
    after: str | None = None,
    before: str | None = None,
    limit: int | None = 100,
    ascending: bool = True,
) -> list[Passage]:
    """A page of the source's passages in document order: file by file as uploaded, chunk
    by chunk. That order is not the passages' own (created_at, id), so the page is cut
    from the list of their ids, then read."""
    ordered = source.passages.order_by("file__created_at", "file_id", "chunk_index", "id")
    ids = list(ordered.values_list("id", flat=True))
    page = list_page(ids, str, after=after, before=before, limit=limit, ascending=ascending)
    found = Passage.objects.defer("embedding").in_bulk(page)
    return [found[passage_id] for passage_id in page]


def get_file(source: Source, file_id: str) -> SourceFile:
    found = SourceFile.objects.filter(source=source, pk=file_id).defer("content").first()
    if found is None:
        raise NotFound(f"File '{file_id}' not found in source '{source.id}'")
    return found


def get_file_for_user(user: Any, file_id: str) -> SourceFile:
    found = SourceFile.objects.for_user(user).filter(pk=file_id).defer("content").first()
    if found is None:
        raise NotFound(f"Job '{file_id}' not found")
    return found


def max_upload_mb() -> int:
    return int(settings.MAX_UPLOAD_MB)


def _suffixed(source: Source, name: str) -> str:
    path = PurePath(name)
    taken = set(SourceFile.objects.filter(source=source).values_list("file_name", flat=True))
    number = 1
    while True:
        candidate = f"{path.stem}_({number}){path.suffix}"
        if candidate not in taken:
            return candidate
        number += 1


def upload_file(
    source: Source,
    *,
    file_name: str,
    content_type: str | None,
    data: bytes,
    duplicate_handling: DuplicateHandling = "suffix",
    name: str | None = None,
) -> SourceFile:
    """Store an upload and queue its processing; answer at once.

    A file whose name has no extension and whose media type is missing or generic is
    typed by its content (sources/parsing.py, `sniff_kind`) and stored under its name
    with the extension of what it holds.

    Duplicates, by content or by name: `skip` returns the existing file, `error` refuses,
    `replace` deletes the old file first, `suffix` (the default) stores a file of the same
    name as `name_(1).ext`. Identical content is never processed twice: with `suffix` it
    returns the existing file too.
    """
    display_name = PurePath(name or file_name or "upload").name
    limit_mb = max_upload_mb()
    if len(data) > limit_mb * 1024 * 1024:
        raise PayloadTooLarge(
            f"'{display_name}' is {len(data) / 1024 / 1024:.1f} MB; the limit is {limit_mb} MB "
            "(MAX_UPLOAD_MB)."
        )
    if not data:
        raise InvalidRequest(f"'{display_name}' is empty.")
    try:
        kind = parsing.detect_kind(display_name, content_type, data)
    except parsing.UnsupportedType as error:
        raise UnsupportedMediaType(str(error)) from None
    if parsing.says_nothing(display_name, content_type):
        # Typed by its content (the node.js SDK's Blob arrives as `blob`, octet-stream):
        # stored as `blob.pdf` with the kind's media type, so that lists and a download
        # say what it is; `original_file_name` keeps the name it came with.
        display_name += parsing.EXTENSION_OF[kind]
        content_type = parsing.MEDIA_TYPE_OF[kind]
    digest = hashlib.sha256(data).hexdigest()
    with transaction.atomic():
        # Serialise uploads into one source, so two identical uploads at once meet here.
        Source.objects.select_for_update().filter(pk=source.pk).first()
        same_content = source.files.filter(content_hash=digest).defer("content").first()
        same_name = source.files.filter(file_name=display_name).defer("content").first()
        duplicate = same_content or same_name
        if duplicate is not None:
            what = "the same content" if same_content else "the same name"
            if duplicate_handling == "error":
                raise Conflict(
                    f"Source '{source.name}' already has a file with {what} "
                    f"('{duplicate.file_name}', {duplicate.id})."
                )
            if duplicate_handling == "skip" or (
                duplicate_handling == "suffix" and same_content is not None
            ):
                return duplicate
            if duplicate_handling == "replace":
                # The block forgets the old version: rebuilt from the other files, then
                # the new one is digested on top.
                delete_file(duplicate)
            elif duplicate_handling == "suffix":
                display_name = _suffixed(source, display_name)
            else:
                raise InvalidRequest(
                    "duplicate_handling must be one of skip, error, suffix, replace."
                )
        upload = SourceFile.objects.create(
            source=source,
            owner=source.owner,
            organization_id=source.organization_id,
            file_name=display_name,
            original_file_name=PurePath(file_name or display_name).name,
            file_type=content_type or "application/octet-stream",
            kind=kind,
            file_size=len(data),
            content_hash=digest,
            content=data,
        )
        tasks.enqueue_file(upload.id)
    return upload


def delete_file(upload: SourceFile, *, redigest: bool = True) -> None:
    """Delete the file and its passages; attached agents' digest blocks are rebuilt from
    the files that remain."""
    source = upload.source
    with transaction.atomic():
        upload.delete()
        if not redigest:
            return
        for agent in source.agents.all():
            if _digests_for(agent):
                tasks.enqueue_source_digest(source.id, agent.id, reset=True)
