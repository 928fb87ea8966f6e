from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse


@pytest.mark.parametrize(
    "name,args",
    [
        ("agents:list", []),
        ("agents:create", []),
        ("agents:detail", ["agent-00000000-0000-0000-0000-000000000000"]),
        ("agents:delete", ["agent-00000000-0000-0000-0000-000000000000"]),
    ],
)
def test_every_ade_page_sends_an_anonymous_visitor_to_the_login_page(client, db, name, args):
    url = reverse(name, args=args)
    response = client.get(url)
    assert response.status_code == 302
    assert response["Location"] == f"/login/?next={url}"


def test_sending_a_message_anonymously_changes_nothing(client, make_agent):
    agent = make_agent()
    response = client.post(reverse("agents:send_message", args=[agent.id]), {"text": "hi"})
    assert response.status_code == 302
    assert response["Location"].startswith("/login/")
    assert not agent.messages.exists()


def test_the_login_page_renders_a_form(client, db):
    response = client.get("/login/")
    assert response.status_code == 200
    body = response.content.decode()
    assert 'name="username"' in body and 'name="password"' in body
    assert "csrfmiddlewaretoken" in body


def test_logging_in_leads_to_the_agent_list(client, db):
    get_user_model().objects.create_user(username="ada", password="a long passphrase")
    response = client.post("/login/", {"username": "ada", "password": "a long passphrase"})
    assert response.status_code == 302
    assert response["Location"] == "/agents/"
    page = client.get("/agents/")
    assert page.status_code == 200
    assert "ada" in page.content.decode()


def test_logging_in_returns_to_the_page_asked_for(client, db):
    get_user_model().objects.create_user(username="ada", password="a long passphrase")
    response = client.post(
        "/login/",
        {"username": "ada", "password": "a long passphrase", "next": "/agents/new/"},
    )
    assert response["Location"] == "/agents/new/"


def test_a_wrong_password_shows_an_error_and_does_not_log_in(client, db):
    get_user_model().objects.create_user(username="ada", password="a long passphrase")
    response = client.post("/login/", {"username": "ada", "password": "wrong"})
    assert response.status_code == 200
    assert "correct username and password" in response.content.decode()
    assert client.get("/agents/").status_code == 302


def test_logout_is_a_post_and_ends_the_session(signed_in):
    page = signed_in.get("/agents/")
    assert 'action="/logout/"' in page.content.decode()
    response = signed_in.post("/logout/")
    assert response.status_code == 302
    assert response["Location"] == "/login/"
    assert signed_in.get("/agents/").status_code == 302


def test_logout_by_get_is_refused(signed_in):
    assert signed_in.get("/logout/").status_code == 405
    assert signed_in.get("/agents/").status_code == 200


def test_home_sends_a_signed_in_person_to_their_agents(signed_in):
    response = signed_in.get("/")
    assert response.status_code == 302
    assert response["Location"] == "/agents/"


def test_home_still_introduces_reverie_to_visitors(client, db):
    response = client.get("/")
    assert response.status_code == 200
    assert "/login/" in response.content.decode()
