"""A custom tool made in the browser: written in the new-tool form, shown with the
schema read from its source, then attached on an agent's page, where it stays listed."""

from __future__ import annotations

import re
from typing import Any

from playwright.sync_api import expect

from agents.models import Agent
from tests.e2e.background import in_background
from tests.e2e.steps import create_agent, log_in

ROLL = '''def roll(sides: int) -> str:
    """Roll a die.

    Args:
        sides: How many sides it has.
    """
    return str(sides)
'''


def _tools(agent_id: str) -> list[str]:
    return list(Agent.objects.get(pk=agent_id).tools)


def test_a_tool_written_in_the_form_is_attached_on_the_agent_page(
    live_server_url: str, person: Any, django_db_blocker: Any, page: Any
) -> None:
    log_in(page, live_server_url, *person)
    agent_url = create_agent(page, live_server_url, name="gambler", human="Name: Ada")
    agent_id = agent_url.rstrip("/").rsplit("/", 1)[1]

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Tools").click()
    page.get_by_role("link", name="New tool").click()
    page.get_by_label("Source code").fill(ROLL)
    page.get_by_label("Tags").fill("dice")
    page.get_by_role("button", name="Create tool").click()

    page.wait_for_url(re.compile(r"/tools/tool-[0-9a-f-]+/$"))
    expect(page.locator(".messages")).to_contain_text("Created the tool roll.")
    expect(page.locator("pre.tool-schema")).to_contain_text('"name": "roll"')
    expect(page.locator("pre.tool-schema")).to_contain_text("How many sides it has.")

    page.goto(agent_url)
    panel = page.locator("#agent-tools")
    panel.get_by_label("Attach a tool").select_option(label="roll")
    panel.get_by_role("button", name="Attach").click()
    expect(panel.get_by_role("status")).to_have_text("Attached the tool.")
    expect(panel.get_by_role("link", name="roll")).to_be_visible()
    assert "roll" in in_background(django_db_blocker, _tools, agent_id)

    page.reload()
    expect(page.locator("#agent-tools").get_by_role("link", name="roll")).to_be_visible()
