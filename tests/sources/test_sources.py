"""Sources as a user manages them: creating, renaming and deleting them, uploading files
(and duplicates), attaching them to agents and what that does to the agents' memory.

Processing runs in the test's own process (`sources.ingest`): the on-commit enqueue never
fires inside a test transaction.
"""

from __future__ import annotations

import pytest

from agents import sleeptime
from config.errors import InvalidRequest, NotFound, PayloadTooLarge, UnsupportedMediaType
from memory import services as memory_services
from memory.models import Block, BlockVersion, Passage
from sources import ingest, services
from sources.models import Source, SourceFile
from sources.schemas import FileOut, job_state
from tests.factories import make_user

EMBEDDING = "openai/text-embedding-3-small"
HANDBOOK = "Vacation is 25 days a year. Unused vacation expires at the end of March."
REMOTE = "Remote work needs written approval from a manager. Fridays are remote by default."


def new_source(user, name: str = "employee_handbook", **fields):
    fields.setdefault("description", "The staff handbook")
    return services.create_source(user, name=name, embedding=EMBEDDING, **fields)


def upload_text(source, text: str, name: str = "handbook.txt", **options) -> SourceFile:
    return services.upload_file(
        source, file_name=name, content_type="text/plain", data=text.encode(), **options
    )


def processed(source, text: str, name: str = "handbook.txt") -> SourceFile:
    upload = upload_text(source, text, name=name)
    assert ingest.process_file(upload.id) == "completed"
    return SourceFile.objects.get(pk=upload.id)


def sleeper_of(agent):
    (sleeper,) = sleeptime.sleeptime_agents(sleeptime.group_of(agent))
    return sleeper


def has_block(agent, label: str) -> bool:
    try:
        memory_services.get_agent_block(agent, label)
    except NotFound:
        return False
    return True


def window_texts(llm) -> list[str]:
    """The part of the document each sleeper request was given to read."""
    texts = []
    for request in llm.sleeper.requests:
        users = [m["content"] for m in request["messages"] if m["role"] == "user"]
        texts += [text for text in users if isinstance(text, str)]
    return texts


# --- Creating, listing, updating, deleting -------------------------------------------------


def test_a_created_source_is_listed_for_its_owner_only(user, db):

    handbook = new_source(user, instructions="Note every number.")
    policies = new_source(user, name="policies", description="")
    stranger = make_user("stranger")
    new_source(stranger, name="employee_handbook")

    assert [s.name for s in services.list_sources(user)] == ["employee_handbook", "policies"]
    assert [s.id for s in services.list_sources(user, name="policies")] == [policies.id]
    found = services.get_source_by_name(user, "employee_handbook")
    assert found.id == handbook.id
    assert found.description == "The staff handbook"
    assert found.instructions == "Note every number."
    assert found.embedding_handle == EMBEDDING
    assert found.embedding_chunk_size == 300
    with pytest.raises(NotFound):
        services.get_source_for_user(stranger, handbook.id)


def test_a_second_source_with_the_same_name_is_refused(user):
    new_source(user)

    with pytest.raises(InvalidRequest, match="already exists"):
        new_source(user)

    assert Source.objects.filter(owner=user).count() == 1


@pytest.mark.parametrize("name", ["", "hand/book", "notes<script>", "Handbuch_\u00fc"])
def test_a_name_that_cannot_label_a_memory_block_is_refused(user, name):
    with pytest.raises(InvalidRequest, match="source name may contain"):
        new_source(user, name=name)

    assert not Source.objects.filter(owner=user).exists()


def test_a_source_with_an_embedding_that_is_not_a_handle_is_refused(user):
    with pytest.raises(InvalidRequest, match="provider/model"):
        services.create_source(user, name="handbook", embedding="text-embedding-3-small")


def test_updating_a_source_changes_its_description_instructions_and_metadata(user):
    source = new_source(user)

    services.update_source(
        source,
        {"description": "Rules for staff", "instructions": "Keep dates", "metadata": {"v": 2}},
    )

    stored = Source.objects.get(pk=source.id)
    assert stored.description == "Rules for staff"
    assert stored.instructions == "Keep dates"
    assert stored.metadata == {"v": 2}
    assert stored.name == "employee_handbook"


def test_renaming_to_a_taken_or_invalid_name_is_refused(user):
    source = new_source(user)
    new_source(user, name="policies")

    with pytest.raises(InvalidRequest, match="already exists"):
        services.update_source(source, {"name": "policies"})
    with pytest.raises(InvalidRequest, match="source name may contain"):
        services.update_source(source, {"name": "bad/name"})

    assert Source.objects.get(pk=source.id).name == "employee_handbook"


def test_renaming_a_source_relabels_its_digest_block_on_the_agent_and_its_sleeptime_agent(
    make_agent, user
):
    agent = make_agent(name="chat", enable_sleeptime=True)
    source = new_source(user)
    services.attach_source(agent, source)
    block = ingest.digest_block(agent, source)
    memory_services.update_block(
        block.id, actor=memory_services.Actor.system(), value="Vacation: 25 days"
    )

    services.update_source(source, {"name": "staff_rules"})

    for holder in (agent, sleeper_of(agent)):
        relabelled = memory_services.get_agent_block(holder, "staff_rules")
        assert relabelled.id == block.id
        assert relabelled.value == "Vacation: 25 days"
        assert not has_block(holder, "employee_handbook")
    assert Block.objects.get(pk=block.id).label == "staff_rules"


def test_deleting_a_source_deletes_its_files_and_passages(user, llm):
    source = new_source(user)
    upload = processed(source, HANDBOOK)
    assert Passage.objects.filter(file_id=upload.id).exists()

    services.delete_source(source)

    assert not Source.objects.filter(pk=source.id).exists()
    assert not SourceFile.objects.filter(pk=upload.id).exists()
    assert not Passage.objects.filter(file_id=upload.id).exists()
    assert not Passage.objects.filter(source_id=source.id).exists()


# --- Uploading -----------------------------------------------------------------------------


def test_an_unsupported_file_type_is_refused_with_415_and_nothing_is_stored(user):
    source = new_source(user)

    with pytest.raises(UnsupportedMediaType, match="not a supported file type") as refused:
        services.upload_file(
            source, file_name="photo.png", content_type="image/png", data=b"\x89PNG\r\n"
        )

    assert refused.value.status == 415
    assert "photo.png" in refused.value.message
    assert not SourceFile.objects.filter(source=source).exists()


def test_an_upload_over_the_size_limit_is_refused_with_413(user, settings):
    settings.MAX_UPLOAD_MB = 1
    source = new_source(user)

    with pytest.raises(PayloadTooLarge, match="limit is 1 MB") as refused:
        upload_text(source, "a" * (1024 * 1024 + 1))

    assert refused.value.status == 413
    assert not SourceFile.objects.filter(source=source).exists()
    # Exactly at the limit is still accepted.
    assert upload_text(source, "a" * (1024 * 1024)).file_size == 1024 * 1024


def test_an_empty_upload_is_refused(user):
    source = new_source(user)

    with pytest.raises(InvalidRequest, match=r"'handbook\.txt' is empty"):
        upload_text(source, "")

    assert not SourceFile.objects.filter(source=source).exists()


def test_an_upload_answers_at_once_as_a_pending_file_and_a_created_job(user, llm):
    source = new_source(user)

    upload = upload_text(source, HANDBOOK)

    shown = FileOut.from_orm(upload).model_dump()
    assert shown["processing_status"] == "pending"
    assert shown["status"] == "created"
    assert shown["file_name"] == "handbook.txt"
    assert shown["source_id"] == shown["folder_id"] == source.id
    job = job_state(upload)
    assert job["status"] == "created"
    assert job["metadata"]["file_id"] == upload.id
    assert "error" not in job["metadata"]
    # Nothing was processed yet: the worker does that.
    assert llm.embedding_requests == []
    assert not Passage.objects.filter(file_id=upload.id).exists()
    stored = SourceFile.objects.get(pk=upload.id)
    assert bytes(stored.content) == HANDBOOK.encode()
    assert stored.file_size == len(HANDBOOK)


# --- Duplicates ----------------------------------------------------------------------------


def test_identical_content_with_skip_returns_the_existing_file(user):
    source = new_source(user)
    first = upload_text(source, HANDBOOK)

    again = upload_text(source, HANDBOOK, name="copy.txt", duplicate_handling="skip")

    assert again.id == first.id
    assert SourceFile.objects.filter(source=source).count() == 1


def test_identical_content_with_the_default_suffix_returns_the_existing_file(user, llm):
    source = new_source(user)
    first = processed(source, HANDBOOK)
    embedded = len(llm.embedding_requests)

    again = upload_text(source, HANDBOOK, name="handbook-copy.txt")

    assert again.id == first.id
    assert again.processing_status == "completed"
    assert SourceFile.objects.filter(source=source).count() == 1
    assert len(llm.embedding_requests) == embedded


def test_a_duplicate_with_error_handling_is_refused(user):
    source = new_source(user)
    first = upload_text(source, HANDBOOK)

    with pytest.raises(InvalidRequest, match="the same content"):
        upload_text(source, HANDBOOK, name="other.txt", duplicate_handling="error")
    with pytest.raises(InvalidRequest, match="the same name"):
        upload_text(source, REMOTE, duplicate_handling="error")

    assert list(SourceFile.objects.filter(source=source).values_list("id", flat=True)) == [first.id]


def test_replace_deletes_the_old_file_and_its_passages_and_processes_the_new_one(
    make_agent, user, llm
):
    agent = make_agent(name="chat")
    source = new_source(user)
    services.attach_source(agent, source)
    old = processed(source, HANDBOOK)
    old_passages = list(Passage.objects.filter(file_id=old.id).values_list("id", flat=True))
    assert old_passages

    new = upload_text(source, REMOTE, duplicate_handling="replace")

    assert new.id != old.id and new.file_name == "handbook.txt"
    assert not SourceFile.objects.filter(pk=old.id).exists()
    assert not Passage.objects.filter(pk__in=old_passages).exists()
    assert ingest.process_file(new.id) == "completed"
    texts = [p.text for p in memory_services.search_passages(agent, "remote approval manager")]
    assert texts and all("Remote work" in text for text in texts)
    assert not any("Vacation" in text for text in texts)


def test_the_same_name_with_other_content_is_stored_with_a_numbered_suffix(user):
    source = new_source(user)
    upload_text(source, HANDBOOK)

    second = upload_text(source, REMOTE)
    third = upload_text(source, "Parking is free for staff.")

    assert second.file_name == "handbook_(1).txt"
    assert third.file_name == "handbook_(2).txt"
    assert second.original_file_name == "handbook.txt"
    assert SourceFile.objects.filter(source=source).count() == 3


# --- Attaching and detaching ---------------------------------------------------------------


def digested_agent(make_agent, user, llm):
    """A sleep-time agent attached to a source whose one file was digested into its block."""
    agent = make_agent(name="chat", enable_sleeptime=True)
    source = new_source(user)
    services.attach_source(agent, source)
    llm.sleeper.tool_call(
        "memory_insert", {"label": "employee_handbook", "new_str": "Vacation: 25 days a year"}
    )
    upload = processed(source, HANDBOOK)
    block = memory_services.get_agent_block(agent, "employee_handbook")
    assert block.value == "Vacation: 25 days a year"
    return agent, source, upload, block


def test_detaching_a_source_removes_its_block_from_the_agent_and_its_sleeptime_agent(
    make_agent, user, llm
):
    agent, source, _, block = digested_agent(make_agent, user, llm)
    sleeper = sleeper_of(agent)
    assert has_block(sleeper, "employee_handbook")
    versions = list(BlockVersion.objects.filter(block=block).values_list("number", "value"))

    services.detach_source(agent, source)

    assert not has_block(agent, "employee_handbook")
    assert not has_block(sleeper, "employee_handbook")
    kept = Block.objects.get(pk=block.id)
    assert kept.value == "Vacation: 25 days a year"
    assert [(v.number, v.value) for v in memory_services.block_history(kept, ascending=True)] == (
        versions
    )
    assert not source.agents.filter(pk=agent.pk).exists()
    assert memory_services.search_passages(agent, "vacation days") == []
    with pytest.raises(NotFound):
        services.detach_source(agent, source)


def test_deleting_a_source_removes_its_block_from_both_agents_and_deletes_its_passages(
    make_agent, user, llm
):
    agent, source, upload, block = digested_agent(make_agent, user, llm)
    sleeper = sleeper_of(agent)
    versions = BlockVersion.objects.filter(block=block).count()

    services.delete_source(source)

    assert not has_block(agent, "employee_handbook")
    assert not has_block(sleeper, "employee_handbook")
    assert Block.objects.get(pk=block.id).value == "Vacation: 25 days a year"
    assert BlockVersion.objects.filter(block=block).count() == versions
    assert not Passage.objects.filter(file_id=upload.id).exists()
    assert memory_services.search_passages(agent, "vacation days") == []


def test_attaching_a_source_with_processed_files_then_digesting_fills_the_block(
    make_agent, user, llm
):
    source = new_source(user)
    processed(source, HANDBOOK)
    assert llm.sleeper.requests == []  # nobody attached: nothing to digest
    agent = make_agent(name="chat", enable_sleeptime=True)

    services.attach_source(agent, source)
    llm.sleeper.tool_call(
        "memory_insert", {"label": "employee_handbook", "new_str": "Vacation: 25 days a year"}
    )
    assert ingest.digest_source(source.id, agent.id, False) == "completed"

    assert memory_services.get_agent_block(agent, "employee_handbook").value == (
        "Vacation: 25 days a year"
    )
    assert memory_services.get_agent_block(sleeper_of(agent), "employee_handbook").value == (
        "Vacation: 25 days a year"
    )
    assert any("Vacation is 25 days a year." in text for text in window_texts(llm))


def test_an_agent_without_sleeptime_gets_no_digest_when_a_source_is_attached(make_agent, user, llm):
    source = new_source(user)
    processed(source, HANDBOOK)
    agent = make_agent(name="plain")

    services.attach_source(agent, source)

    assert ingest.digest_source(source.id, agent.id, False) == "skipped"
    assert not has_block(agent, "employee_handbook")
    assert llm.sleeper.requests == []
    assert memory_services.search_passages(agent, "vacation days")


def test_deleting_a_file_then_redigesting_rebuilds_the_block_from_the_remaining_files(
    make_agent, user, llm
):
    agent = make_agent(name="chat", enable_sleeptime=True)
    source = new_source(user)
    services.attach_source(agent, source)
    llm.sleeper.tool_call(
        "memory_insert", {"label": "employee_handbook", "new_str": "Vacation: 25 days"}
    )
    vacation = processed(source, HANDBOOK, name="vacation.txt")
    llm.sleeper.tool_call(
        "memory_insert", {"label": "employee_handbook", "new_str": "Remote: needs approval"}
    )
    processed(source, REMOTE, name="remote.txt")
    block = memory_services.get_agent_block(agent, "employee_handbook")
    assert block.value == "Vacation: 25 days\nRemote: needs approval"

    services.delete_file(vacation)
    llm.sleeper.reset()
    llm.sleeper.tool_call(
        "memory_insert", {"label": "employee_handbook", "new_str": "REBUILT: remote needs approval"}
    )
    assert ingest.digest_source(source.id, agent.id, True) == "completed"

    block.refresh_from_db()
    assert block.value == "REBUILT: remote needs approval"
    read = "\n".join(window_texts(llm))
    assert "Remote work needs written approval" in read
    assert "Vacation is 25 days" not in read
    history = memory_services.block_history(block, ascending=True)
    resets = [v for v in history if v.value == "" and "Vacation: 25 days" in v.previous_value]
    assert len(resets) == 1
    rebuilt = history[-1]
    assert rebuilt.value == "REBUILT: remote needs approval" and rebuilt.previous_value == ""
    assert resets[0].number < rebuilt.number


def test_redigesting_after_the_last_file_is_deleted_empties_the_block(make_agent, user, llm):
    agent, source, upload, block = digested_agent(make_agent, user, llm)

    services.delete_file(SourceFile.objects.get(pk=upload.id))
    requests = len(llm.sleeper.requests)
    assert ingest.digest_source(source.id, agent.id, True) == "completed"

    block.refresh_from_db()
    assert block.value == ""
    assert len(llm.sleeper.requests) == requests  # nothing left to read
