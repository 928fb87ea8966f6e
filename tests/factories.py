"""Small builders for tests: sensible defaults, override what the test is about."""

from __future__ import annotations

from typing import Any

from agents.models import Agent
from agents.services import AgentSpec, BlockSpec, create_agent


def make_agent(owner: Any, **overrides: Any) -> Agent:
    blocks = overrides.pop("blocks", {"persona": "I am a helpful assistant.", "human": ""})
    spec = AgentSpec(
        name=overrides.pop("name", "test-agent"),
        model=overrides.pop("model", "openai/gpt-4.1"),
        embedding=overrides.pop("embedding", "openai/text-embedding-3-small"),
        memory_blocks=[
            BlockSpec(label=label, value=value, limit=overrides.pop(f"{label}_limit", None))
            for label, value in blocks.items()
        ],
        **overrides,
    )
    return create_agent(owner, spec)
