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

ERROR_SCHEMA = "Error"

_REASONS = {
    "400": "The request cannot be carried out as asked; `detail` says why.",
    "401": "Missing or invalid API key.",
    "403": "The key's role may read but not change anything.",
    "404": "Not found, or not visible to this key's organization.",
    "409": "In conflict with the current state: a block changed meanwhile on the same lines "
    "(`current_value` and `current_version` say what it is now), a run still in progress, "
    "a name already taken.",
    "413": "Over a size limit (MAX_MESSAGE_CHARS, MAX_UPLOAD_MB).",
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
    ("post", "/v1/sources"): ("409",),
    ("post", "/v1/folders"): ("409",),
    ("patch", "/v1/sources/{source_id}"): ("409",),
    ("patch", "/v1/folders/{source_id}"): ("409",),
    ("patch", "/v1/agents/{agent_id}/core-memory/blocks/{block_label}"): ("409",),
    ("post", "/v1/agents/{agent_id}/messages"): ("413", "502"),
    ("post", "/v1/agents/{agent_id}/messages/stream"): ("413", "502"),
    ("post", "/v1/agents/{agent_id}/archival-memory"): ("502",),
    ("get", "/v1/agents/{agent_id}/archival-memory/search"): ("502",),
    ("post", "/v1/sources/{source_id}/upload"): ("413", "415"),
    ("post", "/v1/folders/{source_id}/upload"): ("413", "415"),
}

_WRITES = {"post", "put", "patch", "delete"}


def document_errors(schema: dict[str, Any]) -> dict[str, Any]:
    """Add the error answers to every operation of `schema` (in place) and return it."""
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    components[ERROR_SCHEMA] = {
        "title": ERROR_SCHEMA,
        "type": "object",
        "properties": {"detail": {"title": "Detail"}},
        "required": ["detail"],
    }
    for path, operations in schema.get("paths", {}).items():
        for method, operation in operations.items():
            statuses = _statuses(method, path, operation)
            responses = operation.setdefault("responses", {})
            for status in sorted(statuses):
                if status in responses or int(status) in responses:
                    continue  # the operation documents it itself
                responses[status] = {
                    "description": _REASONS[status],
                    "content": {
                        "application/json": {
                            "schema": {"$ref": f"#/components/schemas/{ERROR_SCHEMA}"}
                        }
                    },
                }
    for component in components.values():
        _storable_strings(component)
    for path, operations in schema.get("paths", {}).items():
        if path.endswith("/upload"):
            for operation in operations.values():
                form = operation["requestBody"]["content"]["multipart/form-data"]
                form["encoding"] = {"file": {"contentType": ", ".join(UPLOAD_TYPES)}}
    for operations in schema.get("paths", {}).values():
        for operation in operations.values():
            for parameter in operation.get("parameters") or []:
                parameter_schema = parameter.get("schema") or {}
                if parameter["name"] in _FORMATS:
                    for branch in [parameter_schema, *parameter_schema.get("anyOf", [])]:
                        if branch.get("type") == "string":
                            branch["format"] = _FORMATS[parameter["name"]]
                _storable_strings(parameter_schema)
    return schema


# The media types an upload may have (sources/parsing.py reads these kinds; a file named
# with a known extension may also come as application/octet-stream).
UPLOAD_TYPES = (
    "application/pdf",
    "text/plain",
    "text/markdown",
    "text/html",
    "application/json",
    "text/csv",
)

# Query parameters parsed as more than strings (agents/api/agents.py, `_parse_when`).
_FORMATS = {"start_datetime": "date-time", "end_datetime": "date-time"}


# PostgreSQL stores no NUL character, and a lone surrogate is not Unicode (config/text.py):
# requests holding either are refused, so the schema says so of every string.
STORABLE = "^[^\\x00\\ud800-\\udfff]*$"


def _storable_strings(node: Any) -> None:
    if isinstance(node, dict):
        if node.get("type") == "string" and not {"pattern", "format", "enum", "const"} & set(node):
            node["pattern"] = STORABLE
        if node.get("type") == "object":
            node.setdefault("propertyNames", {"pattern": STORABLE})
        for value in node.values():
            _storable_strings(value)
    elif isinstance(node, list):
        for item in node:
            _storable_strings(item)


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
    if takes_input:
        # An id in the path, the query (a page's `after`) or the body (block_ids).
        statuses.add("404")
    statuses.update(_SPECIFIC.get((method, path), ()))
    return statuses
