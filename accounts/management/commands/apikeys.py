from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db.models import Q
from django.utils import timezone

from accounts.access import membership_in
from accounts.models import ApiKey
from accounts.services import create_api_key


class Command(BaseCommand):
    help = "Create, list and revoke API keys. Only a key's prefix is ever shown again."

    def add_arguments(self, parser: CommandParser) -> None:
        actions = parser.add_subparsers(dest="action", required=True)
        create = actions.add_parser("create", help="print a new key for USERNAME as the last line")
        create.add_argument("username")
        create.add_argument("--org", default="", help="organization id (default: their first)")
        create.add_argument("--name", default="", help="a label to tell keys apart")
        listing = actions.add_parser("list", help="keys with prefix, user, organization, use")
        listing.add_argument("username", nargs="?", default="")
        revoke = actions.add_parser("revoke", help="revoke a key by its id or prefix")
        revoke.add_argument("key", help="the key's id (apikey-…) or its prefix")

    def handle(self, *args: Any, **options: Any) -> None:
        getattr(self, f"_{options['action']}")(options)

    def _create(self, options: dict[str, Any]) -> None:
        user = get_user_model().objects.filter(username=options["username"]).first()
        if user is None:
            raise CommandError(f"There is no user '{options['username']}'.")
        organization = None
        if options["org"]:
            membership = membership_in(user, options["org"])
            if membership is None:
                raise CommandError(f"{user} is not a member of {options['org']}.")
            organization = membership.organization
        key, raw_key = create_api_key(user, name=options["name"], organization=organization)
        self.stderr.write(f"Key {key.prefix}… acts in {key.organization} ({key.organization_id}).")
        self.stdout.write(raw_key)

    def _list(self, options: dict[str, Any]) -> None:
        keys = ApiKey.objects.select_related("user", "organization").order_by("created_at")
        if options["username"]:
            keys = keys.filter(user__username=options["username"])
        for key in keys:
            used = key.last_used_at.isoformat(timespec="seconds") if key.last_used_at else "never"
            state = f"revoked {key.revoked_at:%Y-%m-%d}" if key.revoked_at else "active"
            self.stdout.write(
                f"{key.id}  {key.prefix}…  {key.user}  {key.organization}  "
                f"{key.name or '-'}  last used {used}  {state}"
            )

    def _revoke(self, options: dict[str, Any]) -> None:
        wanted = options["key"].removesuffix("…")
        found = list(ApiKey.objects.filter(Q(pk=wanted) | Q(prefix=wanted))[:2])
        if len(found) != 1:
            raise CommandError(f"No single key matches '{wanted}'.")
        key = found[0]
        if key.revoked_at is None:
            key.revoked_at = timezone.now()
            key.save(update_fields=["revoked_at"])
        self.stdout.write(f"Revoked {key.prefix}… of {key.user}.")
