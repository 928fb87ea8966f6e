"""Reading a person's access never writes; a person gets an organization of their own
where they enter (made by Reverie, signing in, a key made for them)."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from accounts.access import NoOrganization, access_for
from accounts.models import Membership, Organization, Role
from accounts.services import create_api_key, get_or_create_user


def test_the_access_of_a_person_in_no_organization_is_refused_and_creates_nothing(db):
    nobody = get_user_model().objects.create_user(username="nobody")
    organizations = Organization.objects.count()

    with pytest.raises(NoOrganization, match="belongs to no organization"):
        access_for(nobody)

    assert Organization.objects.count() == organizations
    assert not Membership.objects.filter(user=nobody).exists()


def test_signing_in_gives_a_person_in_no_organization_one_of_their_own(db):
    get_user_model().objects.create_user(username="grace", password="a long passphrase")
    browser = Client()

    response = browser.post(
        "/login/", {"username": "grace", "password": "a long passphrase"}, follow=True
    )

    assert response.status_code == 200
    (membership,) = Membership.objects.filter(user__username="grace")
    assert membership.role == Role.ADMIN and membership.organization.name == "grace"
    assert browser.get("/agents/").status_code == 200


def test_a_person_made_by_reverie_or_given_a_key_acts_in_their_own_organization(db):
    made, _ = get_or_create_user("made")
    assert access_for(made).organization.name == "made"

    keyless = get_user_model().objects.create_user(username="keyless")
    key, _ = create_api_key(keyless)
    assert key.organization.name == "keyless"
    assert access_for(keyless).is_admin


def test_signing_in_again_keeps_the_organization_a_person_was_added_to(db):
    person = get_user_model().objects.create_user(username="ed", password="a long passphrase")
    team = Organization.objects.create(name="acme")
    Membership.objects.create(user=person, organization=team, role=Role.EDITOR)

    Client().post("/login/", {"username": "ed", "password": "a long passphrase"})

    assert list(
        Membership.objects.filter(user=person).values_list("organization__name", flat=True)
    ) == ["acme"]


def test_a_person_taken_out_of_their_last_organization_is_told_so_and_can_log_out(db):
    person = get_user_model().objects.create_user(username="vi", password="a long passphrase")
    team = Organization.objects.create(name="acme")
    membership = Membership.objects.create(user=person, organization=team, role=Role.VIEWER)
    browser = Client()
    browser.post("/login/", {"username": "vi", "password": "a long passphrase"})
    assert browser.get("/agents/").status_code == 200

    membership.delete()  # an admin removes them meanwhile
    page = browser.get("/agents/")

    assert page.status_code == 403
    assert "no longer belong to any organization" in page.content.decode()
    assert not Organization.objects.exclude(pk=team.pk).exists()  # nothing was created
    assert browser.post("/logout/").status_code == 302
