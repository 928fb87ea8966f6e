"""Forgetting a file: its passages, what its digest wrote into the source's block (and
that block's history), and what the digest runs recorded of it."""

from __future__ import annotations

import pytest

from agents.models import Run
from config.errors import Conflict, NotFound
from forgetting.redaction import MARKER
from forgetting.services import purge_file
from memory.models import Passage
from sources import ingest
from sources import services as source_services
from sources.models import SourceFile
from tests.factories import TEST_EMBEDDING
from tests.forgetting.support import grep_database, history, value

LABEL = "handbook"
SECRET = "The vault code is Tangerine-Walrus. Only the night guard may open it."


def source_of(user, agent):
    source = source_services.create_source(user, name=LABEL, embedding=TEST_EMBEDDING)
    source_services.attach_source(agent, source)
    return source


def digested(source, llm, name: str, text: str, note: str = "") -> SourceFile:
    """Upload and process a file; the document agent, if any, writes `note` into the block."""
    upload = source_services.upload_file(
        source, file_name=name, content_type="text/plain", data=text.encode()
    )
    if note:
        llm.sleeper.tool_call("memory_insert", {"label": LABEL, "new_str": note})
    assert ingest.process_file(upload.id) == "completed"
    return upload


def test_a_file_and_everything_derived_from_it_are_forgotten(make_agent, user, llm):
    agent = make_agent(name="chat", enable_sleeptime=True)
    source = source_of(user, agent)
    lunch = digested(source, llm, "lunch.txt", "Lunch is served at noon.", "Lunch: noon")
    secret = digested(
        source, llm, "vault.txt", SECRET, "Vault code Tangerine-Walrus, night guard only"
    )
    assert value(agent, LABEL) == "Lunch: noon\nVault code Tangerine-Walrus, night guard only"
    assert {"agents_run", "memory_block", "memory_blockversion", "memory_passage"} <= set(
        grep_database("Tangerine-Walrus")
    )

    tombstone = purge_file(agent, secret.id, who="7")

    assert not SourceFile.objects.filter(pk=secret.pk).exists()
    assert set(Passage.objects.values_list("file_id", flat=True)) == {lunch.pk}
    assert value(agent, LABEL) == ""  # rebuilt from the remaining files by the re-digest
    versions = history(agent, LABEL)
    assert [v.value for v in versions] == ["", "Lunch: noon", MARKER, ""]
    assert versions[2].previous_value == "Lunch: noon"  # from before the file: kept
    (run,) = Run.objects.filter(metadata__file_id=secret.pk)
    assert run.transcript == ""
    assert {call["arguments"] for call in run.metadata["tool_calls"]} == {MARKER}
    assert grep_database("Tangerine-Walrus") == {}
    assert grep_database("night guard") == {}
    assert tombstone.kind == "file"
    assert tombstone.details["passages"] == 1 and tombstone.details["files"] == 1

    # The re-digest that delete_file queued (run here, as a worker would) brings none back.
    assert ingest.digest_source(source.id, agent.id, True) == "completed"
    assert grep_database("Tangerine-Walrus") == {}


def test_a_file_still_being_processed_is_refused_and_kept(make_agent, user, llm):
    agent = make_agent()
    source = source_of(user, agent)
    upload = source_services.upload_file(
        source, file_name="vault.txt", content_type="text/plain", data=SECRET.encode()
    )

    with pytest.raises(Conflict, match="still being processed"):
        purge_file(agent, upload.id, who="7")

    assert SourceFile.objects.filter(pk=upload.pk).exists()


def test_a_file_of_a_source_the_agent_is_not_attached_to_is_not_found(make_agent, user, llm):
    agent = make_agent()
    other = make_agent(name="other")
    source = source_of(user, other)
    upload = digested(source, llm, "vault.txt", SECRET)

    with pytest.raises(NotFound):
        purge_file(agent, upload.id, who="7")

    assert SourceFile.objects.filter(pk=upload.pk).exists()
