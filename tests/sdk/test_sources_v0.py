"""Data sources through the official letta-client 0.1.x SDK (Fern), with a real worker.

0.1.324 is the generation Letta's data-source example for sleep-time agents was written
for: `sources.create`, `agents.sources.attach`, `sources.files.upload` and a
`while job.status != "completed": job = client.jobs.retrieve(job.id)` loop. The check runs
from `sources_v0_checks.py` in `.venv-sdk0`, against the live server, with a fresh user's
key; this side writes the PDF, scripts the fake model and reads what it was asked.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.live import active_run_ids, wait_until
from tests.sdk.v0 import run_v0_check
from tests.sources.pdfs import text_pdf

HANDBOOK_PAGES = [
    "Employee Handbook of Acme Corp.\n"
    "Vacation policy: every employee receives 25 paid vacation days per year.\n"
    "Unused vacation days carry over until March 31 of the next year.",
    "Remote work policy: employees may work remotely two days per week.\n"
    "Remote work needs the approval of the manager.",
    "Expense policy: submit receipts within 30 days through the expense portal.\n"
    "The security badge must be worn at all times in the office.",
]
# Must match LEARNED in sources_v0_checks.py.
LEARNED = "Vacation: 25 paid days a year; unused days carry over until March 31."


@pytest.fixture(autouse=True)
def _runs_settle(request: pytest.FixtureRequest, django_db_blocker: Any) -> Any:
    """After a test that used the worker, let its runs end before the next test scripts."""
    yield
    if "worker" in request.fixturenames:
        with django_db_blocker.unblock():
            wait_until(lambda: not active_run_ids(), timeout=20, what="the test's runs to end")


def run_check(name: str, live_server_url: str, api_key: str, *args: str) -> None:
    run_v0_check("sources_v0_checks.py", name, live_server_url, api_key, *args)


def user_text(request: dict[str, Any]) -> str:
    """The text of the user messages of one chat request the fake model received."""
    texts = []
    for message in request["messages"]:
        if message.get("role") == "user":
            content = message.get("content")
            if isinstance(content, list):
                content = "".join(part.get("text", "") for part in content)
            texts.append(str(content))
    return "\n".join(texts)


def test_the_0_1_sdk_runs_letta_s_data_source_example_with_a_worker(
    live_server_url, api_key, worker, llm, tmp_path
):
    pdf = tmp_path / "handbook.pdf"
    pdf.write_bytes(text_pdf(HANDBOOK_PAGES))
    # The document agent reads the handbook and writes what it learned into the block
    # named after the source; its next request gets the default memory_finish_edits.
    llm.sleeper.tool_call("memory_insert", {"label": "employee_handbook", "new_str": LEARNED})

    run_check("seed_data_source_example", live_server_url, api_key, str(pdf))

    assert llm.sleeper.pending_replies == 0
    digest_requests = [r for r in llm.sleeper.requests if "employee_handbook" in user_text(r)]
    assert len(digest_requests) == 2, [user_text(r)[:200] for r in llm.sleeper.requests]
    window = user_text(digest_requests[0])
    assert "Part 1 of 1" in window, window[:300]
    for page in HANDBOOK_PAGES:
        assert page.splitlines()[1] in window, (page, window)
    # The document agent was told how to read the source: its description.
    system = digest_requests[0]["messages"][0]["content"]
    assert "Provides reference information for the employee handbook" in system
    # The primary itself was never asked anything.
    assert llm.main.requests == []
