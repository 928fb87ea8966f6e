"""Agent Files in the ADE: the import form on the agent list, the export link on the
agent's page, and a bad file's error shown where the form is."""

from __future__ import annotations

import json
from pathlib import Path

from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from agents.models import Agent, Message
from memory.models import Block
from sources.models import Source

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "agentfiles" / "letta_sleeptime.af"


def af(content: bytes, name: str = "juniper.af") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, content, "application/json")


def test_the_agent_list_offers_the_import_form(signed_in):
    body = signed_in.get(reverse("agents:list")).content.decode()
    assert "Import agent file" in body
    assert f'action="{reverse("agents:import")}"' in body
    assert 'enctype="multipart/form-data"' in body
    assert 'name="strip_messages"' in body


def test_importing_a_file_opens_the_imported_agent(signed_in, user):
    response = signed_in.post(reverse("agents:import"), {"file": af(FIXTURE.read_bytes())})
    primary = Agent.objects.get(owner=user, name="Juniper")
    assert response.status_code == 302
    assert response["Location"] == reverse("agents:detail", args=[primary.id])
    assert Agent.objects.filter(owner=user, name="Juniper-sleeptime").exists()
    page = signed_in.get(response["Location"]).content.decode()
    assert "Imported Juniper from juniper.af." in page
    assert "I am Juniper. I speak plainly" in page
    assert Message.objects.filter(agent=primary).count() == 7


def test_the_form_can_leave_the_messages_out_and_add_copy_to_the_names(signed_in, user):
    signed_in.post(
        reverse("agents:import"),
        {"file": af(FIXTURE.read_bytes()), "strip_messages": "on", "append_copy_suffix": "on"},
    )
    primary = Agent.objects.get(owner=user, name="Juniper_copy")
    assert not Message.objects.filter(agent=primary).exists()


def test_a_bad_file_shows_where_it_is_wrong_and_stores_nothing(signed_in, user):
    document = json.loads(FIXTURE.read_text())
    document["agents"][0]["block_ids"][1] = "block-9"
    response = signed_in.post(reverse("agents:import"), {"file": af(json.dumps(document).encode())})
    assert response.status_code == 400
    body = response.content.decode()
    assert 'role="alert"' in body and '<details class="agent-import" open>' in body
    assert "agents[0].block_ids[1]: no block &#x27;block-9&#x27; in blocks[]" in body
    assert "nothing of it was stored" in body
    assert not Agent.objects.filter(owner=user).exists()
    assert not Block.objects.filter(owner=user).exists()
    assert not Source.objects.filter(owner=user).exists()


def test_a_file_that_is_not_json_or_too_large_is_refused_on_the_page(signed_in, settings):
    response = signed_in.post(reverse("agents:import"), {"file": af(b"<html>nope</html>")})
    assert response.status_code == 400
    assert "The file is not JSON" in response.content.decode()
    settings.MAX_UPLOAD_MB = 1
    big = af(b" " * (1024 * 1024 + 1) + FIXTURE.read_bytes())
    response = signed_in.post(reverse("agents:import"), {"file": big})
    assert response.status_code == 400
    assert "the limit is 1 MB (MAX_UPLOAD_MB)" in response.content.decode()


def test_the_agent_page_links_to_its_export_which_downloads_the_agent_file(signed_in, make_agent):
    agent = make_agent(name="my helper", enable_sleeptime=True)
    page = signed_in.get(reverse("agents:detail", args=[agent.id])).content.decode()
    export_url = reverse("agents:export", args=[agent.id])
    assert f'href="{export_url}" download>Export</a>' in page
    response = signed_in.get(export_url)
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert response["Content-Disposition"] == 'attachment; filename="my_helper.af"'
    document = json.loads(response.content)
    assert [a["name"] for a in document["agents"]] == ["my helper", "my helper-sleeptime"]
    assert document["groups"][0]["manager_config"]["manager_type"] == "sleeptime"


def test_someone_elses_agent_cannot_be_exported(signed_in, stranger):
    from tests.factories import make_agent

    theirs = make_agent(stranger, name="theirs")
    assert signed_in.get(reverse("agents:export", args=[theirs.id])).status_code == 404
