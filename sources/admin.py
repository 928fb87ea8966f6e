from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest

from sources.models import Source, SourceFile


class SourceFileInline(admin.TabularInline):
    model = SourceFile
    extra = 0
    can_delete = False
    fields = ["file_name", "processing_status", "total_chunks", "windows_digested", "created_at"]
    readonly_fields = list(fields)  # type: ignore[arg-type]
    show_change_link = True

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(Source)
class SourceAdmin(admin.ModelAdmin):
    list_display = ["name", "id", "owner", "embedding_handle", "created_at"]
    search_fields = ["name", "id", "description"]
    filter_horizontal = ["agents"]
    inlines = [SourceFileInline]


@admin.register(SourceFile)
class SourceFileAdmin(admin.ModelAdmin):
    """Processing state is the worker's to change; shown here, not edited."""

    list_display = [
        "file_name",
        "source",
        "processing_status",
        "total_pages",
        "total_chunks",
        "chunks_embedded",
        "windows_digested",
        "created_at",
    ]
    list_filter = ["processing_status", "kind", "organization"]
    search_fields = ["file_name", "id", "error_message"]
    exclude = ["content"]
    list_select_related = ["source"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False
