"""Every /v1 error is JSON `{"detail": ...}`, whoever makes it: a handler, django-ninja
(a wrong method), Django (a body over its memory limit, a bad Host header, a crash)."""

from __future__ import annotations

import json

import pytest
from django.test import Client


def test_a_wrong_method_is_a_json_405_with_the_allowed_methods(api):
    response = api.put("/v1/agents/", data="{}", content_type="application/json")

    assert response.status_code == 405
    assert response["Content-Type"] == "application/json"
    assert response.json() == {
        "detail": "Method PUT is not allowed on /v1/agents/; allowed: GET, POST."
    }
    assert response["Allow"] == "GET, POST"


def test_a_wrong_method_on_an_item_names_what_it_allows(api, make_agent):
    agent = make_agent()

    response = api.put(f"/v1/agents/{agent.id}/messages/stream")

    assert response.status_code == 405
    assert response["Allow"] == "POST"
    assert "PUT" in response.json()["detail"]


def test_a_body_over_djangos_memory_limit_is_a_json_413_and_stores_nothing(api, make_agent):
    agent = make_agent()
    body = json.dumps({"messages": [{"role": "user", "content": "x" * 3_000_000}]})

    response = api.post(
        f"/v1/agents/{agent.id}/messages", data=body, content_type="application/json"
    )

    assert response.status_code == 413
    assert "2.5 MB" in response.json()["detail"]
    assert not agent.messages.exists()


def test_a_crash_in_a_handler_is_a_json_500_that_a_write_says_not_to_retry(
    user, monkeypatch, make_agent
):
    from accounts.services import create_api_key
    from agents import services

    _, key = create_api_key(user)
    client = Client(raise_request_exception=False, headers={"Authorization": f"Bearer {key}"})

    def broken(*args, **kwargs):
        raise RuntimeError("a bug")

    monkeypatch.setattr(services, "list_agents", broken)
    monkeypatch.setattr(services, "create_agent", broken)

    read = client.get("/v1/agents/")
    write = client.post("/v1/agents/", data="{}", content_type="application/json")

    for response in (read, write):
        assert response.status_code == 500
        assert response.json() == {
            "detail": "The server failed on this request; the error was logged."
        }
    assert "x-should-retry" not in read
    assert write["x-should-retry"] == "false"


def test_the_api_root_itself_answers_json(db):
    response = Client().get("/v1")

    assert response.status_code == 404
    assert response.json() == {"detail": "Not found: GET /v1"}


def test_a_host_the_server_does_not_serve_is_a_json_400(db):
    response = Client().get("/v1/health/", HTTP_HOST="elsewhere.example")

    assert response.status_code == 400
    assert response.json() == {"detail": "Bad Request."}


@pytest.mark.parametrize(
    ("method", "path", "status"), [("get", "/logout/", 405), ("put", "/nope/", 404)]
)
def test_pages_outside_the_api_keep_their_html_errors(db, method, path, status):
    response = getattr(Client(), method)(path)

    assert response.status_code == status
    assert not response["Content-Type"].startswith("application/json")
