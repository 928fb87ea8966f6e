"""An Agent File in the browser: a bad file's problem shown on the form, then the file
imported and its agent opened with its memory and conversation."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from playwright.sync_api import expect

from tests.e2e.steps import log_in

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "agentfiles" / "letta_sleeptime.af"


def test_importing_an_agent_file_opens_the_agent_and_a_bad_one_says_why(
    live_server_url: str, person: Any, tmp_path: Path, page: Any
) -> None:
    broken = json.loads(FIXTURE.read_text())
    broken["agents"][0]["agent_type"] = "voice_convo_agent"
    bad = tmp_path / "broken.af"
    bad.write_text(json.dumps(broken))
    log_in(page, live_server_url, *person)

    page.get_by_text("Import agent file").click()
    page.get_by_label("Agent file").set_input_files(str(bad))
    page.get_by_role("button", name="Import").click()
    expect(page.get_by_role("alert")).to_contain_text(
        "agents[0].agent_type: 'voice_convo_agent' is not an agent type Reverie runs"
    )

    page.get_by_label("Agent file").set_input_files(str(FIXTURE))
    page.get_by_role("button", name="Import").click()
    page.wait_for_url(re.compile(r"/agents/agent-[0-9a-f-]+/$"))
    expect(page.locator(".page-head h1")).to_contain_text("Juniper")
    expect(page.locator(".panel-memory")).to_contain_text("I am Juniper. I speak plainly")
    expect(page.locator("#chat-log")).to_contain_text("The lower leaves of my tomatoes")
    expect(page.get_by_role("link", name="Export")).to_be_visible()
