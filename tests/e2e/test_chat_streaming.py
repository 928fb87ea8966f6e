"""The chat as a person sees it in two tabs on one agent: the turn appears as it happens
(their message at once, the reply when the model answers), in both tabs, exactly once,
sent from the keyboard; a tool call opens to its arguments and result; a change of
settings in one tab shows in the other."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import expect

from tests.e2e.steps import create_agent, log_in
from tests.llm_server import ScriptedLLM


def test_a_turn_streams_into_every_open_tab(
    live_server_url: str, worker: Any, llm_server: ScriptedLLM, person: Any, page: Any
) -> None:
    llm_server.reset()
    log_in(page, live_server_url, *person)
    url = create_agent(page, live_server_url, name="streamer", human="Name: unknown")
    other = page.context.new_page()
    other.goto(url)
    # Both sockets are connected once each page has its live state.
    for tab in (page, other):
        expect(tab.locator("#chat-log")).to_contain_text("No messages yet.")

    llm_server.main.tool_call("archival_memory_search", {"query": "tea"}, content="Looking.")
    llm_server.main.hold()
    box = page.get_by_label("Message")
    box.focus()
    page.keyboard.type("What do I like?")
    page.keyboard.press("Control+Enter")

    # The model has not answered yet, and both tabs already show the message.
    llm_server.main.wait_for_waiting()
    for tab in (page, other):
        expect(tab.locator("#chat-log .msg-user .text")).to_have_text("What do I like?")
    expect(page.get_by_text("The agent is thinking…")).to_be_visible()
    expect(page.locator("#chat-log .msg-assistant")).to_have_count(0)

    llm_server.main.release()
    for tab in (page, other):
        log = tab.locator("#chat-log")
        expect(log.locator(".msg-assistant .text")).to_have_text("echo: What do I like?")
        # The tool call folds its result in, once, whichever way it arrived.
        call = log.locator(".msg-tool")
        expect(call).to_have_count(1)
        expect(call.locator(".badge")).to_have_text("success")
    expect(page.get_by_text("The agent is thinking…")).to_be_hidden()
    expect(box).to_have_value("")

    call = page.locator("#chat-log .msg-tool")
    call.locator("summary").click()
    expect(call.get_by_text('"query": "tea"')).to_be_visible()
    expect(call.get_by_text("Result")).to_be_visible()
    expect(page.locator("#chat-log .msg-reasoning summary")).to_have_text("Reasoning")

    # A rename in the other tab reaches this one's heading and settings.
    other.get_by_role("link", name="Edit").first.click()
    other.locator("#config").get_by_label("Name").fill("renamed")
    other.locator("#config").get_by_role("button", name="Save").click()
    expect(other.locator("#config-facts")).to_contain_text("renamed")
    expect(page.locator("#agent-name")).to_have_text("renamed")
    expect(page.locator("#config-facts")).to_contain_text("renamed")
