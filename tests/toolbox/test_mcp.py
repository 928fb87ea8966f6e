"""The MCP facade (toolbox/mcp.py) and the server services (toolbox/mcp_servers.py)
against the suite's own MCP server, over each transport."""

from __future__ import annotations

import time
from typing import Any

import pytest

from config.errors import Conflict, InvalidRequest, NotFound
from toolbox import mcp
from toolbox import mcp_servers as services
from toolbox.models import McpServer, Tool, ToolType

TOKEN = "s3cret-token"
TOOL_NAMES = {"add", "echo_headers", "echo_env", "fail", "slow"}


@pytest.fixture
def register(user: Any) -> Any:
    def build(server_type: str, name: str | None = None, **config: Any) -> McpServer:
        return services.create_mcp_server(
            user,
            name or f"{server_type}-server",
            services.ServerConfig(server_type=server_type, **config),
        )

    return build


@pytest.fixture(params=["streamable_http", "sse", "stdio"])
def any_server(request: pytest.FixtureRequest, register: Any, allow_stdio: None) -> McpServer:
    if request.param == "stdio":
        return register("stdio", **request.getfixturevalue("mcp_stdio"))
    url = request.getfixturevalue(
        "mcp_http_url" if request.param == "streamable_http" else "mcp_sse_url"
    )
    return register(request.param, server_url=url)


def test_it_lists_and_calls_the_tools_over_each_transport(any_server: McpServer) -> None:
    specs = {spec.name: spec for spec in mcp.list_tools(any_server)}

    assert set(specs) == TOOL_NAMES
    assert specs["add"].description == "Add two whole numbers."
    assert set(specs["add"].input_schema["properties"]) == {"a", "b"}
    assert mcp.call_tool(any_server, "add", {"a": 2, "b": 3}) == (True, "5")


@pytest.mark.parametrize("transport", ["streamable_http", "sse"])
def test_it_sends_the_token_and_custom_headers_to_an_http_server(
    transport: str, register: Any, mcp_http_url: str, mcp_sse_url: str
) -> None:
    url = mcp_http_url if transport == "streamable_http" else mcp_sse_url
    server = register(
        transport, server_url=url, auth_token=TOKEN, custom_headers={"X-Custom": "c1"}
    )

    ok, text = mcp.call_tool(server, "echo_headers", {})

    assert ok
    assert text == f"authorization=Bearer {TOKEN}; x-custom=c1"


def test_a_stdio_server_gets_its_environment(
    register: Any, mcp_stdio: Any, allow_stdio: None
) -> None:
    server = register("stdio", env={"SERVICE_TOKEN": TOKEN}, **mcp_stdio)

    assert mcp.call_tool(server, "echo_env", {"name": "SERVICE_TOKEN"}) == (True, TOKEN)


def test_the_tools_own_error_is_a_failed_result(register: Any, mcp_http_url: str) -> None:
    server = register("streamable_http", server_url=mcp_http_url)

    ok, text = mcp.call_tool(server, "fail", {})

    assert not ok
    assert "the tool failed on purpose" in text


def test_a_dead_server_is_a_one_line_error_not_an_exception(register: Any, dead_url: str) -> None:
    server = register("streamable_http", server_url=dead_url)

    ok, text = mcp.call_tool(server, "add", {"a": 1, "b": 1})

    assert not ok
    assert text.startswith("MCP server 'streamable_http-server': could not connect")
    assert "\n" not in text
    with pytest.raises(mcp.McpError, match="could not connect"):
        mcp.list_tools(server)


@pytest.mark.parametrize("transport", ["streamable_http", "sse"])
def test_a_slow_tool_fails_within_the_timeout(
    transport: str, register: Any, mcp_http_url: str, mcp_sse_url: str, settings: Any
) -> None:
    settings.MCP_TIMEOUT_SECONDS = 1
    server = register(
        transport, server_url=mcp_http_url if transport == "streamable_http" else mcp_sse_url
    )

    started = time.monotonic()
    ok, text = mcp.call_tool(server, "slow", {"seconds": 10})

    assert time.monotonic() - started < 5
    assert not ok
    assert "no answer within 1 seconds" in text


def test_a_stdio_server_is_refused_unless_the_deployment_allows_it(
    register: Any, mcp_stdio: Any, settings: Any
) -> None:
    settings.MCP_ALLOW_STDIO = False
    with pytest.raises(InvalidRequest, match="MCP_ALLOW_STDIO"):
        register("stdio", **mcp_stdio)

    settings.MCP_ALLOW_STDIO = True
    server = register("stdio", **mcp_stdio)
    settings.MCP_ALLOW_STDIO = False
    ok, text = mcp.call_tool(server, "add", {"a": 1, "b": 2})
    assert not ok
    assert "MCP_ALLOW_STDIO is off" in text


def test_credentials_are_sealed_at_rest_and_shown_masked(register: Any, mcp_http_url: str) -> None:
    server = register(
        "streamable_http", server_url=mcp_http_url, auth_token=TOKEN, custom_headers={"X-Key": "k9"}
    )

    stored = McpServer.objects.values_list("credentials", flat=True).get(pk=server.pk)
    assert TOKEN not in stored
    assert "k9" not in stored
    assert services.credentials_shown(server) == {
        "auth_token": services.MASK,
        "custom_headers": {"X-Key": services.MASK},
    }


def test_an_update_that_sends_masked_values_back_keeps_the_credentials(
    register: Any, mcp_http_url: str
) -> None:
    server = register(
        "streamable_http",
        server_url=mcp_http_url,
        auth_token=TOKEN,
        custom_headers={"X-Custom": "c1"},
    )

    services.update_mcp_server(
        server,
        "renamed",
        services.ServerConfig(auth_token=services.MASK, custom_headers={"X-Custom": services.MASK}),
    )

    assert mcp.call_tool(server, "echo_headers", {}) == (
        True,
        f"authorization=Bearer {TOKEN}; x-custom=c1",
    )


def test_attaching_a_tool_makes_a_tool_row_and_attaching_again_updates_it(
    register: Any, user: Any, mcp_http_url: str
) -> None:
    server = register("streamable_http", server_url=mcp_http_url)

    tool = services.attach_mcp_tool(server, "add", user)
    again = services.attach_mcp_tool(server, "add", user)

    assert again.pk == tool.pk
    assert tool.tool_type == ToolType.MCP
    assert tool.mcp_server_id == server.pk
    assert tool.organization_id == server.organization_id
    assert tool.json_schema["name"] == "add"
    assert set(tool.json_schema["parameters"]["properties"]) == {"a", "b"}


def test_attaching_refuses_a_taken_or_reserved_name_or_a_missing_tool(
    register: Any, user: Any, mcp_http_url: str, mcp_sse_url: str
) -> None:
    first = register("streamable_http", server_url=mcp_http_url)
    second = register("sse", server_url=mcp_sse_url)
    services.attach_mcp_tool(first, "add", user)

    with pytest.raises(Conflict, match="from another MCP server"):
        services.attach_mcp_tool(second, "add", user)
    with pytest.raises(Conflict, match="built-in"):
        services.attach_mcp_tool(second, "echo_env", user, reserved={"echo_env"})
    with pytest.raises(NotFound):
        services.attach_mcp_tool(second, "no_such_tool", user)


def test_a_sync_updates_attached_tools_and_adds_only_when_asked(
    register: Any, user: Any, mcp_http_url: str
) -> None:
    server = register("streamable_http", server_url=mcp_http_url)
    services.attach_mcp_tool(server, "add", user)
    Tool.objects.filter(name="add").update(description="stale")

    summary = services.sync_mcp_tools(server, user, add_new=False)
    assert summary.updated == ["add"]
    assert summary.added == []
    assert Tool.objects.get(name="add", organization=server.organization).description != "stale"

    summary = services.sync_mcp_tools(server, user, add_new=True)
    assert set(summary.added) == TOOL_NAMES - {"add"}


def test_with_the_private_network_off_a_server_on_it_is_refused(
    register: Any, mcp_http_url: str, settings: Any
) -> None:
    server = register("streamable_http", server_url=mcp_http_url)
    assert "add" in {tool.name for tool in mcp.list_tools(server)}
    settings.MCP_ALLOW_PRIVATE_NETWORK = False

    with pytest.raises(mcp.McpError, match=r"127\.0\.0\.1.*MCP_ALLOW_PRIVATE_NETWORK is off"):
        mcp.list_tools(server)
    ok, text = mcp.call_tool(server, "add", {"a": 1, "b": 2})
    assert not ok and "private address" in text
    metadata = register("streamable_http", "metadata", server_url="http://169.254.169.254/x")
    ok, text = mcp.call_tool(metadata, "anything", {})
    assert not ok and "169.254.169.254" in text
