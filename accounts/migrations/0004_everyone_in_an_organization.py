"""Every user belongs to an organization: reading access no longer creates one
(accounts.access), so a user without one (made in the admin, say, and never used) gets
one of their own now, as they would have on first use."""

import config.ids
from django.conf import settings
from django.db import migrations


def personal_organizations(apps, schema_editor):
    user_model = apps.get_model(settings.AUTH_USER_MODEL)
    Organization = apps.get_model("accounts", "Organization")
    Membership = apps.get_model("accounts", "Membership")
    for user in user_model.objects.filter(memberships__isnull=True):
        organization = Organization.objects.create(
            id=config.ids.organization_id(), name=user.username
        )
        Membership.objects.create(user=user, organization=organization, role="admin")


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0003_organizations_required"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [migrations.RunPython(personal_organizations, migrations.RunPython.noop)]
