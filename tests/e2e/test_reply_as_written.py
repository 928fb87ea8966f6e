"""The reply as the model writes it: in the chat of every tab open on the agent, the
assistant's words appear and grow before the turn ends, and the stored reply takes their
place, once, the same after a reload."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import expect

from tests.e2e.steps import create_agent, log_in
from tests.llm_server import STREAM_PIECE, ScriptedLLM

REPLY = "Green tea in the morning, black tea after lunch, and never coffee after four."
RECORD_DRAFT_TEXTS = """() => {
  window.draftTexts = [];
  const log = document.getElementById("chat-log");
  new MutationObserver(() => {
    const draft = log.querySelector(".msg-draft .text");
    if (draft) window.draftTexts.push(draft.textContent);
  }).observe(log, { childList: true, subtree: true, characterData: true });
}"""


def test_the_reply_grows_in_the_chat_while_the_model_writes_it(
    live_server_url: str, worker: Any, llm_server: ScriptedLLM, person: Any, page: Any
) -> None:
    llm_server.reset()
    log_in(page, live_server_url, *person)
    url = create_agent(page, live_server_url, name="writer", human="Name: unknown")
    other = page.context.new_page()
    other.goto(url)
    for tab in (page, other):
        expect(tab.locator("#chat-log")).to_contain_text("No messages yet.")

    llm_server.main.reply(REPLY)
    llm_server.main.pause_stream(after=3)  # the model stops writing part-way, for now
    box = page.get_by_label("Message")
    box.fill("What do I drink?")
    box.press("Control+Enter")

    llm_server.main.wait_for_waiting()
    for tab in (page, other):
        draft = tab.locator("#chat-log .msg-assistant.msg-draft .text")
        expect(draft).to_contain_text(REPLY[:STREAM_PIECE])
        shown = draft.inner_text()
        assert REPLY.startswith(shown) and len(shown) < len(REPLY), shown
    expect(page.get_by_text("The agent is thinking…")).to_be_visible()

    # Every text the draft shows from now on, to see it grow once the model goes on.
    page.evaluate(RECORD_DRAFT_TEXTS)
    page.wait_for_timeout(300)  # longer than a draft's pushes are apart (agents/chat.py)
    llm_server.main.release()
    for tab in (page, other):
        reply = tab.locator("#chat-log .msg-assistant")
        expect(reply).to_have_count(1)
        expect(reply.locator(".text")).to_have_text(REPLY)
        expect(tab.locator("#chat-log .msg-draft")).to_have_count(0)
    expect(page.get_by_text("The agent is thinking…")).to_be_hidden()

    grown = page.evaluate("window.draftTexts")
    assert any(len(REPLY[:STREAM_PIECE]) < len(text) < len(REPLY) for text in grown), grown
    assert all(REPLY.startswith(text) for text in grown), grown

    page.reload()
    expect(page.locator("#chat-log .msg-assistant .text")).to_have_text(REPLY)


def test_a_reply_that_breaks_off_leaves_no_draft_and_says_why(
    live_server_url: str, worker: Any, llm_server: ScriptedLLM, person: Any, page: Any
) -> None:
    llm_server.reset()
    log_in(page, live_server_url, *person)
    create_agent(page, live_server_url, name="dropper", human="Name: unknown")

    llm_server.main.reply(REPLY)
    llm_server.main.break_stream(after=3)
    box = page.get_by_label("Message")
    box.fill("What do I drink?")
    box.press("Control+Enter")

    expect(page.get_by_role("alert")).to_contain_text("The turn ended with an error")
    expect(page.get_by_role("alert")).to_contain_text("broke off")
    expect(page.locator("#chat-log .msg-draft")).to_have_count(0)
    expect(page.locator("#chat-log .msg-assistant")).to_have_count(0)
    expect(page.locator("#chat-log .msg-user .text")).to_have_text("What do I drink?")
