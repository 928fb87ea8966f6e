"""An evaluation in the browser: started from the agent's page, carried out by the worker
while the page follows its progress without a reload, then its report: the per-arm
table, the plot with a dot per arm, and the memory each arm had when it was asked."""

from __future__ import annotations

import re
from typing import Any

from playwright.sync_api import expect

from tests.ade.evaluations import APPLES, NOTE, answers_from_memory
from tests.e2e.steps import create_agent, log_in
from tests.llm_server import ScriptedLLM


def test_an_evaluation_started_in_the_browser_runs_live_to_its_report(
    live_server_url: str,
    worker: Any,
    llm_server: ScriptedLLM,
    person: Any,
    page: Any,
) -> None:
    llm_server.reset()
    # The copies answer right only when sleep-time wrote the fact into their memory.
    llm_server.main.answer_with(answers_from_memory)
    llm_server.sleeper.tool_call("memory_insert", {"label": "human", "new_str": NOTE})
    log_in(page, live_server_url, *person)
    agent_url = create_agent(page, live_server_url, name="counter", human="")
    agent_id = agent_url.rstrip("/").rsplit("/", 1)[1]

    page.get_by_role("link", name="Evaluate", exact=True).click()
    page.wait_for_url(re.compile(rf"/evaluations/\?agent={agent_id}"))
    expect(page.get_by_label("Agent to copy")).to_have_value(agent_id)
    page.get_by_label("Your own material").check()
    page.get_by_label("JSON Lines", exact=True).fill(APPLES)
    expect(page.get_by_label("off: no sleep-time")).to_be_checked()
    expect(page.get_by_label("on: sleep-time with the agent's model")).to_be_checked()
    # Sleep-time's model is held, so the page can be seen between the two steps.
    llm_server.sleeper.hold()
    try:
        page.get_by_role("button", name="Start evaluation").click()

        page.wait_for_url(re.compile(r"/evaluations/evaluation-[0-9a-f-]+/$"))
        expect(page.locator(".messages")).to_contain_text("Estimated: about")
        expect(page.locator(".messages")).to_contain_text("an estimate made before it ran")
        # Whatever follows arrives by polling: a reload would lose this mark.
        page.evaluate("window.stayedOnThePage = true")
        live = page.locator("#evaluation-live")
        bar = live.locator("progress")
        expect(bar).to_have_attribute("max", "2")
        # The arm without sleep-time is done; the other waits for its reflection.
        expect(bar).to_have_attribute("value", "1", timeout=60_000)
        expect(live).to_contain_text("1 of 2 steps (50%)")
        expect(live.locator(".badge")).to_have_text("running")
        expect(live.get_by_role("button", name="Cancel")).to_be_visible()
        partial = page.locator("#evaluation-report table.evaluation-arms tbody tr")
        expect(partial).to_have_count(1)
        expect(page.locator("#evaluation-report")).to_contain_text("So far, from 1 of 2 steps.")
    finally:
        llm_server.sleeper.release()
    expect(bar).to_have_attribute("value", "2", timeout=60_000)
    expect(live.locator(".badge")).to_have_text("completed", timeout=10_000)
    expect(live).to_contain_text("2 of 2 steps (100%)")
    expect(live.get_by_role("button", name="Cancel")).to_have_count(0)
    assert page.evaluate("window.stayedOnThePage") is True

    report = page.locator("#evaluation-report")
    rows = report.locator("table.evaluation-arms tbody tr")
    expect(rows).to_have_count(2)
    expect(rows.nth(0)).to_contain_text("off")
    expect(rows.nth(0)).to_contain_text("0% (0/1)")
    expect(rows.nth(1)).to_contain_text("100% (1/1)")
    dots = report.locator(".evaluation-plot svg circle")
    expect(dots).to_have_count(2)
    expect(dots.nth(0)).to_have_attribute("data-arm", "off")
    expect(dots.nth(1)).to_have_attribute("data-arm", "on")
    expect(report.locator("tr.answer-correct")).to_contain_text("You have 7 apples.")

    memory = report.locator('details.evaluation-memory[data-arm="on"]')
    expect(memory.locator("pre", has_text=NOTE)).to_be_hidden()
    memory.locator("summary").click()
    expect(memory.locator("pre", has_text=NOTE)).to_be_visible()

    # Finished, it is listed as such.
    page.get_by_role("link", name="Evaluations", exact=True).first.click()
    expect(page.locator("table.evaluations tbody tr").first).to_contain_text("completed")
    llm_server.reset()
