"""An upload end to end in one process: parsed, embedded, searchable, digested."""

from __future__ import annotations

from agents.models import Agent, Run
from memory import services as memory_services
from sources import ingest, services
from sources.models import SourceFile
from tests.sources.pdfs import text_pdf


def test_an_uploaded_pdf_becomes_passages_and_a_digest_block(make_agent, user, llm):
    agent = make_agent(name="chat", enable_sleeptime=True)
    source = services.create_source(
        user, name="employee_handbook", description="The handbook", embedding="openai/e"
    )
    services.attach_source(agent, source)
    pdf = text_pdf(["Vacation is 25 days a year.", "Remote work needs manager approval."])
    upload = services.upload_file(
        source, file_name="handbook.pdf", content_type="application/pdf", data=pdf
    )
    llm.sleeper.tool_call(
        "memory_insert", {"label": "employee_handbook", "new_str": "Vacation: 25 days/year"}
    )
    assert ingest.process_file(upload.id) == "completed"

    upload = SourceFile.objects.get(pk=upload.id)
    assert upload.total_pages == 2 and upload.total_chunks == 2
    assert upload.windows_digested == upload.total_windows == 1
    found = memory_services.search_passages(agent, "vacation days", top_k=1)
    assert found and "25 days" in found[0].text and found[0].page == 1
    block = memory_services.get_agent_block(agent, "employee_handbook")
    assert block.value == "Vacation: 25 days/year"
    run = Run.objects.get(trigger="digest")
    assert run.status == "completed" and run.metadata["tool_calls"]
    assert not Agent.objects.filter(name="chat-doc-sleeptime").exists()
