"""Auth failures are rate-limited, cookies are secure outside a local or debug setup, no
key reaches the logs, the websocket follows the organization, and the command line
manages keys and members."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from io import StringIO
from typing import Any

import pytest
from channels.layers import get_channel_layer
from channels.testing import WebsocketCommunicator
from django.core.management import call_command
from django.db import connections
from django.test import Client

from accounts.models import ApiKey, Membership
from config.consumers import FORBIDDEN
from tests.ade import closed_thread_connection, session_cookie
from tests.factories import Team, build_team
from tests.live import ROOT

LIMITED = {"AUTH_FAILURE_LIMIT": 3, "AUTH_FAILURE_WINDOW_SECONDS": 60}


@pytest.fixture
def limited(settings: Any) -> None:
    for name, value in LIMITED.items():
        setattr(settings, name, value)


def test_wrong_passwords_lock_that_username_out_even_for_the_right_one(team, limited):
    for member, password in ((team.editor, "the right password"), (team.admin, "ada's own")):
        member.user.set_password(password)
        member.user.save()
    browser = Client()
    for _ in range(3):
        response = browser.post("/login/", {"username": "ed", "password": "wrong"})
        assert (
            response.status_code == 200 and "enter a correct username" in response.content.decode()
        )
    response = browser.post("/login/", {"username": "ed", "password": "the right password"})
    assert response.status_code == 429
    assert int(response["Retry-After"]) > 0
    assert "Too many failed attempts" in response.content.decode()
    assert "_auth_user_id" not in browser.session
    # Somebody else behind the same address (an office's NAT) still logs in.
    colleague = Client()
    assert (
        colleague.post("/login/", {"username": "ada", "password": "ada's own"}).status_code == 302
    )
    # And the locked username from another address.
    other = Client(REMOTE_ADDR="10.0.0.9")
    assert (
        other.post("/login/", {"username": "ed", "password": "the right password"}).status_code
        == 302
    )


def test_an_address_that_tries_one_password_on_many_usernames_is_refused(team, limited):
    from accounts.ratelimit import SPRAY_FACTOR

    team.admin.user.set_password("ada's own")
    team.admin.user.save()
    browser = Client()
    for number in range(LIMITED["AUTH_FAILURE_LIMIT"] * SPRAY_FACTOR):
        browser.post("/login/", {"username": f"someone{number}", "password": "Summer2026!"})
    response = browser.post("/login/", {"username": "ada", "password": "ada's own"})
    assert response.status_code == 429


def test_wrong_api_keys_get_429s_but_never_lock_out_a_valid_key(team, limited):
    guesser = Client(headers={"Authorization": "Bearer rev-guess"})
    for _ in range(3):
        assert guesser.get("/v1/agents/").status_code == 401
    refused = guesser.get("/v1/agents/")
    assert refused.status_code == 429
    assert "Too many failed attempts" in refused.json()["detail"]
    assert int(refused["Retry-After"]) > 0
    # Valid keys behind the same address are served: another tenant's, and a teammate's.
    assert team.editor.api.get("/v1/agents/").status_code == 200
    assert team.outsider.api.get("/v1/agents/").status_code == 200
    assert guesser.get("/v1/agents/").status_code == 429


def test_no_key_reaches_the_logs(team, caplog):
    caplog.set_level(logging.DEBUG)
    Client(headers={"Authorization": "Bearer rev-not-a-real-key-123"}).get("/v1/agents/")
    team.editor.api.get("/v1/agents/")
    text = caplog.text
    assert "rev-not-a-real-key-123" not in text
    assert team.editor.key not in text
    assert team.editor.key[12:] not in text


def _settings_in(**environment: str) -> str:
    code = (
        "import django, os; os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'config.settings');"
        "django.setup(); from django.conf import settings as s;"
        "print(s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE, s.SESSION_COOKIE_HTTPONLY)"
    )
    env = {**os.environ, **environment}
    env.pop("SECURE_COOKIES", None) if "SECURE_COOKIES" not in environment else None
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, check=True
    )
    return result.stdout.strip()


def test_cookies_are_secure_when_served_beyond_this_machine_without_debug():
    assert _settings_in(DEBUG="0", HOST="0.0.0.0") == "True True True"
    assert _settings_in(DEBUG="1", HOST="0.0.0.0") == "False False True"
    # `make run` on a laptop serves loopback over plain HTTP.
    assert _settings_in(DEBUG="0", HOST="127.0.0.1") == "False False True"
    assert _settings_in(DEBUG="0", HOST="127.0.0.1", SECURE_COOKIES="1") == "True True True"


# --- The websocket ---------------------------------------------------------------------------


async def _connects(agent_id: str, user: Any) -> tuple[bool, Any]:

    from config.asgi import application

    cookie = await closed_thread_connection(session_cookie)(user)
    headers = [(b"origin", b"http://localhost"), (b"host", b"localhost"), (b"cookie", cookie)]
    communicator = WebsocketCommunicator(application, f"/ws/agents/{agent_id}/", headers=headers)
    connected, code = await communicator.connect()
    if connected:
        await communicator.disconnect()
    return connected, code


def _setup_in_thread(django_user_model: Any) -> tuple[Team, Any]:
    from django.db import connection

    from tests.factories import make_agent

    try:
        team = build_team(django_user_model)
        return team, make_agent(team.editor.user, name="live")
    finally:
        connection.close()


@pytest.mark.django_db(transaction=True)
async def test_the_agents_socket_admits_its_organization_only(django_user_model):
    from asgiref.sync import sync_to_async

    team, agent = await sync_to_async(_setup_in_thread)(django_user_model)
    assert (await _connects(agent.id, team.viewer.user))[0]
    assert await _connects(agent.id, team.outsider.user) == (False, FORBIDDEN)
    # Neither the layer's LISTEN connection nor the consumer's may outlive the test database.
    await get_channel_layer().close()
    await sync_to_async(connections.close_all)()


# --- manage.py -------------------------------------------------------------------------------


def test_keys_are_created_listed_by_prefix_and_revoked_on_the_command_line(team):
    out = StringIO()
    call_command(
        "apikeys",
        "create",
        "ed",
        "--org",
        team.organization.id,
        "--name",
        "ci",
        stdout=out,
        stderr=StringIO(),
    )
    raw = out.getvalue().strip().splitlines()[-1]
    key = ApiKey.objects.get(name="ci")
    assert raw.startswith(key.prefix) and key.organization == team.organization
    listing = StringIO()
    call_command("apikeys", "list", "ed", stdout=listing)
    assert f"{key.prefix}…" in listing.getvalue() and raw not in listing.getvalue()
    call_command("apikeys", "revoke", key.prefix, stdout=StringIO())
    key.refresh_from_db()
    assert key.revoked_at is not None
    assert Client(headers={"Authorization": f"Bearer {raw}"}).get("/v1/agents/").status_code == 401


def test_organizations_are_created_and_joined_on_the_command_line(team):
    out = StringIO()
    call_command("organizations", "create", "research", "--admin", "ed", stdout=out)
    organization_id = out.getvalue().strip()
    call_command("organizations", "add", "research", "vi", "--role", "viewer", stdout=StringIO())
    roles = dict(
        Membership.objects.filter(organization_id=organization_id).values_list(
            "user__username", "role"
        )
    )
    assert roles == {"ed": "admin", "vi": "viewer"}
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="already a member"):
        call_command("organizations", "add", organization_id, "vi", stdout=StringIO())
