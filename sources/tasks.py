"""django-q2 entry points. Ids in; the ingest module re-reads everything."""

from __future__ import annotations

from sources import ingest


def process_file(file_id: str) -> str:
    return ingest.process_file(file_id)


def digest_source(source_id: str, agent_id: str, reset: bool) -> str:
    return ingest.digest_source(source_id, agent_id, reset)
