from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest

from agents.models import Agent, Group, Insight, Message, Run
from memory.models import AgentBlock


class AgentBlockInline(admin.TabularInline):
    model = AgentBlock
    extra = 0
    raw_id_fields = ["block"]


@admin.register(Agent)
class AgentAdmin(admin.ModelAdmin):
    list_display = ["name", "id", "agent_type", "llm_handle", "owner", "created_at"]
    list_filter = ["agent_type", "organization", "created_at"]
    search_fields = ["name", "id", "description"]
    readonly_fields = ["id", "created_at", "updated_at", "summary"]
    inlines = [AgentBlockInline]


@admin.register(Message)
class MessageAdmin(admin.ModelAdmin):
    list_display = ["uid", "agent", "role", "short_content", "in_context", "created_at"]
    list_filter = ["role", "in_context"]
    search_fields = ["uid", "content", "agent__name"]
    raw_id_fields = ["agent"]
    readonly_fields = ["uid", "created_at"]

    @admin.display(description="content")
    def short_content(self, obj: Message) -> str:
        return (obj.content or obj.reasoning)[:80]


@admin.register(Group)
class GroupAdmin(admin.ModelAdmin):
    list_display = [
        "id",
        "manager_agent",
        "manager_type",
        "sleeptime_agent_frequency",
        "turns_counter",
        "sleeptime_idle_seconds",
        "owner",
    ]
    list_filter = ["manager_type"]
    search_fields = ["id", "manager_agent__name", "manager_agent__id"]
    raw_id_fields = ["manager_agent", "owner"]
    filter_horizontal = ["participants"]
    readonly_fields = ["id", "last_processed_seq", "last_processed_message_id", "idle_fired_seq"]


@admin.register(Run)
class RunAdmin(admin.ModelAdmin):
    """Runs are a record of what happened: shown, never edited here."""

    list_display = [
        "id",
        "primary_agent",
        "trigger",
        "status",
        "stop_reason",
        "prompt_tokens",
        "completion_tokens",
        "duration_ms",
        "short_error",
        "created_at",
    ]
    list_filter = ["status", "trigger", "organization", "created_at"]
    search_fields = ["id", "run_agent_id", "primary_agent__name", "error"]
    list_select_related = ["primary_agent"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    @admin.display(description="error")
    def short_error(self, obj: Run) -> str:
        return obj.error[:80]


@admin.register(Insight)
class InsightAdmin(admin.ModelAdmin):
    list_display = ["title", "agent", "severity", "run_id", "created_at", "dismissed_at"]
    list_filter = ["severity", "created_at"]
    search_fields = ["title", "body", "agent__name"]
    raw_id_fields = ["agent"]
