"""`/v1/agents/import` and `/v1/agents/{agent_id}/export`: Agent Files, as Letta's server
takes and gives them (agents.agentfile).

Mounted before the agents router (config/api.py): `/agents/{agent_id}` would otherwise
take `import` for an agent id and answer its POST with a 405.
"""

from __future__ import annotations

import json
from typing import Any

from django.http import HttpResponse
from ninja import File, Form, Header, Router, Schema, UploadedFile

from agents import agentfile
from config.errors import InvalidRequest, NotFound
from config.requests import ApiRequest

router = Router(tags=["agents"])


class ImportedAgentsOut(Schema):
    agent_ids: list[str]


def _secrets(text: str | None, field: str) -> dict[str, str] | None:
    """Environment variables for the file's custom tools: a JSON object of names and
    values (Letta's `secrets`; `env_vars_json` is its older name)."""
    if text is None:
        return None
    try:
        value = json.loads(text)
    except ValueError:
        value = None
    if not isinstance(value, dict):
        raise InvalidRequest(f"{field} must be a JSON object of names and values.")
    return {str(name): str(item) for name, item in value.items()}


@router.post("/import", response=ImportedAgentsOut)
def import_agent(
    request: ApiRequest,
    file: UploadedFile = File(...),
    strip_messages: bool = Form(False),
    append_copy_suffix: bool = Form(True),
    override_existing_tools: bool = Form(True),
    name: str | None = Form(None),
    override_name: str | None = Form(None),
    model: str | None = Form(None),
    override_model_handle: str | None = Form(None),
    embedding: str | None = Form(None),
    override_embedding_handle: str | None = Form(None),
    project_id: str | None = Form(None),
    secrets: str | None = Form(None),
    env_vars_json: str | None = Form(None),
    x_override_embedding_model: str | None = Header(None, alias="x-override-embedding-model"),
) -> dict[str, Any]:
    """Create the agents of an Agent File (their sleep-time agents and groups, blocks,
    history and sources too) and answer their ids.

    The file's custom tools become the organization's (`override_existing_tools`: a tool
    of the same name takes the file's source, else it stays as it is), with `secrets` as
    their environment variables. `project_id` is accepted for Letta's clients and changes
    nothing (Reverie has no projects).
    """
    agentfile.check_size(file.size)
    environment = _secrets(secrets, "secrets") or _secrets(env_vars_json, "env_vars_json")
    options = agentfile.ImportOptions(
        override_existing_tools=override_existing_tools,
        secrets=environment,
        strip_messages=strip_messages,
        append_copy_suffix=append_copy_suffix,
        name=name or override_name,
        model=model or override_model_handle,
        embedding=embedding or override_embedding_handle or x_override_embedding_model,
    )
    agents = agentfile.import_agent_file(request.auth, file.read(), options)
    return {"agent_ids": [agent.id for agent in agents]}


@router.get("/{agent_id}/export")
def export_agent(
    request: ApiRequest,
    agent_id: str,
    scrub_messages: bool = False,
    # Letta's legacy single-agent format is not written (Letta's server refused it too);
    # the schema says false is the only value (config/openapi.py).
    use_legacy_format: bool = False,
    max_steps: int | None = None,
    conversation_id: str | None = None,
) -> HttpResponse:
    """The agent as an Agent File: with its sleep-time agents and group, blocks, tools,
    history and sources. `scrub_messages` leaves the history out; `max_steps` (deprecated
    in Letta) changes nothing."""
    if use_legacy_format:
        raise InvalidRequest("The legacy agent file format is not supported; leave it false.")
    if conversation_id is not None:
        # The export holds the agent's own history; no conversation is found by its id.
        raise NotFound(f"Conversation '{conversation_id}' not found")
    document = agentfile.export_agent_file(request.auth, agent_id, scrub_messages=scrub_messages)
    return HttpResponse(
        json.dumps(document, indent=2, ensure_ascii=False),
        content_type="application/json",
    )
