"""A new user in the browser: log in, create an agent with sleep-time, chat, and watch
the sleep-time agent's edit to a memory block arrive without reloading the page."""

from __future__ import annotations

import re
from typing import Any

from playwright.sync_api import expect

from tests.e2e.steps import create_agent, log_in
from tests.llm_server import ScriptedLLM


def test_a_new_user_chats_and_sees_the_sleeptime_edit_arrive_live(
    live_server_url: str, worker: Any, llm_server: ScriptedLLM, person: Any, page: Any
) -> None:
    llm_server.reset()
    log_in(page, live_server_url, *person)

    create_agent(page, live_server_url, name="helper", human="Name: unknown")
    memory = page.locator(".panel-memory")
    expect(memory).to_contain_text("Name: unknown")

    # The first turn starts a sleep-time run; its edit must reach this page by itself.
    llm_server.sleeper.tool_call(
        "memory_replace", {"label": "human", "old_str": "unknown", "new_str": "Ada Lovelace"}
    )
    page.get_by_label("Message").fill("Hello, I am Ada Lovelace")
    page.get_by_role("button", name="Send", exact=True).click()
    expect(page.locator("#chat-log")).to_contain_text("echo: Hello, I am Ada Lovelace")

    expect(memory).to_contain_text("Name: Ada Lovelace", timeout=15_000)
    expect(memory.locator(".line.changed")).to_contain_text("Ada Lovelace")
    # The run that made the edit leaves its card in the chat, linking to its page.
    card = page.locator("#chat-log .msg-run")
    expect(card).to_contain_text("1 block changed")
    expect(card.get_by_role("link", name="Sleep-time run")).to_have_attribute(
        "href", re.compile(r"^/runs/run-[0-9a-f-]+/$")
    )
