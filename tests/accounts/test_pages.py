"""Organizations and roles in the browser: viewers read, editors change, admins manage
members and keys; keys are shown once and then by prefix only."""

from __future__ import annotations

import re

from django.test import Client
from django.urls import reverse

from accounts.models import ApiKey, Membership, Role
from accounts.services import hash_key
from agents.models import Agent
from tests.factories import Team, make_agent


def _shared_agent(team: Team) -> Agent:
    return make_agent(team.editor.user, name="shared")


def test_every_member_sees_the_teams_agents_and_an_outsider_gets_404(team):
    agent = _shared_agent(team)
    page = reverse("agents:detail", args=[agent.id])
    for member in (team.admin, team.editor, team.viewer):
        assert "shared" in member.browser.get(reverse("agents:list")).content.decode()
        assert member.browser.get(page).status_code == 200
    assert "shared" not in team.outsider.browser.get(reverse("agents:list")).content.decode()
    assert team.outsider.browser.get(page).status_code == 404


def test_a_viewer_is_told_they_read_only_and_a_change_is_refused(team):
    agent = _shared_agent(team)
    body = team.viewer.browser.get(reverse("agents:detail", args=[agent.id])).content.decode()
    assert "You are a viewer in acme" in body
    assert 'id="message-form"' not in body
    response = team.viewer.browser.post(
        reverse("agents:send_message", args=[agent.id]), {"text": "hello"}
    )
    assert response.status_code == 403
    assert (
        "Your role in <strong>acme</strong> is <strong>viewer</strong>" in response.content.decode()
    )
    assert not agent.messages.exists()
    response = team.viewer.browser.post(reverse("agents:create"), {"name": "mine"})
    assert response.status_code == 403
    assert Agent.objects.filter(organization=team.organization).count() == 1


def test_an_editor_sees_no_read_only_notice(team):
    agent = _shared_agent(team)
    body = team.editor.browser.get(reverse("agents:detail", args=[agent.id])).content.decode()
    assert "You are a viewer" not in body
    assert 'id="message-form"' in body
    assert "acme · editor" in body


def test_a_new_key_is_shown_once_then_only_by_prefix(team):
    browser = team.viewer.browser  # any role manages its own keys
    response = browser.post(reverse("accounts:api_keys"), {"name": "laptop"})
    assert response.status_code == 200
    raw = re.search(r'value="(rev-[^"]+)"', response.content.decode()).group(1)
    key = ApiKey.objects.get(key_hash=hash_key(raw))
    assert key.organization == team.organization and key.name == "laptop"
    again = browser.get(reverse("accounts:api_keys")).content.decode()
    assert raw not in again
    assert f"{key.prefix}…" in again and "never" in again
    # The key works, and the page then shows when it was last used.
    assert Client(headers={"Authorization": f"Bearer {raw}"}).get("/v1/agents/").status_code == 200
    assert (
        "never"
        not in browser.get(reverse("accounts:api_keys"))
        .content.decode()
        .split(key.prefix)[1]
        .split("</tr>")[0]
    )


def test_a_member_revokes_their_own_key_but_not_someone_elses(team):
    own = team.editor.user.api_keys.get()
    other = team.viewer.user.api_keys.get()
    browser = team.editor.browser
    assert browser.post(reverse("accounts:api_key_revoke", args=[other.id])).status_code == 404
    assert browser.post(reverse("accounts:api_key_revoke", args=[own.id])).status_code == 302
    own.refresh_from_db()
    other.refresh_from_db()
    assert own.revoked_at is not None and other.revoked_at is None
    assert team.editor.api.get("/v1/agents/").status_code == 401


def test_an_admin_sees_and_revokes_any_key_of_the_organization(team):
    page = team.admin.browser.get(reverse("accounts:organization")).content.decode()
    for member in (team.editor, team.viewer):
        assert member.user.api_keys.get().prefix in page
    assert team.outsider.user.api_keys.get().prefix not in page
    viewer_key = team.viewer.user.api_keys.get()
    team.admin.browser.post(reverse("accounts:api_key_revoke", args=[viewer_key.id]))
    viewer_key.refresh_from_db()
    assert viewer_key.revoked_at is not None
    outsider_key = team.outsider.user.api_keys.get()
    response = team.admin.browser.post(reverse("accounts:api_key_revoke", args=[outsider_key.id]))
    assert response.status_code == 404


def test_only_an_admin_reaches_the_members_page(team):
    assert team.admin.browser.get(reverse("accounts:organization")).status_code == 200
    assert team.editor.browser.get(reverse("accounts:organization")).status_code == 404
    assert "Members" not in team.editor.browser.get(reverse("agents:list")).content.decode()


def test_an_admin_adds_a_new_person_who_can_then_log_in(team):
    response = team.admin.browser.post(
        reverse("accounts:organization"),
        {"username": "newbie", "role": "viewer", "password": "a long enough password"},
    )
    assert response.status_code == 302
    membership = Membership.objects.get(user__username="newbie")
    assert membership.organization == team.organization and membership.role == Role.VIEWER
    assert Client().login(username="newbie", password="a long enough password")


def test_adding_an_unknown_user_without_a_password_says_so(team):
    response = team.admin.browser.post(
        reverse("accounts:organization"), {"username": "ghost", "role": "editor"}
    )
    assert response.status_code == 400
    assert "There is no user &#x27;ghost&#x27;; give a password" in response.content.decode()
    assert not Membership.objects.filter(user__username="ghost").exists()


def test_an_admin_changes_roles_but_never_removes_the_last_admin(team):
    editor = Membership.objects.get(user=team.editor.user)
    team.admin.browser.post(reverse("accounts:member_role", args=[editor.id]), {"role": "viewer"})
    editor.refresh_from_db()
    assert editor.role == Role.VIEWER
    assert post_refused(team, reverse("accounts:member_remove", args=[admin_id(team)]))
    assert post_refused(team, reverse("accounts:member_role", args=[admin_id(team)]), role="editor")
    assert Membership.objects.get(pk=admin_id(team)).role == Role.ADMIN


def admin_id(team: Team) -> int:
    return Membership.objects.get(user=team.admin.user).pk


def post_refused(team: Team, url: str, **data: str) -> bool:
    response = team.admin.browser.post(url, data, follow=True)
    return "at least one admin" in response.content.decode()


def test_a_person_in_two_organizations_switches_between_them(team):
    Membership.objects.create(
        user=team.outsider.user, organization=team.organization, role="viewer"
    )
    agent = _shared_agent(team)
    browser = team.outsider.browser
    listing = browser.get(reverse("agents:list")).content.decode()
    assert 'id="organization-switch"' in listing and "shared" not in listing
    browser.post(reverse("accounts:switch"), {"organization": team.organization.id})
    listing = browser.get(reverse("agents:list")).content.decode()
    assert "shared" in listing
    assert browser.get(reverse("agents:detail", args=[agent.id])).status_code == 200
    # Not a member: refused, and the current organization stays.
    from accounts.models import Organization

    stranger_org = Organization.objects.create(name="stranger")
    assert (
        browser.post(reverse("accounts:switch"), {"organization": stranger_org.id}).status_code
        == 404
    )
    assert "shared" in browser.get(reverse("agents:list")).content.decode()


def test_every_form_needs_its_csrf_token(team):
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(team.editor.user)
    agent = _shared_agent(team)
    response = strict.post(reverse("agents:send_message", args=[agent.id]), {"text": "hi"})
    assert response.status_code == 403
    assert not agent.messages.exists()
