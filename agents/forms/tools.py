"""The form of a custom tool on the Tools pages: its source and settings."""

from __future__ import annotations

import re
from typing import Any

from django import forms

from config.errors import InvalidRequest
from toolbox import schema
from toolbox.models import DEFAULT_RETURN_CHAR_LIMIT, Tool
from toolbox.services import ToolSpec

REQUIREMENT_LINE = re.compile(r"^([^\s=<>!~]+)\s*(.*)$")


class ToolForm(forms.Form):
    """A custom tool as a person types it. Lines and commas are parsed here; the tool
    service judges the source, the names and the limits."""

    source_code = forms.CharField(
        label="Source code",
        strip=False,
        help_text="Python. The tool is the last function defined (helpers go above it); its "
        "name, signature and docstring make the schema the model sees.",
        widget=forms.Textarea(attrs={"rows": 16, "spellcheck": "false"}),
    )
    description = forms.CharField(
        required=False,
        help_text="What the model reads about the tool. Empty: the docstring's summary.",
        widget=forms.Textarea(attrs={"rows": 2}),
    )
    tags = forms.CharField(required=False, max_length=1000, help_text="Comma separated.")
    return_char_limit = forms.IntegerField(
        label="Return character limit",
        required=False,
        help_text="What the tool returns is cut off after this many characters.",
    )
    pip_requirements = forms.CharField(
        label="pip requirements",
        required=False,
        help_text="One per line: name or name==version.",
        widget=forms.Textarea(attrs={"rows": 3, "spellcheck": "false"}),
    )
    environment = forms.CharField(
        label="Environment variables",
        required=False,
        strip=False,
        help_text="One NAME=value per line; stored encrypted and never shown again.",
        widget=forms.Textarea(attrs={"rows": 3, "spellcheck": "false", "autocomplete": "off"}),
    )
    clear_environment = forms.BooleanField(label="Remove the environment variables", required=False)
    requires_approval = forms.BooleanField(
        label="Requires approval",
        required=False,
        help_text="A person approves each call before it runs.",
    )

    def __init__(self, *args: Any, tool: Tool | None = None, **kwargs: Any) -> None:
        """`tool`: the tool being edited, whose settings fill the form (its environment's
        values never do)."""
        if tool is not None:
            kwargs.setdefault("initial", _tool_initial(tool))
        super().__init__(*args, **kwargs)
        self.tool = tool
        if tool is None:
            self.fields["return_char_limit"].initial = DEFAULT_RETURN_CHAR_LIMIT
            del self.fields["clear_environment"]
        else:
            self.fields["environment"].help_text = (
                "One NAME=value per line; typed values replace all the current ones, "
                "empty keeps them. Values are stored encrypted and never shown again."
            )

    def clean_tags(self) -> list[str]:
        return [tag.strip() for tag in self.cleaned_data["tags"].split(",") if tag.strip()]

    def clean_pip_requirements(self) -> list[dict[str, str]]:
        requirements = []
        for line in self.cleaned_data["pip_requirements"].splitlines():
            line = line.strip()
            if not line:
                continue
            match = REQUIREMENT_LINE.match(line)
            if match is None:
                raise forms.ValidationError(f"{line!r} is not name or name==version.")
            name, version = match.group(1), match.group(2).strip()
            version = version.removeprefix("==").strip()
            requirements.append({"name": name, "version": version} if version else {"name": name})
        return requirements

    def clean_environment(self) -> dict[str, str] | None:
        """The variables typed, or None when none were (which keeps a tool's own)."""
        values: dict[str, str] = {}
        for number, line in enumerate(self.cleaned_data["environment"].splitlines(), 1):
            if not line.strip():
                continue
            name, equals, value = line.partition("=")
            if not equals:
                # The line may be a secret: say where it is, not what it says.
                raise forms.ValidationError(f"Line {number} is not NAME=value.")
            values[name.strip()] = value
        return values or None

    def to_spec(self) -> ToolSpec:
        data = self.cleaned_data
        environment = data["environment"]
        if environment is None and data.get("clear_environment"):
            environment = {}
        return ToolSpec(
            source_code=data["source_code"],
            # Empty: the docstring's, which follows the source as it changes.
            description=data["description"].strip() or None,
            tags=data["tags"],
            return_char_limit=data["return_char_limit"],
            pip_requirements=data["pip_requirements"],
            environment=environment,
            default_requires_approval=data["requires_approval"],
        )


def _tool_initial(tool: Tool) -> dict[str, Any]:
    return {
        "source_code": tool.source_code,
        "description": "" if _described_by_docstring(tool) else tool.description,
        "tags": ", ".join(tool.tags),
        "return_char_limit": tool.return_char_limit,
        "pip_requirements": "\n".join(
            f"{item['name']}=={item['version']}"
            if item.get("version") and item["version"][0].isalnum()
            else item["name"] + item.get("version", "")
            for item in tool.pip_requirements
        ),
        "requires_approval": tool.default_requires_approval,
    }


def _described_by_docstring(tool: Tool) -> bool:
    """Whether the tool's description is its docstring's, so the form leaves the field
    empty: a description typed back unchanged would stay when the docstring changes."""
    try:
        derived = schema.derive(tool.source_code, tool.name)
    except InvalidRequest:
        return False
    return bool(derived.get("description") == tool.description)
