"""The sources panel of the agent page: attaching, creating and detaching sources, uploading
and deleting files, each file's progress row, and its live update over the websocket.

`transaction.on_commit` never fires inside a (non-transactional) test, so the tests call
`ingest.process_file` themselves, as the worker would.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.core.files.uploadedfile import SimpleUploadedFile
from django.template.loader import render_to_string
from django.test import Client
from django.urls import reverse

from agents.models import Agent
from config.asgi import application
from memory import events
from sources import ingest, services
from sources.contexts import file_progress, file_row_context
from sources.models import FileStatus, Source, SourceFile
from tests.ade import HTMX, closed_thread_connection, session_cookie
from tests.factories import make_user
from tests.sources.pdfs import text_pdf

HANDBOOK = (
    "Staff may book the large meeting room on weekday mornings.\n"
    "Holidays are requested two weeks ahead through the office manager."
)


def panel(client: Client, agent: Agent) -> str:
    response = client.get(reverse("sources:panel", args=[agent.id]), **HTMX)
    assert response.status_code == 200
    return response.content.decode()


def upload(client: Client, agent: Agent, source: Source, name: str, data: bytes, **extra: Any):
    url = reverse("sources:upload", args=[source.id]) + f"?agent={agent.id}"
    content_type = extra.pop("content_type", "text/plain")
    return client.post(url, {"file": SimpleUploadedFile(name, data, content_type)}, **extra)


def attached_names(agent: Agent) -> list[str]:
    return sorted(agent.sources.values_list("name", flat=True))


def row(status: str, **counts: Any) -> SourceFile:
    return SourceFile(id="file-test", processing_status=status, **counts)


# --- The panel -----------------------------------------------------------------------------


def test_the_agent_page_shows_the_panel_in_its_configuration(signed_in, make_agent, user):
    agent = make_agent(name="reader")
    services.attach_source(agent, services.create_source(user, name="handbook"))
    html = signed_in.get(reverse("agents:detail", args=[agent.id])).content.decode()
    assert '<div id="sources"' in html and "handbook" in html
    assert reverse("agents:archival", args=[agent.id]) in html
    assert reverse("agents:context", args=[agent.id]) in html


def test_the_panel_is_a_partial_for_htmx_and_a_page_otherwise(signed_in, make_agent):
    agent = make_agent(name="reader")
    partial = panel(signed_in, agent)
    assert partial.startswith('<div id="sources"') and "<html" not in partial
    page = signed_in.get(reverse("sources:panel", args=[agent.id]))
    assert page.status_code == 200 and b"<html" in page.content and b'id="sources"' in page.content


def test_creating_a_source_attaches_it_and_shows_it_in_place(signed_in, make_agent):
    agent = make_agent(name="reader")
    response = signed_in.post(
        reverse("sources:create", args=[agent.id]),
        {"name": "handbook", "description": "The staff handbook", "instructions": "Note rules."},
        **HTMX,
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert html.startswith('<div id="sources"') and "handbook" in html
    source = Source.objects.get(name="handbook")
    assert (source.description, source.instructions) == ("The staff handbook", "Note rules.")
    assert attached_names(agent) == ["handbook"]


def test_a_duplicate_or_invalid_name_is_shown_in_place_with_what_was_typed(signed_in, make_agent):
    agent = make_agent(name="reader")
    services.create_source(agent.owner, name="handbook")
    response = signed_in.post(
        reverse("sources:create", args=[agent.id]),
        {"name": "handbook", "description": "second try"},
        **HTMX,
    )
    html = response.content.decode()
    assert response.status_code == 200
    assert "A source named &#x27;handbook&#x27; already exists." in html
    assert "second try</textarea>" in html
    bad = signed_in.post(reverse("sources:create", args=[agent.id]), {"name": "a/b"}, **HTMX)
    assert "A source name may contain" in bad.content.decode()
    assert attached_names(agent) == []


def test_attaching_an_existing_source_lists_only_unattached_ones(signed_in, make_agent):
    agent = make_agent(name="reader")
    handbook = services.create_source(agent.owner, name="handbook")
    services.create_source(agent.owner, name="minutes")
    html = panel(signed_in, agent)
    assert f'<option value="{handbook.id}">handbook</option>' in html

    response = signed_in.post(
        reverse("sources:attach", args=[agent.id]), {"source": handbook.id}, **HTMX
    )
    html = response.content.decode()
    assert attached_names(agent) == ["handbook"]
    assert f'<option value="{handbook.id}">' not in html and "minutes</option>" in html


def test_a_plain_post_redirects_back_to_the_agent_page(signed_in, make_agent):
    agent = make_agent(name="reader")
    source = services.create_source(agent.owner, name="handbook")
    response = signed_in.post(reverse("sources:attach", args=[agent.id]), {"source": source.id})
    assert response.status_code == 302
    assert response["Location"] == reverse("agents:detail", args=[agent.id]) + "#sources"
    assert attached_names(agent) == ["handbook"]


def test_detaching_takes_the_source_off_the_agent(signed_in, make_agent):
    agent = make_agent(name="reader")
    source = services.create_source(agent.owner, name="handbook")
    services.attach_source(agent, source)
    response = signed_in.post(reverse("sources:detach", args=[agent.id, source.id]), **HTMX)
    assert response.status_code == 200
    assert attached_names(agent) == []
    assert "No sources attached." in response.content.decode()
    assert Source.objects.filter(pk=source.pk).exists()  # detached, not deleted


def test_another_users_source_cannot_be_attached(signed_in, make_agent, stranger):
    agent = make_agent(name="reader")
    theirs = services.create_source(stranger, name="secrets")
    response = signed_in.post(
        reverse("sources:attach", args=[agent.id]), {"source": theirs.id}, **HTMX
    )
    assert "Choose one of your sources" in response.content.decode()
    assert attached_names(agent) == []


# --- Files ---------------------------------------------------------------------------------


def test_an_uploaded_text_file_shows_its_row_complete_once_processed(signed_in, make_agent):
    agent = make_agent(name="reader")
    source = services.create_source(agent.owner, name="handbook")
    services.attach_source(agent, source)

    response = upload(signed_in, agent, source, "handbook.txt", HANDBOOK.encode(), **HTMX)
    assert response.status_code == 200
    stored = SourceFile.objects.get(source=source)
    assert f'id="{stored.id}"' in response.content.decode()
    assert stored.processing_status == FileStatus.PENDING

    assert ingest.process_file(stored.id) == FileStatus.COMPLETED
    html = panel(signed_in, agent)
    assert "handbook.txt" in html and ">completed</span>" in html
    assert '<progress max="100" value="100"' in html


def test_an_uploaded_pdf_is_processed_page_by_page(signed_in, make_agent):
    agent = make_agent(name="reader")
    source = services.create_source(agent.owner, name="handbook")
    services.attach_source(agent, source)
    pdf = text_pdf(["Rooms are booked in the morning.", "Holidays need two weeks' notice."])

    response = upload(
        signed_in, agent, source, "handbook.pdf", pdf, content_type="application/pdf", **HTMX
    )
    assert response.status_code == 200
    stored = SourceFile.objects.get(source=source)
    ingest.process_file(stored.id)

    html = panel(signed_in, agent)
    assert "handbook.pdf" in html and ">completed</span>" in html
    assert '<progress max="100" value="100"' in html and "2 pages" in html


def test_an_unsupported_file_is_refused_in_place(signed_in, make_agent):
    agent = make_agent(name="reader")
    source = services.create_source(agent.owner, name="handbook")
    services.attach_source(agent, source)

    response = upload(
        signed_in, agent, source, "tool.exe", b"MZ\x90\x00", content_type="application/x-dos"
    )
    assert response.status_code == 415
    assert b'role="alert"' in response.content and b"tool.exe" in response.content

    in_place = upload(
        signed_in,
        agent,
        source,
        "tool.exe",
        b"MZ\x90\x00",
        content_type="application/x-dos",
        **HTMX,
    )
    html = in_place.content.decode()
    assert in_place.status_code == 200 and html.startswith('<div id="sources"')
    assert 'class="form-errors" role="alert"' in html and "tool.exe" in html
    assert not SourceFile.objects.filter(source=source).exists()


def test_an_upload_over_the_limit_is_refused_in_place(signed_in, make_agent, settings):
    settings.MAX_UPLOAD_MB = 0
    agent = make_agent(name="reader")
    source = services.create_source(agent.owner, name="handbook")
    services.attach_source(agent, source)
    response = upload(signed_in, agent, source, "big.txt", b"some text")
    assert response.status_code == 413 and b"MAX_UPLOAD_MB" in response.content


def test_deleting_a_file_removes_its_row(signed_in, make_agent):
    agent = make_agent(name="reader")
    source = services.create_source(agent.owner, name="handbook")
    services.attach_source(agent, source)
    upload(signed_in, agent, source, "handbook.txt", HANDBOOK.encode())
    stored = SourceFile.objects.get(source=source)

    url = reverse("sources:file_delete", args=[source.id, stored.id]) + f"?agent={agent.id}"
    response = signed_in.post(url, **HTMX)
    assert response.status_code == 200
    assert f'id="{stored.id}"' not in response.content.decode()
    assert not SourceFile.objects.filter(pk=stored.pk).exists()


def test_another_users_agent_and_sources_are_404_on_every_panel_route(
    signed_in, make_agent, stranger
):
    from tests.factories import make_agent as build_agent

    theirs = build_agent(stranger, name="theirs")
    their_source = services.create_source(stranger, name="secrets")
    services.attach_source(theirs, their_source)
    stored = services.upload_file(
        their_source, file_name="s.txt", content_type="text/plain", data=b"secret"
    )
    mine = make_agent(name="mine")
    query = f"?agent={theirs.id}"
    mine_query = f"?agent={mine.id}"
    assert signed_in.get(reverse("sources:panel", args=[theirs.id])).status_code == 404
    for url in (
        reverse("sources:attach", args=[theirs.id]),
        reverse("sources:create", args=[theirs.id]),
        reverse("sources:detach", args=[theirs.id, their_source.id]),
        reverse("sources:detach", args=[mine.id, their_source.id]),
        reverse("sources:upload", args=[their_source.id]) + query,
        reverse("sources:upload", args=[their_source.id]) + mine_query,
        reverse("sources:file_delete", args=[their_source.id, stored.id]) + query,
        reverse("sources:file_delete", args=[their_source.id, stored.id]) + mine_query,
    ):
        assert signed_in.post(url, {"name": "x", "source": their_source.id}).status_code == 404
    assert SourceFile.objects.filter(pk=stored.pk).exists()
    assert list(their_source.agents.all()) == [theirs]


# --- Progress ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "counts", "expected"),
    [
        (FileStatus.PENDING, {}, 0),
        (FileStatus.PARSING, {}, 0),
        (FileStatus.EMBEDDING, {"total_chunks": 8, "chunks_embedded": 2}, 25),
        (FileStatus.EMBEDDING, {"total_chunks": 3, "chunks_embedded": 3}, 100),
        (FileStatus.DIGESTING, {"total_windows": 4, "windows_digested": 3}, 75),
        (FileStatus.DIGESTING, {"total_windows": 0, "windows_digested": 0}, 0),
        (FileStatus.COMPLETED, {"total_chunks": 5, "chunks_embedded": 1}, 100),
        (FileStatus.ERROR, {"total_chunks": 5, "chunks_embedded": 5}, 0),
    ],
)
def test_progress_follows_the_counts_of_the_current_stage(status, counts, expected):
    assert file_progress(row(status, **counts)) == expected


def test_the_file_row_renders_its_percentage_and_an_error(db):
    agent = Agent(id="agent-test")
    embedding = row(FileStatus.EMBEDDING, file_name="a.txt", total_chunks=3, chunks_embedded=1)
    embedding.source_id = "source-test"
    html = render_to_string("sources/partials/_file.html", file_row_context(embedding, agent))
    assert '<li class="source-file status-embedding" id="file-test">' in html
    assert '<progress max="100" value="33"' in html and "hx-swap-oob" not in html

    failed = row(FileStatus.ERROR, file_name="a.pdf", error_message="<b>no text</b>")
    failed.source_id = "source-test"
    html = render_to_string(
        "sources/partials/_file.html", file_row_context(failed, agent, oob=True)
    )
    assert 'hx-swap-oob="true"' in html and '<progress max="100" value="0"' in html
    assert "&lt;b&gt;no text&lt;/b&gt;" in html


# --- Live progress -------------------------------------------------------------------------


def _live_setup(django_user_model: Any) -> tuple[Any, Agent, SourceFile, SourceFile]:
    from tests.factories import make_agent

    owner = make_user("owner", password="pw")
    agent = make_agent(owner, name="live")
    attached = services.create_source(owner, name="handbook")
    services.attach_source(agent, attached)
    other = services.create_source(owner, name="elsewhere")

    def stored(source: Source, name: str) -> SourceFile:
        # Made directly: upload_file would queue a real job once its transaction commits.
        return SourceFile.objects.create(
            source=source,
            owner=owner,
            organization_id=source.organization_id,
            file_name=name,
            original_file_name=name,
            file_type="text/plain",
            kind="text",
            file_size=1,
            content_hash=name,
        )

    return owner, agent, stored(attached, "rules.txt"), stored(other, "other.txt")


@pytest.mark.django_db(transaction=True)
async def test_the_page_gets_the_file_row_when_its_progress_changes(django_user_model):
    owner, agent, mine, other = await closed_thread_connection(_live_setup)(django_user_model)
    cookie = await sync_to_async(session_cookie)(owner)
    headers = [(b"origin", b"http://localhost"), (b"host", b"localhost"), (b"cookie", cookie)]
    communicator = WebsocketCommunicator(application, f"/ws/agents/{agent.id}/", headers=headers)
    connected, _ = await communicator.connect()
    assert connected
    while 'id="config-facts"' not in await communicator.receive_from(timeout=5):
        pass  # the snapshot on connect ends with the settings

    await closed_thread_connection(ingest.touch)(
        mine, processing_status=FileStatus.EMBEDDING, total_chunks=4, chunks_embedded=1
    )
    pushed = await communicator.receive_from(timeout=5)
    assert f'id="{mine.id}" hx-swap-oob="true"' in pushed
    assert '<progress max="100" value="25"' in pushed and ">embedding</span>" in pushed

    # A file whose source is not attached to this agent is not sent, even if asked to.
    await closed_thread_connection(events.publish_file_progress)(other.id, [agent.id])
    assert await communicator.receive_nothing(timeout=0.5)

    await closed_thread_connection(ingest.touch)(mine, processing_status=FileStatus.COMPLETED)
    pushed = await communicator.receive_from(timeout=5)
    assert '<progress max="100" value="100"' in pushed and ">completed</span>" in pushed
    await communicator.disconnect()
    await asyncio.sleep(0)
