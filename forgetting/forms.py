from __future__ import annotations

from django import forms

from forgetting.models import Kind
from forgetting.services import MAX_TEXT, MIN_TEXT, ForgetSpec

KIND_CHOICES = [
    (Kind.MATTER, "Everything about it (the memory agent also rewrites the blocks)"),
    (Kind.MESSAGES, "Only the messages that mention it"),
    (Kind.PASSAGES, "Only the archival passages that mention it"),
    (Kind.BLOCK_TEXT, "Only the memory blocks and their history"),
]


class ForgetForm(forms.Form):
    text = forms.CharField(
        label="Text to forget",
        min_length=MIN_TEXT,
        max_length=MAX_TEXT,
        help_text="A name, a phrase, a number. Matched in any letter case.",
    )
    kind = forms.ChoiceField(label="What to remove", choices=KIND_CHOICES, initial=Kind.MATTER)

    def to_spec(self) -> ForgetSpec:
        return ForgetSpec(kind=self.cleaned_data["kind"], text=self.cleaned_data["text"])


class ForgetToolForm(forms.Form):
    enabled = forms.BooleanField(required=False)
