"""Letta-style public ids: `<kind>-<uuid4>`."""

from __future__ import annotations

import uuid


def new_id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4()}"


def agent_id() -> str:
    return new_id("agent")


def block_id() -> str:
    return new_id("block")


def message_id() -> str:
    return new_id("message")


def passage_id() -> str:
    return new_id("passage")


def apikey_id() -> str:
    return new_id("apikey")


def group_id() -> str:
    return new_id("group")


def run_id() -> str:
    return new_id("run")


def insight_id() -> str:
    return new_id("insight")


def source_id() -> str:
    return new_id("source")


def file_id() -> str:
    return new_id("file")


def organization_id() -> str:
    return new_id("org")


def conversation_id() -> str:
    return new_id("conv")


def proposal_id() -> str:
    return new_id("proposal")


def evaluation_id() -> str:
    return new_id("evaluation")


def tool_id() -> str:
    return new_id("tool")


def mcp_server_id() -> str:
    return new_id("mcp_server")
