"""`/v1/mcp-servers` through the official letta-client 1.x SDK against a live server and
the suite's own MCP server; stdio (which needs the deployment setting) and the 0.1.x
routes through in-process clients."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from django.test import Client
from letta_client import APIStatusError, BadRequestError, Letta, NotFoundError

from toolbox.models import Tool

TOKEN = "s3cret-token"
HEADER_SECRET = "header-secret-value"
TOOL_NAMES = {"add", "echo_headers", "echo_env", "fail", "slow"}


@pytest.fixture
def client(live_server_url: str, api_key: str) -> Letta:
    return Letta(base_url=live_server_url, api_key=api_key)


@pytest.fixture
def other_client(live_server_url: str, django_db_blocker: Any) -> Letta:
    """A client of another person, in an organization of their own."""
    from accounts.services import create_api_key, get_or_create_user

    with django_db_blocker.unblock():
        user, _ = get_or_create_user(f"other-{uuid.uuid4().hex[:8]}")
        _, raw_key = create_api_key(user)
    return Letta(base_url=live_server_url, api_key=raw_key)


def _name() -> str:
    return f"mcp-{uuid.uuid4().hex[:8]}"


@pytest.mark.parametrize("transport", ["streamable_http", "sse"])
def test_the_sdk_registers_a_server_with_its_tools_and_runs_one(
    transport: str, client: Letta, mcp_http_url: str, mcp_sse_url: str
) -> None:
    url = mcp_http_url if transport == "streamable_http" else mcp_sse_url
    server = client.mcp_servers.create(
        server_name=_name(),
        config={"mcp_server_type": transport, "server_url": url, "auth_token": TOKEN},
    )

    assert server.mcp_server_type == transport
    assert server.server_url == url
    tools = {tool.name: tool for tool in client.mcp_servers.tools.list(server.id)}
    assert set(tools) == TOOL_NAMES
    assert tools["add"].tool_type == "external_mcp"
    assert client.mcp_servers.tools.retrieve(tools["add"].id, mcp_server_id=server.id).name == "add"

    result = client.mcp_servers.tools.run(
        tools["add"].id, mcp_server_id=server.id, args={"a": 2, "b": 3}
    )
    assert result.status == "success"
    assert result.func_return == "5"
    failed = client.mcp_servers.tools.run(tools["fail"].id, mcp_server_id=server.id, args={})
    assert failed.status == "error"
    assert "the tool failed on purpose" in str(failed.func_return)


def test_credentials_never_appear_in_an_answer(client: Letta, mcp_http_url: str) -> None:
    config = {
        "mcp_server_type": "streamable_http",
        "server_url": mcp_http_url,
        "auth_token": TOKEN,
        "custom_headers": {"X-Custom": HEADER_SECRET},
    }
    created = client.mcp_servers.with_raw_response.create(server_name=_name(), config=config)
    server_id = json.loads(created.text())["id"]
    answers = [
        created.text(),
        client.mcp_servers.with_raw_response.retrieve(server_id).text(),
        client.mcp_servers.with_raw_response.list().text(),
        client.mcp_servers.with_raw_response.update(
            server_id,
            server_name=_name(),
            config={"mcp_server_type": "streamable_http", "server_url": mcp_http_url},
        ).text(),
        client.mcp_servers.tools.with_raw_response.list(server_id).text(),
    ]

    for answer in answers:
        assert TOKEN not in answer
        assert HEADER_SECRET not in answer
    shown = client.mcp_servers.retrieve(server_id)
    assert shown.auth_token == "********"
    assert shown.custom_headers == {"X-Custom": "********"}


def test_an_update_keeps_the_credentials_and_a_delete_removes_the_server(
    client: Letta, mcp_http_url: str
) -> None:
    server = client.mcp_servers.create(
        server_name=_name(),
        config={
            "mcp_server_type": "streamable_http",
            "server_url": mcp_http_url,
            "auth_token": TOKEN,
        },
    )
    renamed = _name()

    updated = client.mcp_servers.update(
        server.id,
        server_name=renamed,
        config={"mcp_server_type": "streamable_http", "server_url": mcp_http_url},
    )

    assert updated.server_name == renamed
    assert updated.auth_token == "********"
    assert [s.id for s in client.mcp_servers.list() if s.server_name == renamed] == [server.id]
    summary = client.mcp_servers.refresh(server.id)
    assert set(summary["updated"]) == TOOL_NAMES  # type: ignore[index]

    client.mcp_servers.delete(server.id)
    with pytest.raises(NotFoundError):
        client.mcp_servers.retrieve(server.id)


def test_a_dead_server_is_not_registered_and_the_error_says_why(
    client: Letta, dead_url: str
) -> None:
    name = _name()
    with pytest.raises(APIStatusError) as raised:
        client.mcp_servers.create(
            server_name=name, config={"mcp_server_type": "streamable_http", "server_url": dead_url}
        )

    assert raised.value.status_code == 502
    assert "could not connect" in str(raised.value.body)
    assert all(server.server_name != name for server in client.mcp_servers.list())


def test_stdio_is_refused_by_default(client: Letta, mcp_stdio: dict[str, Any]) -> None:
    with pytest.raises(BadRequestError, match="MCP_ALLOW_STDIO"):
        client.mcp_servers.create(
            server_name=_name(), config={"mcp_server_type": "stdio", **mcp_stdio}
        )


def test_another_organization_cannot_see_or_use_the_server(
    client: Letta, other_client: Letta, mcp_http_url: str
) -> None:
    server = client.mcp_servers.create(
        server_name=_name(),
        config={"mcp_server_type": "streamable_http", "server_url": mcp_http_url},
    )
    add = next(tool for tool in client.mcp_servers.tools.list(server.id) if tool.name == "add")

    assert all(s.id != server.id for s in other_client.mcp_servers.list())
    for attempt in (
        lambda: other_client.mcp_servers.retrieve(server.id),
        lambda: other_client.mcp_servers.tools.list(server.id),
        lambda: other_client.mcp_servers.tools.run(
            add.id, mcp_server_id=server.id, args={"a": 1, "b": 1}
        ),
        lambda: other_client.mcp_servers.refresh(server.id),
        lambda: other_client.mcp_servers.delete(server.id),
    ):
        with pytest.raises(NotFoundError):
            attempt()
    assert client.mcp_servers.retrieve(server.id).id == server.id


def test_a_stdio_server_works_where_the_deployment_allows_it(
    api: Client, allow_stdio: None, mcp_stdio: dict[str, Any]
) -> None:
    body = {
        "server_name": "local",
        "config": {"mcp_server_type": "stdio", "env": {"K": TOKEN}, **mcp_stdio},
    }
    created = api.post("/v1/mcp-servers/", body, content_type="application/json")
    assert created.status_code == 200, created.content
    server = created.json()
    assert server["env"] == {"K": "********"}
    assert TOKEN not in created.content.decode()

    echo = Tool.objects.get(mcp_server=server["id"], name="echo_env")
    ran = api.post(
        f"/v1/mcp-servers/{server['id']}/tools/{echo.id}/run",
        {"args": {"name": "K"}},
        content_type="application/json",
    )
    assert ran.json()["status"] == "success"
    assert ran.json()["func_return"] == TOKEN


def test_the_0_1_routes_register_list_and_attach(api: Any, mcp_http_url: str) -> None:
    added = api.put(
        "/v1/tools/mcp/servers",
        {
            "server_name": "old",
            "type": "streamable_http",
            "server_url": mcp_http_url,
            "auth_token": TOKEN,
        },
        content_type="application/json",
    )
    assert added.status_code == 200, added.content
    assert added.json()[0]["auth_token"] == "********"
    assert set(api.get("/v1/tools/mcp/servers").json()) == {"old"}
    listed = api.get("/v1/tools/mcp/servers/old/tools").json()
    assert {tool["name"] for tool in listed} == TOOL_NAMES
    assert "inputSchema" in listed[0]
    tool = api.post("/v1/tools/mcp/servers/old/add").json()
    assert tool["tool_type"] == "external_mcp"
    assert api.delete("/v1/tools/mcp/servers/old").json() == []
