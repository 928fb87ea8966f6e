from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.core.exceptions import ValidationError
from django.forms import ModelForm
from django.http import HttpRequest
from django.utils.html import format_html

from memory.models import Block, BlockVersion, Passage, Proposal
from memory.services import Actor, create_block, update_block, version_diff


class BlockVersionInline(admin.TabularInline):
    model = BlockVersion
    extra = 0
    can_delete = False
    fields = [
        "number",
        "actor_type",
        "actor_user",
        "actor_agent_id",
        "run_id",
        "tool_call_id",
        "reverts",
        "diff",
        "created_at",
    ]
    readonly_fields = list(fields)  # type: ignore[arg-type]
    ordering = ["-number"]

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.display(description="diff against the version before")
    def diff(self, obj: BlockVersion) -> str:
        # format_html escapes the block text; nothing a block holds can run here.
        return format_html('<pre style="white-space: pre-wrap">{}</pre>', version_diff(obj))


class BlockForm(ModelForm):
    class Meta:
        model = Block
        fields = [
            "label",
            "value",
            "limit",
            "description",
            "read_only",
            "requires_review",
            "deletion_budget",
            "metadata",
            "owner",
            "organization",
        ]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        organization = self.fields["organization"]
        organization.required = False
        organization.help_text = "Empty: the owner's first organization."

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        value, limit = cleaned.get("value") or "", cleaned.get("limit")
        if limit is not None and len(value) > limit:
            raise ValidationError(
                f"Edit failed: Exceeds {limit} character limit (requested {len(value)})."
            )
        budget = cleaned.get("deletion_budget")
        if budget is not None and not 0 <= budget <= 1:
            raise ValidationError("The deletion budget is a share of the block: from 0 to 1.")
        return cleaned


@admin.register(Block)
class BlockAdmin(admin.ModelAdmin):
    form = BlockForm
    list_display = ["label", "id", "owner", "chars", "limit", "policy", "version", "updated_at"]
    list_filter = ["read_only", "requires_review", "is_template", "organization"]
    search_fields = ["label", "id", "value"]
    inlines = [BlockVersionInline]

    @admin.display(description="chars")
    def chars(self, obj: Block) -> int:
        return len(obj.value)

    def save_model(self, request: HttpRequest, obj: Block, form: Any, change: bool) -> None:
        # Blocks made or changed in the admin go through the same services as the API,
        # so they are versioned and attributed too.
        actor = Actor.for_user(request.user)
        if change:
            fields = {name: form.cleaned_data[name] for name in form.changed_data}
            fields.pop("owner", None)
            fields.pop("organization", None)  # a block does not move between organizations
            if fields:
                update_block(obj.pk, actor=actor, **fields)
            return
        data = form.cleaned_data
        created = create_block(
            data["owner"],
            label=data["label"],
            value=data["value"],
            limit=data["limit"],
            description=data["description"],
            read_only=data["read_only"],
            requires_review=data["requires_review"],
            deletion_budget=data["deletion_budget"],
            metadata=data["metadata"],
            actor=actor,
            organization=data.get("organization"),
        )
        obj.pk = created.pk
        obj.refresh_from_db()


@admin.register(Passage)
class PassageAdmin(admin.ModelAdmin):
    list_display = ["id", "agent", "short_text", "embedding_handle", "created_at"]
    search_fields = ["id", "text"]
    raw_id_fields = ["agent", "owner"]
    exclude = ["embedding"]

    @admin.display(description="text")
    def short_text(self, obj: Passage) -> str:
        return obj.text[:80]


@admin.register(Proposal)
class ProposalAdmin(admin.ModelAdmin):
    """Agents' edits held for review. Decided in the ADE or the API (which attribute the
    reviewer and merge with the block); here they are read."""

    list_display = ["id", "label", "agent_id", "run_id", "status", "created_at"]
    list_filter = ["status", "organization"]
    search_fields = ["id", "agent_id", "run_id", "label"]
    readonly_fields = [field.name for field in Proposal._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
