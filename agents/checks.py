"""Start-up checks: configuration problems reported with an id and a hint."""

from __future__ import annotations

from typing import Any

from django.core.checks import Warning, register

from config import env


@register()
def check_llm_provider(app_configs: Any, **kwargs: Any) -> list[Warning]:
    if env.configured_providers():
        return []
    return [
        Warning(
            "No LLM provider is configured, so no agent can answer yet.",
            hint="Set OPENAI_API_KEY (or <PROVIDER>_API_KEY / _BASE_URL, or LLM_BASE_URL "
            "for an OpenAI-compatible gateway). See README.md.",
            id="reverie.W001",
        )
    ]
