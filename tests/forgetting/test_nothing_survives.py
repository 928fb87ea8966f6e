"""The literal check: after forgetting a matter, a search of the whole database for its
text finds nothing: not in messages, transcripts, block versions, passages, summaries,
insights, or the tool-call arguments runs keep in their metadata."""

from __future__ import annotations

from agents.models import Agent, Insight
from forgetting import tasks
from forgetting.models import ForgetJob
from forgetting.services import ForgetSpec, forget
from sources import ingest
from sources import services as source_services
from tests.factories import TEST_EMBEDDING, pair, passage, run_sleeper_now, say
from tests.forgetting.support import grep_database

MATTER = "Project Zephyr-Okapi"


def test_after_forgetting_a_matter_the_database_holds_its_text_nowhere(make_agent, user, llm):
    primary, sleeper, group = pair(make_agent, blocks={"human": "Name: Ada"})
    # A conversation about it, read by the sleep-time agent, which writes it down.
    say(primary, f"I lead {MATTER}, launching May 3")
    llm.sleeper.tool_call("memory_insert", {"label": "human", "new_str": f"Leads {MATTER}"})
    run_sleeper_now(group)
    # A search whose arguments and results quote it.
    llm.tool_call("conversation_search", {"query": MATTER.upper()})
    say(primary, "what did I say I lead?")
    # An archival passage, the summaries, an insight.
    passage(primary, f"The budget of {MATTER} is two million")
    Agent.objects.filter(pk__in=[primary.pk, sleeper.pk]).update(summary=f"Ada leads {MATTER}.")
    Insight.objects.create(agent=primary, title=f"{MATTER} is late", body="Tell Ada.")
    # A document about it, digested into its source's block by a run that keeps its calls.
    source = source_services.create_source(user, name="specs", embedding=TEST_EMBEDDING)
    source_services.attach_source(primary, source)
    upload = source_services.upload_file(
        source, file_name="spec.txt", content_type="text/plain", data=f"{MATTER} spec.".encode()
    )
    llm.sleeper.tool_call("memory_insert", {"label": "specs", "new_str": f"{MATTER}: a spec"})
    assert ingest.process_file(upload.id) == "completed"
    before = grep_database(MATTER)
    for table in (
        "agents_agent",
        "agents_insight",
        "agents_message",
        "agents_run",
        "memory_block",
        "memory_blockversion",
        "memory_passage",
    ):
        assert table in before, table

    job = forget(primary, ForgetSpec(kind="matter", text=MATTER.lower()), who="7")
    assert isinstance(job, ForgetJob)
    assert tasks.run_forget_job(job.id) == "completed"

    assert grep_database(MATTER) == {}
    assert grep_database("zephyr") == {}
    assert say(primary, "hello").stop_reason == "end_turn"
