"""The MCP server pages, against the suite's own MCP server: registering one in the form,
its tools listed live and added one by one, an unreachable server, credentials that never
reach a page, another organization's servers out of reach, and deleting a server."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from agents.models import Agent
from tests.ade import HTMX
from tests.factories import build_team
from toolbox.mcp_servers import (
    ServerConfig,
    attach_mcp_tool,
    call_server_tool,
    create_mcp_server,
)
from toolbox.models import McpServer, Tool

TOKEN = "tok-very-secret-1"
HEADER_VALUE = "hdr-very-secret-2"
SECRETS = (TOKEN, HEADER_VALUE)


def register_form(url: str, **fields: Any) -> dict[str, Any]:
    return {
        "server_name": "local tools",
        "server_type": "streamable_http",
        "server_url": url,
        "auth_header": "",
        "auth_token": TOKEN,
        "custom_headers": f"X-Custom: {HEADER_VALUE}",
        **fields,
    }


def make_server(user: Any, url: str, name: str = "local tools") -> McpServer:
    config = ServerConfig(
        server_type="streamable_http",
        server_url=url,
        auth_token=TOKEN,
        custom_headers={"X-Custom": HEADER_VALUE},
    )
    return create_mcp_server(user, name, config)


def server_url(server: McpServer) -> str:
    return reverse("agents:mcp_server", args=[server.id])


def text(response: Any) -> str:
    return response.content.decode()


def test_a_server_registered_in_the_form_lists_its_tools_to_add(signed_in, mcp_http_url):
    response = signed_in.post(reverse("agents:mcp_servers"), register_form(mcp_http_url))

    server = McpServer.objects.get(server_name="local tools")
    assert response.status_code == 302 and response.url == server_url(server)
    page = text(signed_in.get(server_url(server)))
    assert "<code>add</code>" in page and "Add two whole numbers." in page
    assert '<input type="hidden" name="tool_name" value="add">' in page
    assert "<code>X-Custom</code>" in page and "An auth token is stored" in page
    assert not Tool.objects.exists()  # registering adds no tool by itself

    listing = text(signed_in.get(reverse("agents:mcp_servers")))
    assert f'<a href="{server_url(server)}">local tools</a>' in listing
    assert f"<code>{mcp_http_url}</code>" in listing


def test_a_tool_added_on_the_server_page_is_on_the_tools_page_and_attachable(
    signed_in, user, make_agent, mcp_http_url
):
    server = make_server(user, mcp_http_url)
    agent = make_agent(tools=["send_message"], include_base_tools=False)

    added = signed_in.post(
        reverse("agents:mcp_server_tool_add", args=[server.id]), {"tool_name": "add"}, **HTMX
    )

    tool = Tool.objects.get(name="add", mcp_server=server)
    body = text(added)
    assert added.status_code == 200 and body.lstrip().startswith('<div id="mcp-server-tools"')
    assert "Added the tool add" in body
    assert f'<a href="{reverse("agents:tool", args=[tool.id])}">added</a>' in body
    tool_page = text(signed_in.get(reverse("agents:tool", args=[tool.id])))
    assert f'<a href="{server_url(server)}">local tools</a>' in tool_page
    tools_page = text(signed_in.get(reverse("agents:tools")))
    assert f'href="{reverse("agents:tool", args=[tool.id])}"><code>add</code>' in tools_page
    assert f'href="{reverse("agents:mcp_servers")}"' in tools_page
    agent_page = text(signed_in.get(reverse("agents:detail", args=[agent.id])))
    assert f'<option value="{tool.id}">add</option>' in agent_page

    listing = text(signed_in.get(reverse("agents:mcp_servers")))
    assert "<td>1</td>" in listing  # tools added


def test_adding_a_tool_the_server_does_not_offer_says_why(signed_in, user, mcp_http_url):
    server = make_server(user, mcp_http_url)

    response = signed_in.post(
        reverse("agents:mcp_server_tool_add", args=[server.id]), {"tool_name": "nope"}, **HTMX
    )

    body = text(response)
    assert response.status_code == 200
    assert '<p class="form-errors" role="alert">' in body and "no tool named" in body
    assert not Tool.objects.exists()


def test_refresh_reads_the_added_tools_again(signed_in, user, mcp_http_url):
    server = make_server(user, mcp_http_url)
    tool = attach_mcp_tool(server, "add", user)
    Tool.objects.filter(pk=tool.pk).update(description="stale")

    response = signed_in.post(reverse("agents:mcp_server_refresh", args=[server.id]))

    assert response.status_code == 302
    assert response.url == server_url(server) + "#tools"
    assert Tool.objects.get(pk=tool.pk).description == "Add two whole numbers."
    assert "Refreshed 1 tool." in text(signed_in.get(server_url(server)))


def test_an_unreachable_server_is_refused_at_the_form_with_the_input_kept(signed_in, dead_url):
    response = signed_in.post(reverse("agents:mcp_servers"), register_form(dead_url))

    body = text(response)
    assert response.status_code == 400
    assert 'class="form-errors" role="alert"' in body
    assert "local tools" in body and f'value="{dead_url}"' in body
    assert not McpServer.objects.exists()
    for secret in SECRETS:
        assert secret not in body


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"server_url": "ftp://example.com/mcp"}, "must be an http:// or https:// address"),
        ({"server_type": "stdio", "command": "python"}, "MCP_ALLOW_STDIO is off"),
        ({"custom_headers": f"no colon {HEADER_VALUE}"}, "Line 1 is not Name: value."),
    ],
)
def test_a_bad_server_is_refused_beside_the_form_without_echoing_secrets(
    signed_in, dead_url, fields, message
):
    response = signed_in.post(reverse("agents:mcp_servers"), register_form(dead_url, **fields))

    body = text(response)
    assert response.status_code == 400
    assert message in body
    assert 'value="local tools"' in body
    for secret in SECRETS:
        assert secret not in body
    assert not McpServer.objects.exists()


def test_a_taken_name_is_refused(signed_in, user, mcp_http_url):
    make_server(user, mcp_http_url)

    response = signed_in.post(reverse("agents:mcp_servers"), register_form(mcp_http_url))

    assert response.status_code == 400
    assert "An MCP server named &#x27;local tools&#x27; already exists." in text(response)
    assert McpServer.objects.count() == 1


def test_stdio_is_offered_only_where_it_is_allowed(signed_in, settings):
    assert '<option value="stdio"' not in text(signed_in.get(reverse("agents:mcp_servers")))
    assert "MCP_ALLOW_STDIO" in text(signed_in.get(reverse("agents:mcp_servers")))

    settings.MCP_ALLOW_STDIO = True

    page = text(signed_in.get(reverse("agents:mcp_servers")))
    assert '<option value="stdio">' in page and 'name="command"' in page


def test_an_unreachable_server_page_says_so_and_still_shows_its_settings(signed_in, user, dead_url):
    server = make_server(user, dead_url)

    response = signed_in.get(server_url(server))

    body = text(response)
    assert response.status_code == 200
    assert "The server could not be reached" in body
    assert 'value="local tools"' in body and 'name="tool_name"' not in body
    refresh = signed_in.post(reverse("agents:mcp_server_refresh", args=[server.id]), **HTMX)
    assert refresh.status_code == 200 and "The server could not be reached" in text(refresh)


def test_credentials_are_in_no_page_and_an_empty_field_keeps_them(
    signed_in, user, make_agent, mcp_http_url
):
    server = make_server(user, mcp_http_url)
    tool = attach_mcp_tool(server, "add", user)
    make_agent(name="adder", tools=["add"], include_base_tools=False)
    pages = [
        reverse("agents:mcp_servers"),
        server_url(server),
        reverse("agents:mcp_server_delete", args=[server.id]),
        reverse("agents:tools"),
        reverse("agents:tool", args=[tool.id]),
    ]
    for url in pages:
        body = text(signed_in.get(url))
        for secret in SECRETS:
            assert secret not in body, url

    edit = register_form(
        mcp_http_url, server_name="renamed", auth_token="", custom_headers="", auth_header=""
    )
    saved = signed_in.post(server_url(server), edit)

    assert saved.status_code == 302
    assert _echoed(server) == f"authorization=Bearer {TOKEN}; x-custom={HEADER_VALUE}"
    assert McpServer.objects.get(pk=server.pk).server_name == "renamed"

    signed_in.post(server_url(server), {**edit, "clear_credentials": "on"})
    assert _echoed(server) == "authorization=; x-custom="


def _echoed(server: McpServer) -> str:
    """What the server received, through its echo_headers tool."""
    ok, answer = call_server_tool(McpServer.objects.get(pk=server.pk), "echo_headers", {})
    assert ok
    return answer


def test_deleting_a_server_names_the_agents_that_lose_its_tools(
    signed_in, user, make_agent, mcp_http_url
):
    server = make_server(user, mcp_http_url)
    attach_mcp_tool(server, "add", user)
    agent = make_agent(name="adder", tools=["send_message", "add"], include_base_tools=False)
    make_agent(name="bystander", tools=["send_message"], include_base_tools=False)
    delete_url = reverse("agents:mcp_server_delete", args=[server.id])

    confirm = text(signed_in.get(delete_url))
    assert ">adder</a> (<code>add</code>)" in confirm and "bystander" not in confirm

    response = signed_in.post(delete_url)

    assert response.status_code == 302 and response.url == reverse("agents:mcp_servers")
    assert not McpServer.objects.exists() and not Tool.objects.exists()
    assert Agent.objects.get(pk=agent.pk).tools == ["send_message"]


def test_another_organizations_server_is_not_found(client, user, stranger, dead_url):
    server = make_server(user, dead_url)
    client.force_login(stranger)

    urls = [
        server_url(server),
        reverse("agents:mcp_server_delete", args=[server.id]),
        reverse("agents:mcp_server_tool_add", args=[server.id]),
        reverse("agents:mcp_server_refresh", args=[server.id]),
    ]
    for url in urls:
        if "add" not in url and "refresh" not in url:
            assert client.get(url).status_code == 404
        assert client.post(url, register_form(dead_url, tool_name="add")).status_code == 404
    assert "local tools" not in text(client.get(reverse("agents:mcp_servers")))
    assert McpServer.objects.get(pk=server.pk).server_url == dead_url


def test_a_viewer_reads_the_servers_but_cannot_change_them(django_user_model, dead_url):
    team = build_team(django_user_model)
    server = make_server(team.admin.user, dead_url)
    viewer = team.viewer.browser

    listing = text(viewer.get(reverse("agents:mcp_servers")))
    page = text(viewer.get(server_url(server)))

    assert "local tools" in listing and "Register server" not in listing
    assert "The server could not be reached" in page
    assert 'name="server_name"' not in page and "Delete" not in page
    assert viewer.post(reverse("agents:mcp_server_delete", args=[server.id])).status_code == 403
    assert McpServer.objects.filter(pk=server.pk).exists()


def test_the_servers_page_costs_the_same_queries_for_one_server_or_many(signed_in, user, dead_url):
    make_server(user, dead_url)
    with CaptureQueriesContext(connection) as one:
        signed_in.get(reverse("agents:mcp_servers"))
    for number in range(3):
        make_server(user, dead_url, name=f"server {number}")
    with CaptureQueriesContext(connection) as many:
        body = text(signed_in.get(reverse("agents:mcp_servers")))

    assert "server 2" in body
    assert len(many) == len(one)
