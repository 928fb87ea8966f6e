"""The node.js examples of Letta's sleep-time docs, run with the SDK of their era.

`@letta-ai/letta-client` 0.1.132 is the npm version whose API the docs' TypeScript
examples use: `new LettaClient({token})`, `agents.create({enableSleeptime: true})`,
`groups.modify(id, {managerConfig})`, `sources.create`, `agents.sources.attach`, and an
upload of `new Blob([readFileSync("handbook.pdf")])`, a part named `blob` typed
`application/octet-stream` whose bytes start with `%PDF-`. `sleeptime_docs_v0.cjs` runs
those steps; this side writes the PDF, scripts the model and checks what a user of the
example would see: the handbook processed, what the sleep-time agent learned from it in
the agent's block, and a reply.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.clients.harness import client_env, node_script
from tests.factories import TEST_EMBEDDING, TEST_MODEL
from tests.live import active_run_ids, wait_until
from tests.sources.pdfs import text_pdf

HANDBOOK_PAGES = [
    "Employee Handbook of Acme Corp.\n"
    "Vacation policy: every employee receives 25 paid vacation days per year.\n"
    "Unused vacation days carry over until March 31 of the next year.",
    "Remote work policy: employees may work remotely two days per week.",
]
LEARNED = "Vacation: 25 paid days a year; unused days carry over until March 31."
QUESTION = "How many vacation days do I get?"
ANSWER = "You get 25 paid vacation days a year."


@pytest.fixture(autouse=True)
def _runs_settle(django_db_blocker: Any) -> Any:
    """Let the test's background runs end before the next test scripts the model."""
    yield
    with django_db_blocker.unblock():
        wait_until(lambda: not active_run_ids(), timeout=20, what="the test's runs to end")


def test_the_docs_node_example_uploads_a_nameless_blob_and_the_agent_learns_from_it(
    live_server_url, api_key, worker, llm, home, workdir, access_log
):
    pdf = workdir / "handbook.pdf"
    pdf.write_bytes(text_pdf(HANDBOOK_PAGES))
    # The document's sleep-time agent writes what it learned into the source's block; the
    # primary answers the question from its memory.
    llm.sleeper.tool_call("memory_insert", {"label": "employee_handbook", "new_str": LEARNED})
    llm.reply(ANSWER)

    seen = node_script(
        "sleeptime_docs_v0.cjs",
        live_server_url,
        api_key,
        str(pdf),
        TEST_MODEL,
        TEST_EMBEDDING,
        QUESTION,
        env=client_env(live_server_url, api_key, home),
        cwd=workdir,
        log=access_log,
    )

    assert (seen["frequencyBefore"], seen["frequencyAfter"]) == (5, 2), seen
    assert seen["jobStatuses"][-1] == "completed", seen
    assert [f["status"] for f in seen["files"]] == ["completed"], seen
    assert LEARNED in seen["blockValue"], seen
    assert seen["replies"] == [ANSWER], seen
    # The handbook's text reached the document agent, and what it learned reached the
    # primary's prompt when the user asked.
    digest = [r for r in llm.sleeper.requests if "25 paid vacation days" in str(r["messages"])]
    assert digest, [str(r["messages"])[:300] for r in llm.sleeper.requests]
    asked = [r for r in llm.main.requests if QUESTION in str(r["messages"])]
    assert asked and LEARNED in asked[-1]["messages"][0]["content"], asked
    assert access_log.failures() == [], access_log.describe()
