"""What apps above this one put into an Agent File and take out of it.

Sources and their files belong to the sources app, which sits above agents: it registers
how it exports and imports them when it starts (sources/apps.py), as it adds its panel to
the agent page, so this package never imports it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from agents.agentfile.entries import FileEntry, SourceEntry

if TYPE_CHECKING:
    from accounts.models import Organization
    from agents.models import Agent


class FileIds:
    """File-local ids as Letta's server writes them (`agent-0`, `block-3`), one counter per
    kind, the same id each time an object is asked for again."""

    def __init__(self) -> None:
        self._ids: dict[tuple[str, str], str] = {}
        self._counts: dict[str, int] = {}

    def get(self, kind: str, key: str) -> str:
        found = self._ids.get((kind, key))
        if found is None:
            number = self._counts.get(kind, 0)
            self._counts[kind] = number + 1
            found = self._ids[(kind, key)] = f"{kind}-{number}"
        return found

    def known(self, kind: str, key: str) -> str | None:
        return self._ids.get((kind, key))


@dataclass
class SourcesExport:
    sources: list[dict[str, Any]] = field(default_factory=list)
    files: list[dict[str, Any]] = field(default_factory=list)
    # Agent id -> the file-local ids of the sources attached to it.
    source_ids: dict[str, list[str]] = field(default_factory=dict)


@dataclass
class SourcesImport:
    """What the sources app is asked to create, inside the import's transaction."""

    owner: Any
    organization: Organization
    sources: dict[str, SourceEntry]
    files: list[FileEntry]
    # Source file id -> the imported agents it is attached to.
    attached: dict[str, list[Agent]]
    embedding: str | None  # the importer's override of every embedding handle


ExportSources = Callable[["list[Agent]", FileIds], SourcesExport]
ImportSources = Callable[[SourcesImport], None]


@dataclass
class _Registry:
    export_sources: ExportSources | None = None
    import_sources: ImportSources | None = None


REGISTRY = _Registry()


def register_sources(export: ExportSources, import_: ImportSources) -> None:
    REGISTRY.export_sources = export
    REGISTRY.import_sources = import_
