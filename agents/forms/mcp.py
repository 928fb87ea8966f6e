"""The ADE's form for an MCP server: registering one, and changing it on its page.

It parses fields only; toolbox.mcp_servers judges names, types, addresses and
whether stdio servers are allowed.

Credentials (the auth token, custom headers, a command's environment) are written, never
read back: their fields render empty, on an edit form and on a form sent back with
errors alike, so a secret typed once is never in a page's HTML.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.conf import settings

from toolbox.mcp_servers import ServerConfig, credentials_shown
from toolbox.models import McpServer, McpServerType


class SecretTextarea(forms.Textarea):
    """A textarea that never shows its value (the textarea twin of PasswordInput)."""

    def format_value(self, value: Any) -> str | None:
        return None


class McpServerForm(forms.Form):
    server_name = forms.CharField(label="Name", max_length=200)
    server_type = forms.CharField(label="Type", widget=forms.Select)
    server_url = forms.CharField(
        label="URL",
        required=False,
        max_length=2000,
        help_text="The server's MCP endpoint, http:// or https://.",
        widget=forms.TextInput(attrs={"inputmode": "url", "spellcheck": "false"}),
    )
    auth_header = forms.CharField(
        label="Auth header",
        required=False,
        max_length=200,
        help_text="The header the token goes in. Empty: Authorization, where a bare token "
        "is sent as a bearer token.",
    )
    auth_token = forms.CharField(
        label="Auth token",
        required=False,
        strip=True,
        help_text="Stored encrypted and never shown again.",
        widget=forms.PasswordInput(attrs={"autocomplete": "off"}, render_value=False),
    )
    custom_headers = forms.CharField(
        label="Custom headers",
        required=False,
        strip=False,
        help_text="One Name: value per line; stored encrypted and never shown again.",
        widget=SecretTextarea(attrs={"rows": 3, "spellcheck": "false", "autocomplete": "off"}),
    )
    command = forms.CharField(label="Command", required=False, max_length=500)
    args = forms.CharField(
        label="Arguments",
        required=False,
        help_text="One per line.",
        widget=forms.Textarea(attrs={"rows": 3, "spellcheck": "false"}),
    )
    env = forms.CharField(
        label="Environment variables",
        required=False,
        strip=False,
        help_text="One NAME=value per line; stored encrypted and never shown again.",
        widget=SecretTextarea(attrs={"rows": 3, "spellcheck": "false", "autocomplete": "off"}),
    )
    clear_credentials = forms.BooleanField(
        label="Remove the stored token, custom headers and environment variables",
        required=False,
    )

    def __init__(self, *args: Any, server: McpServer | None = None, **kwargs: Any) -> None:
        """`server`: the server being changed, whose settings fill the form (never its
        credentials' values)."""
        if server is not None:
            kwargs.setdefault("initial", _server_initial(server))
        super().__init__(*args, **kwargs)
        self.server = server
        # Offered only where they may run; a stdio type sent anyway is refused by the
        # service, with its reason.
        types = [
            (value, label)
            for value, label in McpServerType.choices
            if value != McpServerType.STDIO or self.stdio_allowed
        ]
        self.fields["server_type"].widget.choices = types
        if server is None:
            del self.fields["clear_credentials"]
        else:
            kept = " Empty keeps the stored ones; typed values replace them all."
            for name in ("custom_headers", "env"):
                self.fields[name].help_text = self.fields[name].help_text + kept
            self.fields["auth_token"].help_text = "Empty keeps the stored token. " + (
                self.fields["auth_token"].help_text
            )

    @property
    def stdio_allowed(self) -> bool:
        return bool(settings.MCP_ALLOW_STDIO)

    def clean_args(self) -> list[str]:
        return [line.strip() for line in self.cleaned_data["args"].splitlines() if line.strip()]

    def clean_custom_headers(self) -> dict[str, str] | None:
        """The headers typed, or None when none were (which keeps a server's own)."""
        return _pairs(self.cleaned_data["custom_headers"], ":", "Name: value", strip=True)

    def clean_env(self) -> dict[str, str] | None:
        return _pairs(self.cleaned_data["env"], "=", "NAME=value", strip=False)

    def to_config(self) -> tuple[str, ServerConfig]:
        data = self.cleaned_data
        clear = bool(data.get("clear_credentials"))
        # Empty secret fields are None, which keeps the stored values; "" and {} clear them.
        token = data["auth_token"] or ("" if clear else None)
        headers, env = data["custom_headers"], data["env"]
        if clear:
            headers, env = headers or {}, env or {}
        return data["server_name"].strip(), ServerConfig(
            server_type=data["server_type"],
            server_url=data["server_url"],
            command=data["command"],
            args=data["args"],
            auth_header=data["auth_header"],
            auth_token=token,
            custom_headers=headers,
            env=env,
        )


def _pairs(text: str, separator: str, shape: str, *, strip: bool) -> dict[str, str] | None:
    values: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        name, found, value = line.partition(separator)
        if not found or not name.strip():
            # The line may be a secret: say where it is, not what it says.
            raise forms.ValidationError(f"Line {number} is not {shape}.")
        # A header's value is trimmed as HTTP does; an environment value is kept as typed.
        values[name.strip()] = value.strip() if strip else value
    return values or None


def _server_initial(server: McpServer) -> dict[str, Any]:
    return {
        "server_name": server.server_name,
        "server_type": server.server_type,
        "server_url": server.server_url,
        "auth_header": credentials_shown(server).get("auth_header", ""),
        "command": server.command,
        "args": "\n".join(server.args or []),
    }
