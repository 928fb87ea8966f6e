"""A document in the browser: create a source, upload a PDF, watch its progress reach
done without reloading, and find what the sleep-time digest learned in memory."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from playwright.sync_api import expect

from tests.e2e.steps import create_agent, log_in
from tests.llm_server import ScriptedLLM
from tests.sources.pdfs import text_pdf


def test_an_uploaded_pdf_is_processed_live_and_digested_into_a_block(
    live_server_url: str,
    worker: Any,
    llm_server: ScriptedLLM,
    person: Any,
    tmp_path: Path,
    page: Any,
) -> None:
    llm_server.reset()
    pdf = tmp_path / "handbook.pdf"
    pdf.write_bytes(text_pdf(["Vacation is 25 days a year.", "Remote work needs approval."]))
    log_in(page, live_server_url, *person)
    create_agent(page, live_server_url, name="reader", human="")

    sources = page.locator("#sources")
    sources.get_by_text("New source").click()
    sources.get_by_label("Name").fill("employee_handbook")
    sources.get_by_role("button", name="Create and attach").click()
    expect(sources).to_contain_text("employee_handbook")

    llm_server.sleeper.tool_call(
        "memory_insert", {"label": "employee_handbook", "new_str": "Vacation: 25 days a year"}
    )
    sources.get_by_label("Upload a file").set_input_files(str(pdf))
    sources.get_by_role("button", name="Upload", exact=True).click()

    row = sources.locator("li.source-file")
    expect(row).to_contain_text("handbook.pdf")
    # Progress arrives over the websocket as the worker goes; no reload.
    expect(row).to_contain_text("completed", timeout=20_000)
    expect(row.locator("progress")).to_have_attribute("value", "100")
    expect(page.locator(".panel-memory")).to_contain_text("Vacation: 25 days a year")
