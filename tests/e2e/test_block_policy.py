"""A block's policy and deletion budget set in the browser, on its editor in the agent
page: saved, the block shows its policy; a budget that is no percentage is refused beside
the field, and nothing changes."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import expect

from memory.models import Block
from tests.e2e.background import in_background
from tests.e2e.steps import create_agent, log_in


def _human(agent_id: str) -> tuple[str, float, str]:
    block = Block.objects.get(agent_links__agent_id=agent_id, agent_links__label="human")
    return block.policy, block.deletion_budget, block.value


def test_the_policy_form_saves_and_a_bad_deletion_budget_shows_an_error(
    live_server_url: str, person: Any, django_db_blocker: Any, page: Any
) -> None:
    log_in(page, live_server_url, *person)
    agent_url = create_agent(page, live_server_url, name="guarded", human="Name: Ada")
    agent_id = agent_url.rstrip("/").rsplit("/", 1)[1]

    memory = page.locator(".panel-memory")
    memory.get_by_role("link", name="Edit human").click()
    editor = memory.get_by_role("form", name="Edit human")
    editor.get_by_label("Policy").select_option("review")
    editor.get_by_label("Deletion budget").fill("12.5")
    editor.get_by_role("button", name="Save").click()
    block = memory.locator("article.block", has_text="human")
    expect(block.locator(".badge.review")).to_have_text("review")
    assert in_background(django_db_blocker, _human, agent_id) == ("review", 0.125, "Name: Ada")

    memory.get_by_role("link", name="Edit human").click()
    editor.get_by_label("Value").fill("Name: Grace")
    editor.get_by_label("Policy").select_option("read_only")
    editor.get_by_label("Deletion budget").fill("150")
    editor.get_by_role("button", name="Save").click()
    expect(editor.get_by_role("alert")).to_have_text(
        "The deletion budget is a percentage from 0 to 100."
    )
    expect(editor.get_by_label("Deletion budget")).to_have_value("150")
    assert in_background(django_db_blocker, _human, agent_id) == ("review", 0.125, "Name: Ada")

    editor.get_by_role("link", name="Cancel").click()
    expect(block.locator(".block-value")).to_have_text("Name: Ada")
