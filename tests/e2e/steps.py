"""What a person does in the browser, step by step, for the browser tests."""

from __future__ import annotations

import re
from typing import Any


def log_in(page: Any, base_url: str, username: str, password: str) -> None:
    page.goto(f"{base_url}/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"{base_url}/agents/")


def create_agent(page: Any, base_url: str, *, name: str, human: str) -> str:
    """Create an agent with sleep-time through the form, as a person would; its URL."""
    page.goto(f"{base_url}/agents/new/")
    page.get_by_label("Name").fill(name)
    page.get_by_label("Model").fill("openai/gpt-4.1")
    page.get_by_label("Human").fill(human)
    page.get_by_label("Sleep-time agent").check()
    page.get_by_role("button", name="Create agent").click()
    page.wait_for_url(re.compile(r"/agents/agent-[0-9a-f-]+/$"))
    return str(page.url)
