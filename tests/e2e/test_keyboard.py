"""The ADE with the keyboard alone: open a block's editor, change it, save, and land back
on the block; send a chat message; every step without the mouse."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import expect

from tests.e2e.steps import create_agent, log_in
from tests.llm_server import ScriptedLLM


def _focused_name(page: Any) -> str:
    return str(page.evaluate("document.activeElement.innerText || document.activeElement.name"))


def test_a_block_is_edited_and_a_message_sent_with_the_keyboard_only(
    live_server_url: str, worker: Any, llm_server: ScriptedLLM, person: Any, page: Any
) -> None:
    llm_server.reset()
    log_in(page, live_server_url, *person)
    create_agent(page, live_server_url, name="keys", human="Name: unknown")

    # The skip link is the first stop and leads to the content.
    page.keyboard.press("Tab")
    expect(page.locator(":focus")).to_have_text("Skip to content")

    page.get_by_role("link", name="Edit human").focus()
    page.keyboard.press("Enter")
    value = page.get_by_label("Value")
    expect(value).to_be_focused()
    page.keyboard.press("Control+a")
    page.keyboard.type("Name: Ada")
    # Tab through the form to Save.
    for _ in range(10):
        page.keyboard.press("Tab")
        if _focused_name(page) == "Save":
            break
    page.keyboard.press("Enter")
    memory = page.locator(".panel-memory")
    expect(memory).to_contain_text("Name: Ada")
    # Focus comes back to the block, not to the top of the page.
    expect(page.get_by_role("link", name="Edit human")).to_be_focused()

    page.get_by_label("Message").focus()
    page.keyboard.type("Hello from the keyboard")
    page.keyboard.press("Control+Enter")
    expect(page.locator("#chat-log .msg-assistant")).to_contain_text(
        "echo: Hello from the keyboard"
    )
