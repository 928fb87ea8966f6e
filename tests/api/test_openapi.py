"""/v1/openapi.json says what the server does: every error an operation may answer, and
the constraints the services enforce. (The schemathesis run of test_schemathesis.py checks
the server against it.)"""

from __future__ import annotations

import re
from typing import Any

import jsonschema_rs
import pytest
from django.test import Client


@pytest.fixture(scope="module")
def schema() -> dict[str, Any]:
    response = Client(HTTP_HOST="localhost").get("/v1/openapi.json")
    assert response.status_code == 200
    return dict(response.json())


def _operations(schema: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method, path, operation)
        for path, operations in schema["paths"].items()
        for method, operation in operations.items()
    ]


def _validator(schema: dict[str, Any], component: str) -> Any:
    """A validator of the request bodies of `component`, refs resolved in `schema`."""
    root = {"$ref": f"#/components/schemas/{component}", "components": schema["components"]}
    return jsonschema_rs.validator_for(root)


@pytest.mark.parametrize(
    ("body", "valid"),
    [
        ({"kind": "messages", "all": True}, True),
        ({"kind": "messages", "text": "Porto"}, True),
        ({"kind": "messages", "message_ids": ["message-1"]}, True),
        ({"kind": "messages", "start_date": "2026-01-01T00:00:00Z"}, True),
        ({"kind": "messages", "all": True, "text": "Porto"}, False),
        ({"kind": "messages", "text": " a "}, False),
        ({"kind": "messages"}, False),
        ({"kind": "passages", "passage_ids": ["passage-1"], "message_ids": []}, True),
        ({"kind": "passages", "passage_ids": ["passage-1"], "text": "Porto"}, False),
        ({"kind": "file", "file_id": "file-1"}, True),
        ({"kind": "file", "text": "Porto"}, False),
        ({"kind": "matter", "text": "Porto", "all": False}, True),
        ({"kind": "block_text", "text": "Porto", "all": True}, False),
    ],
)
def test_the_schema_says_which_fields_each_kind_of_forgetting_takes(schema, body, valid):
    assert _validator(schema, "ForgetIn").is_valid(body) is valid


ARITHMETIC = {"kind": "arithmetic"}
HISTORY = {"kind": "history", "questions": [{"question": "Where?", "answer": "Porto"}]}


@pytest.mark.parametrize(
    ("body", "valid"),
    [
        ({"model": "openai/gpt-4.1", "material": ARITHMETIC}, True),
        ({"agent_id": "agent-1", "material": HISTORY, "model": None}, True),
        ({"agent_id": "agent-1", "model": "openai/gpt-4.1", "material": ARITHMETIC}, False),
        ({"material": ARITHMETIC}, False),
        ({"model": "openai/gpt-4.1", "material": HISTORY}, False),
        ({"model": "gpt-4.1", "material": ARITHMETIC}, False),
        ({"agent_id": "a", "material": {"kind": "arithmetic", "count": 51}}, False),
        ({"agent_id": "a", "material": {"kind": "jsonl", "text": " "}}, False),
        ({"agent_id": "a", "material": ARITHMETIC, "arms": ["on:model=openai/x:passes=2"]}, True),
        ({"agent_id": "a", "material": ARITHMETIC, "arms": ["off", "off"]}, False),
        ({"agent_id": "a", "material": ARITHMETIC, "arms": ["off:passes=2"]}, False),
        ({"agent_id": "a", "material": ARITHMETIC, "arms": [" on"]}, False),
    ],
)
def test_the_schema_says_what_an_evaluation_needs(schema, body, valid):
    assert _validator(schema, "EvaluationIn").is_valid(body) is valid


def test_every_operation_documents_the_errors_it_may_answer(schema):
    missing = {}
    for method, path, operation in _operations(schema):
        documented = set(operation["responses"])
        expected = set()
        if operation.get("security"):
            expected |= {"401", "429", "503"}
            if method != "get":
                expected.add("403")
        if operation.get("parameters") or "requestBody" in operation:
            expected |= {"400", "404", "422"}
        if expected - documented:
            missing[f"{method.upper()} {path}"] = sorted(expected - documented)
        for status, response in operation["responses"].items():
            if status.startswith(("4", "5")):
                ref = response["content"]["application/json"]["schema"]["$ref"]
                assert ref == "#/components/schemas/Error", (method, path, status)
    assert missing == {}
    assert schema["paths"]["/v1/health"]["get"]["responses"].keys() == {"200"}


@pytest.mark.parametrize(
    ("method", "path", "statuses"),
    [
        ("patch", "/v1/blocks/{block_id}", {"409"}),
        ("patch", "/v1/agents/{agent_id}/core-memory/blocks/{block_label}", {"409"}),
        ("post", "/v1/runs/{run_id}/revert", {"409"}),
        ("post", "/v1/folders", {"409"}),
        ("post", "/v1/agents/{agent_id}/messages", {"413", "502"}),
        ("post", "/v1/agents/{agent_id}/messages/stream", {"413", "502"}),
        ("post", "/v1/folders/{source_id}/upload", {"413", "415"}),
        ("post", "/v1/evaluations/{evaluation_id}/cancel", {"409"}),
        ("post", "/v1/evaluations/{evaluation_id}/resume", {"409"}),
        ("delete", "/v1/evaluations/{evaluation_id}", {"409"}),
    ],
)
def test_answers_only_some_operations_give_are_documented_on_them(schema, method, path, statuses):
    assert statuses <= set(schema["paths"][path][method]["responses"])


def test_an_upload_says_which_media_types_it_reads(schema):
    form = schema["paths"]["/v1/sources/{source_id}/upload"]["post"]["requestBody"]["content"]
    types = form["multipart/form-data"]["encoding"]["file"]["contentType"]
    assert {"application/pdf", "text/plain", "text/markdown", "application/json"} <= {
        kind.strip() for kind in types.split(",")
    }


def test_the_constraints_the_services_enforce_are_in_the_schema(schema):
    components = schema["components"]["schemas"]
    create = components["AgentCreateIn"]
    assert [branch["required"] for branch in create["anyOf"]] == [["model"], ["llm_config"]]
    assert create["properties"]["name"]["pattern"] == "^[A-Za-z0-9 _.-]+$"
    tools = create["properties"]["tools"]
    assert "archival_memory_search" in tools["description"]
    assert re.fullmatch(tools["items"]["pattern"], "my_tool")
    assert not re.fullmatch(tools["items"]["pattern"], "no spaces")
    label = components["BlockIn"]["properties"]["label"]
    assert label["minLength"] == 1 and not re.fullmatch(label["pattern"], "   ")
    assert components["GroupUpdateIn"]["properties"]["agent_ids"]["type"] == "null"
    # Text PostgreSQL cannot store (NUL), anywhere: values, keys, free-form JSON.
    value = components["BlockIn"]["properties"]["value"]["pattern"]
    assert re.fullmatch(value, "Name: Ada \U0001f600") and not re.fullmatch(value, "a\x00b")
    block = _validator(schema, "BlockIn")
    assert block.is_valid({"label": "human", "metadata": {"tags": [{"a": "b"}]}})
    assert not block.is_valid({"label": "human", "metadata": {"tags": [{"a": "\x00"}]}})
    assert not block.is_valid({"label": "human", "metadata": {"\x00": 1}})
    # Lone surrogates, which no pattern can say in both regex dialects, in the description.
    assert "lone surrogate" in schema["info"]["description"]
    runs = {p["name"]: p for p in schema["paths"]["/v1/runs"]["get"]["parameters"]}
    assert "failed" in runs["statuses"]["schema"]["items"]["enum"]
    search = schema["paths"]["/v1/agents/{agent_id}/archival-memory/search"]["get"]
    start = next(p for p in search["parameters"] if p["name"] == "start_datetime")
    assert start["schema"]["anyOf"][0]["format"] == "date-time"
