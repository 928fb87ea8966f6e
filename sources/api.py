"""`/v1/sources` (Letta 0.8, the 0.1.x SDK) and `/v1/folders` (the 1.x SDK) over the same
objects, `/v1/jobs/{id}` for the 0.1.x upload-then-poll loop, and an agent's sources
(`/v1/agents/{id}/sources`, `/folders`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal, TypeVar

from ninja import File, Query, Router, UploadedFile

from agents import services as agent_services
from agents.models import Agent
from agents.schemas import AgentStateOut, fresh_state
from config.errors import PayloadTooLarge
from config.pagination import cursor_page
from config.requests import ApiRequest
from memory.models import Passage
from memory.schemas import MessageOut, PassageOut
from sources import services
from sources.models import Source, SourceFile
from sources.schemas import (
    FileOut,
    JobOut,
    SourceIn,
    SourceOut,
    SourceUpdateIn,
)

sources_router = Router(tags=["sources"])
folders_router = Router(tags=["folders"])
jobs_router = Router(tags=["jobs"])
agent_sources_router = Router(tags=["agents"])

F = TypeVar("F", bound=Callable[..., Any])


def _both(method: str, path: str, **options: Any) -> Callable[[F], F]:
    """Serve one handler under /v1/sources and /v1/folders (distinct operation ids)."""

    def register(handler: F) -> F:
        for prefix, router in (("sources", sources_router), ("folders", folders_router)):
            route = getattr(router, method)
            route(path, operation_id=f"{prefix}_{handler.__name__}", **options)(handler)
        return handler

    return register


@_both("post", "", response=SourceOut)
def create_source(request: ApiRequest, payload: SourceIn) -> Source:
    source = services.create_source(
        request.auth,
        name=payload.name,
        description=payload.description or "",
        instructions=payload.instructions or "",
        embedding=payload.embedding_handle(),
        embedding_chunk_size=payload.embedding_chunk_size
        or (payload.embedding_config.embedding_chunk_size if payload.embedding_config else None),
        metadata=payload.metadata,
        trusted=payload.trusted,
    )
    return source


@_both("get", "", response=list[SourceOut])
def list_sources(
    request: ApiRequest,
    name: str | None = None,
    after: str | None = None,
    before: str | None = None,
    limit: int = Query(50, ge=1, le=1000),
    order: Literal["asc", "desc"] = "asc",
) -> list[Source]:
    sources = services.list_sources(
        request.auth,
        name=name,
        after=after,
        before=before,
        limit=limit,
        ascending=order == "asc",
    )
    return list(sources)


@_both("get", "/count", response=int)
def count_sources(request: ApiRequest) -> int:
    return services.list_sources(request.auth, limit=0).count()


@_both("get", "/name/{source_name}", response=str)
def source_id_by_name(request: ApiRequest, source_name: str) -> str:
    return services.get_source_by_name(request.auth, source_name).id


@_both("get", "/{source_id}", response=SourceOut)
def retrieve_source(request: ApiRequest, source_id: str) -> Source:
    return services.get_source_for_user(request.auth, source_id)


@_both("patch", "/{source_id}", response=SourceOut)
def update_source(request: ApiRequest, source_id: str, payload: SourceUpdateIn) -> Source:
    source = services.get_source_for_user(request.auth, source_id)
    changes = payload.model_dump(exclude_unset=True, exclude_none=True)
    return services.update_source(source, changes)


@_both("delete", "/{source_id}", response=MessageOut)
def delete_source(request: ApiRequest, source_id: str) -> dict[str, str]:
    services.delete_source(services.get_source_for_user(request.auth, source_id))
    return {"message": f"Source id={source_id} successfully deleted"}


@_both("get", "/{source_id}/agents", response=list[str])
def source_agents(
    request: ApiRequest,
    source_id: str,
    after: str | None = None,
    before: str | None = None,
    limit: int = Query(1000, ge=1, le=1000),
    order: Literal["asc", "desc"] = "asc",
) -> list[str]:
    """The ids of the agents the source is attached to, oldest first; cursors are ids."""
    source = services.get_source_for_user(request.auth, source_id)
    page = cursor_page(
        source.agents.all(), after=after, before=before, limit=limit, ascending=order == "asc"
    )
    return list(page.values_list("id", flat=True))


@_both("get", "/{source_id}/passages", response=list[PassageOut])
def source_passages(
    request: ApiRequest,
    source_id: str,
    after: str | None = None,
    before: str | None = None,
    limit: int = Query(100, ge=1, le=10000),
    order: Literal["asc", "desc"] = "asc",
) -> list[Passage]:
    """The source's passages in document order (file by file, chunk by chunk); cursors
    are passage ids."""
    source = services.get_source_for_user(request.auth, source_id)
    return services.source_passages(
        source, after=after, before=before, limit=limit, ascending=order == "asc"
    )


@_both("post", "/{source_id}/upload", response=FileOut)
def upload_file(
    request: ApiRequest,
    source_id: str,
    file: UploadedFile = File(...),
    duplicate_handling: Literal["skip", "error", "suffix", "replace"] = "suffix",
    name: str | None = None,
) -> SourceFile:
    """Store the file and answer at once; a worker parses, embeds and digests it.

    Poll `processing_status` (pending, parsing, embedding, digesting, completed, error)
    on the file, or `status` on `/v1/jobs/{id}` with the same id.
    """
    source = services.get_source_for_user(request.auth, source_id)
    limit_mb = services.max_upload_mb()
    if file.size is not None and file.size > limit_mb * 1024 * 1024:
        raise PayloadTooLarge(
            f"'{file.name}' is {file.size / 1024 / 1024:.1f} MB; the limit is {limit_mb} MB "
            "(MAX_UPLOAD_MB)."
        )
    upload = services.upload_file(
        source,
        file_name=file.name or "upload",
        content_type=file.content_type,
        data=file.read(),
        duplicate_handling=duplicate_handling,
        name=name,
    )
    return upload


@_both("get", "/{source_id}/files", response=list[FileOut])
def list_files(
    request: ApiRequest,
    source_id: str,
    after: str | None = None,
    before: str | None = None,
    limit: int = Query(100, ge=1, le=1000),
    order: Literal["asc", "desc"] = "asc",
) -> list[SourceFile]:
    source = services.get_source_for_user(request.auth, source_id)
    files = services.list_files(
        source, after=after, before=before, limit=limit, ascending=order == "asc"
    )
    return list(files)


@_both("get", "/{source_id}/files/{file_id}", response=FileOut)
def retrieve_file(request: ApiRequest, source_id: str, file_id: str) -> SourceFile:
    source = services.get_source_for_user(request.auth, source_id)
    return services.get_file(source, file_id)


@_both("delete", "/{source_id}/{file_id}", response=MessageOut)
def delete_file(request: ApiRequest, source_id: str, file_id: str) -> dict[str, str]:
    source = services.get_source_for_user(request.auth, source_id)
    services.delete_file(services.get_file(source, file_id))
    return {"message": f"File id={file_id} successfully deleted"}


@jobs_router.get("/{job_id}", response=JobOut)
def retrieve_job(request: ApiRequest, job_id: str) -> SourceFile:
    """A file's processing as a Letta Job: the 0.1.x SDK polls it with the upload's id."""
    return services.get_file_for_user(request.auth, job_id)


# --- An agent's sources (mounted at /v1/agents) ------------------------------------------


def _agent_routes(kind: str) -> None:
    """`/agents/{id}/sources/...` for the 0.1.x SDK and `/agents/{id}/folders/...` for
    1.x, one behaviour."""

    @agent_sources_router.patch(
        f"/{{agent_id}}/{kind}/attach/{{source_id}}",
        response=AgentStateOut,
        operation_id=f"attach_{kind}",
    )
    def attach(request: ApiRequest, agent_id: str, source_id: str) -> Agent:
        agent = agent_services.get_agent_for_user(request.auth, agent_id)
        services.attach_source(agent, services.get_source_for_user(request.auth, source_id))
        return fresh_state(agent)

    @agent_sources_router.patch(
        f"/{{agent_id}}/{kind}/detach/{{source_id}}",
        response=AgentStateOut,
        operation_id=f"detach_{kind}",
    )
    def detach(request: ApiRequest, agent_id: str, source_id: str) -> Agent:
        agent = agent_services.get_agent_for_user(request.auth, agent_id)
        services.detach_source(agent, services.get_source_for_user(request.auth, source_id))
        return fresh_state(agent)

    @agent_sources_router.get(
        f"/{{agent_id}}/{kind}", response=list[SourceOut], operation_id=f"list_{kind}"
    )
    def listed(
        request: ApiRequest,
        agent_id: str,
        after: str | None = None,
        before: str | None = None,
        limit: int = Query(50, ge=1, le=1000),
        order: Literal["asc", "desc"] = "asc",
    ) -> list[Source]:
        agent = agent_services.get_agent_for_user(request.auth, agent_id)
        page = cursor_page(
            agent.sources.all(), after=after, before=before, limit=limit, ascending=order == "asc"
        )
        return list(page)


_agent_routes("sources")
_agent_routes("folders")
