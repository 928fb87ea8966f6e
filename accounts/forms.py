from __future__ import annotations

from django import forms

from accounts.models import Role


class ApiKeyForm(forms.Form):
    name = forms.CharField(
        max_length=100, required=False, help_text="A label to tell your keys apart."
    )


class MemberForm(forms.Form):
    username = forms.CharField(max_length=150)
    role = forms.ChoiceField(choices=Role.choices, initial=Role.EDITOR)
    password = forms.CharField(
        required=False,
        widget=forms.PasswordInput(render_value=False),
        help_text="Only to create a new user; leave empty to add an existing one.",
    )


class RoleForm(forms.Form):
    role = forms.ChoiceField(choices=Role.choices)
