"""What /v1/openapi.json says besides the happy path: the errors every operation may
answer, each with the body they all share (`{"detail": ...}`, config/api.py).

django-ninja documents the 200 of each operation from its response schema. The errors
come from one place (the exception handlers of config/api.py), so they are documented in
one place too, by what an operation takes: a key (401, 429), a write (403), parameters or
a body (400, 422), an id (404), the database (503). The few answers only some operations
give (a conflict, a size limit, an upload's media type, the model provider failing) are
listed by operation below.
"""

from __future__ import annotations

from typing import Any

from config.schemas import STORABLE_CHAR

ERROR_SCHEMA = "Error"

_REASONS = {
    "400": "The request cannot be carried out as asked; `detail` says why.",
    "401": "Missing or invalid API key.",
    "403": "The key's role does not allow the change: a viewer reads only, and only an "
    "organization's admins set its token budgets.",
    "404": "Not found, or not visible to this key's organization.",
    "409": "In conflict with the current state: a block changed meanwhile on the same lines "
    "(`current_value` and `current_version` say what it is now), a proposal to accept "
    "whose block changed since on the same lines (the proposal is then marked `conflict`, "
    "and `current_value`/`current_version` say what the block holds) or one already "
    "decided, a run still in progress, "
    "a name or block label already taken, a file already uploaded or still being processed, "
    "a turn waiting for the approval of tool calls (or approvals with none waiting), a turn "
    "running in a conversation to delete, an evaluation that has ended (to cancel), one not "
    "paused or failed (to resume), one still queued or running (to delete).",
    "413": "Over a size limit: the body over 2.5 MB (files apart), a message over "
    "MAX_MESSAGE_CHARS, an upload over MAX_UPLOAD_MB.",
    "415": "A file of a kind that cannot be read.",
    "422": "The parameters or the body do not match this schema; `detail` lists where.",
    "429": "Too many wrong keys from this address; `Retry-After` says when to try again.",
    "502": "The model or embedding provider failed; the request itself was fine.",
    "503": "The database is unavailable; try again shortly.",
}

# Answers only some operations give, by (method, path).
_SPECIFIC: dict[tuple[str, str], tuple[str, ...]] = {
    ("patch", "/v1/blocks/{block_id}"): ("409",),
    ("post", "/v1/runs/{run_id}/revert"): ("409",),
    # A proposal already decided; to accept, one whose block changed on the same lines.
    ("post", "/v1/proposals/{proposal_id}/accept"): ("409",),
    ("post", "/v1/proposals/{proposal_id}/reject"): ("409",),
    ("post", "/v1/sources"): ("409",),
    ("post", "/v1/folders"): ("409",),
    ("patch", "/v1/sources/{source_id}"): ("409",),
    ("patch", "/v1/folders/{source_id}"): ("409",),
    ("patch", "/v1/agents/{agent_id}/core-memory/blocks/{block_label}"): ("409",),
    # A turn waiting for approvals (or approvals with none waiting).
    ("post", "/v1/agents/{agent_id}/messages"): ("409", "413", "502"),
    ("post", "/v1/agents/{agent_id}/messages/stream"): ("409", "413", "502"),
    ("post", "/v1/conversations/{conversation_id}/messages"): ("409", "413", "502"),
    ("delete", "/v1/conversations/{conversation_id}"): ("409",),
    ("post", "/v1/agents/{agent_id}/archival-memory"): ("502",),
    ("get", "/v1/agents/{agent_id}/archival-memory/search"): ("502",),
    ("post", "/v1/agents/{agent_id}/forget"): ("409",),
    # A block whose label the agent already has.
    ("post", "/v1/agents"): ("409",),
    ("patch", "/v1/agents/{agent_id}"): ("409",),
    ("patch", "/v1/agents/{agent_id}/core-memory/blocks/attach/{block_id}"): ("409",),
    ("patch", "/v1/agents/{agent_id}/sources/attach/{source_id}"): ("409",),
    ("patch", "/v1/agents/{agent_id}/folders/attach/{source_id}"): ("409",),
    # An agent file over MAX_UPLOAD_MB.
    ("post", "/v1/agents/import"): ("413",),
    # A file already there (duplicate_handling=error).
    ("post", "/v1/sources/{source_id}/upload"): ("409", "413", "415"),
    ("post", "/v1/folders/{source_id}/upload"): ("409", "413", "415"),
    # An evaluation in a state that does not allow it (evaluation/services.py).
    ("post", "/v1/evaluations/{evaluation_id}/cancel"): ("409",),
    ("post", "/v1/evaluations/{evaluation_id}/resume"): ("409",),
    ("delete", "/v1/evaluations/{evaluation_id}"): ("409",),
}

_WRITES = {"post", "put", "patch", "delete"}


def document_errors(schema: dict[str, Any]) -> dict[str, Any]:
    """Add the error answers and the constraints the server enforces to every operation of
    `schema` (in place) and return it."""
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    components[ERROR_SCHEMA] = {
        "title": ERROR_SCHEMA,
        "type": "object",
        "properties": {"detail": {"title": "Detail"}},
        "required": ["detail"],
    }
    for component in components.values():
        _storable(component)
    components[JSON_VALUE] = _json_value()
    info = schema.setdefault("info", {})
    info["description"] = info.get("description", "") + _TEXT_RULE
    for path, operations in schema.get("paths", {}).items():
        for method, operation in operations.items():
            _document_responses(method, path, operation)
            _document_parameters(operation)
            body = operation.get("requestBody", {}).get("content", {})
            if "application/json" in body:
                _storable(body["application/json"].get("schema"))
            if "multipart/form-data" in body:
                _document_upload(body["multipart/form-data"], components, path)
    return schema


def _document_responses(method: str, path: str, operation: dict[str, Any]) -> None:
    responses = operation.setdefault("responses", {})
    for status in sorted(_statuses(method, path, operation)):
        if status in responses or int(status) in responses:
            continue  # the operation documents it itself
        responses[status] = {
            "description": _REASONS[status],
            "content": {
                "application/json": {"schema": {"$ref": f"#/components/schemas/{ERROR_SCHEMA}"}}
            },
        }


def _document_parameters(operation: dict[str, Any]) -> None:
    for parameter in operation.get("parameters") or []:
        parameter_schema = parameter.get("schema") or {}
        if parameter["name"] in _ONLY:
            parameter_schema["enum"] = list(_ONLY[parameter["name"]])
        if parameter["name"] in _FORMATS:
            for branch in [parameter_schema, *parameter_schema.get("anyOf", [])]:
                if branch.get("type") == "string":
                    branch["format"] = _FORMATS[parameter["name"]]
        _storable(parameter_schema)


def _document_upload(form: dict[str, Any], components: dict[str, Any], path: str) -> None:
    types = AGENT_FILE_TYPES if path == "/v1/agents/import" else UPLOAD_TYPES
    form["encoding"] = {"file": {"contentType": ", ".join(types)}}
    fields = form["schema"]
    if "$ref" in fields:
        fields = components[fields["$ref"].rsplit("/", 1)[-1]]
    # An empty file is refused (sources/services.py, upload_file; an empty agent file is
    # not JSON).
    fields["properties"]["file"]["minLength"] = 1


# The media types an upload may have (sources/parsing.py reads these kinds; a file named
# with a known extension, or one with no extension whose content says what it is, may
# also come as application/octet-stream).
UPLOAD_TYPES = (
    "application/pdf",
    "text/plain",
    "text/markdown",
    "text/html",
    "application/json",
    "text/csv",
)

# An Agent File is JSON (agents/agentfile).
AGENT_FILE_TYPES = ("application/json",)

# Query parameters of which the server accepts only some values (agents/api/agentfiles.py:
# Letta's legacy export format is not written).
_ONLY: dict[str, tuple[Any, ...]] = {"use_legacy_format": (False,)}

# Query parameters parsed as more than strings (agents/api/agents.py, `_parse_when`).
_FORMATS = {"start_datetime": "date-time", "end_datetime": "date-time"}


# PostgreSQL stores no NUL character (config/text.py): requests holding one are refused, so
# the schema says so of every string, property name and free-form JSON value. Lone
# surrogates are refused too; the API's description says so, as no pattern can: in
# JavaScript's dialect `[^\ud800-\udfff]` refuses every emoji (two UTF-16 code units).
STORABLE = f"^{STORABLE_CHAR}*$"
JSON_VALUE = "StorableJson"
_JSON_REF = {"$ref": f"#/components/schemas/{JSON_VALUE}"}
_TEXT_RULE = (
    " Text is Unicode: no string (value or property name) may hold a NUL character or a "
    "lone surrogate (such as the JSON escape \\ud800 without its pair); such requests "
    "are refused with a 400 that names the field."
)


def _json_value() -> dict[str, Any]:
    """Any JSON value whose strings (and property names) are storable."""
    return {
        "title": JSON_VALUE,
        "anyOf": [
            {"type": "null"},
            {"type": "boolean"},
            {"type": "number"},
            {"type": "string", "pattern": STORABLE},
            {"type": "array", "items": dict(_JSON_REF)},
            {
                "type": "object",
                "propertyNames": {"pattern": STORABLE},
                "additionalProperties": dict(_JSON_REF),
            },
        ],
    }


_SHAPED = {"type", "anyOf", "oneOf", "allOf", "$ref", "enum", "const", "not", "properties"}


def _storable(node: Any) -> None:
    """Constrain the strings of schema `node` (in place) to storable text."""
    if not isinstance(node, dict):
        return
    if not _SHAPED & set(node):  # any JSON value
        node.update(_JSON_REF)
        return
    if node.get("type") == "string" and not {"pattern", "format", "enum", "const"} & set(node):
        node["pattern"] = STORABLE
    if node.get("type") == "object" or "properties" in node:
        node.setdefault("propertyNames", {"pattern": STORABLE})
        if node.get("additionalProperties", True) is True:
            node["additionalProperties"] = dict(_JSON_REF)
        for value in node.get("properties", {}).values():
            _storable(value)
        _storable(node["additionalProperties"])
    if node.get("type") == "array":
        node.setdefault("items", {})
        _storable(node["items"])
    for combinator in ("anyOf", "oneOf", "allOf"):
        for branch in node.get(combinator, []):
            _storable(branch)


def _statuses(method: str, path: str, operation: dict[str, Any]) -> set[str]:
    statuses: set[str] = set()
    if operation.get("security"):  # absent for an operation without auth (health)
        statuses |= {"401", "429", "503"}
        if method in _WRITES:
            statuses.add("403")
    parameters = operation.get("parameters") or []
    takes_input = bool(parameters) or "requestBody" in operation
    if takes_input:
        statuses |= {"400", "422"}
    if "requestBody" in operation:
        statuses.add("413")  # a body larger than Django reads (config/api.py)
    if takes_input:
        # An id in the path, the query (a page's `after`) or the body (block_ids).
        statuses.add("404")
    statuses.update(_SPECIFIC.get((method, path), ()))
    return statuses
