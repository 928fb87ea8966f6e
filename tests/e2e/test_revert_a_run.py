"""Undo from the browser: a sleep-time run's edit is taken back from the run's page."""

from __future__ import annotations

import re
from typing import Any

from playwright.sync_api import expect

from tests.e2e.steps import create_agent, log_in
from tests.llm_server import ScriptedLLM


def test_a_sleeptime_edit_is_reverted_from_its_run_page(
    live_server_url: str, worker: Any, llm_server: ScriptedLLM, person: Any, page: Any
) -> None:
    llm_server.reset()
    log_in(page, live_server_url, *person)
    agent_url = create_agent(page, live_server_url, name="reverter", human="Likes: tea")

    llm_server.sleeper.tool_call(
        "memory_replace", {"label": "human", "old_str": "tea", "new_str": "coffee, not tea"}
    )
    page.get_by_label("Message").fill("Actually I drink coffee")
    page.get_by_role("button", name="Send", exact=True).click()
    memory = page.locator(".panel-memory")
    expect(memory).to_contain_text("Likes: coffee, not tea", timeout=15_000)

    # The run is listed on the agent page once it has ended; open it and revert it.
    page.goto(agent_url)
    page.locator("ul.runs a").first.click()
    page.wait_for_url(re.compile(r"/runs/run-[0-9a-f-]+/$"))
    expect(page.locator("body")).to_contain_text("memory_replace")
    page.get_by_role("button", name="Revert this run").click()
    expect(page.locator("body")).to_contain_text("Reverted")

    page.goto(agent_url)
    expect(memory).to_contain_text("Likes: tea")
    expect(memory).not_to_contain_text("coffee")
