from __future__ import annotations

from django.contrib import admin

from agents.models import Agent, Message
from memory.models import AgentBlock


class AgentBlockInline(admin.TabularInline):
    model = AgentBlock
    extra = 0
    raw_id_fields = ["block"]


@admin.register(Agent)
class AgentAdmin(admin.ModelAdmin):
    list_display = ["name", "id", "agent_type", "llm_handle", "owner", "created_at"]
    list_filter = ["agent_type", "created_at"]
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
