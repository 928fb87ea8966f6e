"""An MCP server registered in the browser: its tools listed live on its page, one added
with its button, then attached on an agent's page."""

from __future__ import annotations

import re
from typing import Any

from playwright.sync_api import expect

from agents.models import Agent
from tests.e2e.background import in_background
from tests.e2e.steps import create_agent, log_in


def _tools(agent_id: str) -> list[str]:
    return list(Agent.objects.get(pk=agent_id).tools)


def test_a_tool_of_a_server_registered_in_the_form_is_attached_on_the_agent_page(
    live_server_url: str, mcp_http_url: str, person: Any, django_db_blocker: Any, page: Any
) -> None:
    log_in(page, live_server_url, *person)
    agent_url = create_agent(page, live_server_url, name="adder", human="Name: Ada")
    agent_id = agent_url.rstrip("/").rsplit("/", 1)[1]

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Tools").click()
    page.get_by_role("link", name="MCP servers").click()
    page.get_by_label("Name").fill("local tools")
    page.get_by_label("Type").select_option(label="Streamable HTTP")
    page.get_by_label("URL").fill(mcp_http_url)
    page.get_by_label("Auth token").fill("tok-e2e")
    page.get_by_role("button", name="Register server").click()

    page.wait_for_url(re.compile(r"/tools/mcp/mcp_server-[0-9a-f-]+/$"))
    expect(page.locator(".messages")).to_contain_text("Registered the MCP server local tools.")
    tools = page.locator("#mcp-server-tools")
    expect(tools.get_by_role("row", name=re.compile("Add two whole numbers"))).to_be_visible()
    tools.get_by_role("button", name="Add add", exact=True).click()
    expect(tools.get_by_role("status")).to_contain_text("Added the tool add")
    expect(tools.get_by_role("link", name="added")).to_be_visible()

    page.goto(agent_url)
    panel = page.locator("#agent-tools")
    panel.get_by_label("Attach a tool").select_option(label="add")
    panel.get_by_role("button", name="Attach").click()
    expect(panel.get_by_role("status")).to_have_text("Attached the tool.")
    expect(panel.get_by_role("button", name="Detach add")).to_be_visible()
    assert "add" in in_background(django_db_blocker, _tools, agent_id)
