"""The ledger and the spend chart in the browser: a run that changed memory and, after a
pause, a trigger recorded as skipped, both on the agent's ledger and told apart by its
outcome filter; the sleep-time panel's chart shows the day's tokens as the runs spent
them."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from playwright.sync_api import expect

from agents.models import Run
from tests.e2e.background import in_background
from tests.e2e.steps import create_agent, log_in
from tests.llm_server import ScriptedLLM


def _background_tokens(agent_id: str) -> tuple[int, int]:
    """The tokens and the number of the agent's background runs."""
    found = list(Run.objects.background().filter(primary_agent_id=agent_id))
    return sum(run.prompt_tokens + run.completion_tokens for run in found), len(found)


def test_the_ledger_filters_runs_by_outcome_and_the_chart_shows_their_tokens(
    live_server_url: str,
    worker: Any,
    llm_server: ScriptedLLM,
    person: Any,
    django_db_blocker: Any,
    page: Any,
) -> None:
    llm_server.reset()
    log_in(page, live_server_url, *person)
    agent_url = create_agent(page, live_server_url, name="ledgered", human="Name: unknown")
    agent_id = agent_url.rstrip("/").rsplit("/", 1)[1]
    panel = page.locator("#sleeptime")
    panel.get_by_label("After turns").fill("1")
    panel.get_by_role("button", name="Save", exact=True).click()
    expect(panel).to_contain_text("Saved.")

    # A turn starts a run, and its edit lands.
    llm_server.sleeper.tool_call(
        "memory_replace", {"label": "human", "old_str": "unknown", "new_str": "Ada"}
    )
    page.get_by_label("Message").fill("I am Ada")
    page.get_by_role("button", name="Send", exact=True).click()
    expect(page.locator(".panel-memory")).to_contain_text("Name: Ada", timeout=15_000)
    expect(page.locator("#chat-log .msg-run")).to_contain_text("1 block changed")

    # Paused, the next turn's trigger is recorded as skipped.
    panel.get_by_role("button", name="Pause").click()
    expect(panel).to_contain_text("Paused: triggers are recorded as skipped")
    page.get_by_label("Message").fill("I like tea")
    page.get_by_role("button", name="Send", exact=True).click()
    expect(page.locator("#chat-log")).to_contain_text("echo: I like tea")

    page.get_by_role("link", name="Ledger", exact=True).click()
    rows = page.locator("table.ledger tbody tr")
    expect(rows).to_have_count(2)
    page.get_by_label("Outcome").select_option("skipped")
    page.get_by_role("button", name="Filter").click()
    expect(rows).to_have_count(1)
    expect(rows).to_contain_text("skipped")
    expect(rows).to_contain_text("sleep-time is paused for this agent")
    page.get_by_label("Outcome").select_option("applied")
    page.get_by_role("button", name="Filter").click()
    expect(rows).to_have_count(1)
    expect(rows.locator(".badge")).to_have_text("applied")
    rows.get_by_role("link").click()
    page.wait_for_url(re.compile(r"/runs/run-[0-9a-f-]+/$"))
    expect(page.locator(".run-facts")).to_contain_text("applied")

    tokens, count = in_background(django_db_blocker, _background_tokens, agent_id)
    assert tokens > 0 and count == 2
    page.goto(agent_url)
    today = datetime.now(UTC).date().isoformat()
    bar = page.locator(f'rect.spend-bar[data-date="{today}"]')
    expect(bar).to_have_attribute("data-tokens", str(tokens))
    expect(bar.locator("title")).to_have_text(f"{today}: {tokens:,} tokens in 2 runs")
    page.get_by_text("Spend per day").click()
    expect(page.locator(f"#spend-{today}")).to_have_text(re.compile(rf"{today}\s*2\s*{tokens:,}"))
