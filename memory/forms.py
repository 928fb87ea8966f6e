"""Forms of the ADE's memory pages. They parse fields only; the services decide what is valid
(a value over the limit, a limit below 1, an unknown base version)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django import forms

from memory.models import Policy

POLICY_CHOICES = [
    (Policy.AUTO.value, "auto: edits land"),
    (Policy.REVIEW.value, "review: edits wait for a person"),
    (Policy.READ_ONLY.value, "read-only: no agent edits"),
]


def _unix_newlines(text: str) -> str:
    # Browsers submit a textarea's line breaks as CRLF. Stored values use "\n" only: kept as
    # sent, every line would read as changed (breaking the line merge) and each line break
    # would count twice against the limit.
    return text.replace("\r\n", "\n").replace("\r", "\n")


class BlockEditForm(forms.Form):
    value = forms.CharField(
        required=False,
        strip=False,
        # htmx focuses an autofocus field it swaps in, so the editor opens ready to type.
        widget=forms.Textarea(attrs={"rows": 10, "spellcheck": "false", "autofocus": True}),
    )
    description = forms.CharField(
        required=False,
        strip=False,
        help_text="Tells the agent what this block is for.",
        widget=forms.Textarea(attrs={"rows": 2}),
    )
    limit = forms.IntegerField(
        label="Limit (characters)",
        widget=forms.NumberInput(attrs={"min": 1, "step": 1, "inputmode": "numeric"}),
    )
    # Left out (a form from before these fields), either one keeps what the block has.
    policy = forms.ChoiceField(
        label="Policy",
        choices=POLICY_CHOICES,
        required=False,
        help_text="What an agent's edit does: lands at once, waits for your review, or is refused.",
    )
    # A percentage here, a share (0..1) in the model. No min/max on the input: a browser
    # would refuse the form silently in a bubble; the error belongs beside the field.
    deletion_budget = forms.DecimalField(
        label="Deletion budget (%)",
        required=False,
        decimal_places=1,
        help_text="How much of its text one agent run may remove: 0 to 100 percent.",
        widget=forms.NumberInput(attrs={"step": "any", "inputmode": "decimal"}),
    )
    # The version the editor started from: changes made meanwhile on other lines are merged.
    base_version = forms.IntegerField(widget=forms.HiddenInput)
    # Where a plain (non-htmx) form post returns to; checked by the view before use.
    next = forms.CharField(required=False, widget=forms.HiddenInput)

    def __init__(self, *args: Any, block_id: str, **kwargs: Any) -> None:
        # Several blocks can be open for editing on one agent page: their ids must differ.
        kwargs.setdefault("auto_id", f"{block_id}-%s")
        super().__init__(*args, **kwargs)

    def clean_value(self) -> str:
        return _unix_newlines(self.cleaned_data["value"])

    def clean_description(self) -> str:
        return _unix_newlines(self.cleaned_data["description"])

    def clean_deletion_budget(self) -> float | None:
        percent: Decimal | None = self.cleaned_data["deletion_budget"]
        if percent is None:
            return None
        if not 0 <= percent <= 100:
            raise forms.ValidationError("The deletion budget is a percentage from 0 to 100.")
        return float(percent) / 100


class BlockRevertForm(forms.Form):
    version = forms.IntegerField(min_value=1)
