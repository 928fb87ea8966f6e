from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction

from accounts import services
from accounts.models import Membership, Organization, Role
from config.errors import DomainError


class Command(BaseCommand):
    help = "Create organizations and manage who belongs to them with which role."

    def add_arguments(self, parser: CommandParser) -> None:
        actions = parser.add_subparsers(dest="action", required=True)
        create = actions.add_parser("create", help="create NAME with USERNAME as its admin")
        create.add_argument("name")
        create.add_argument("--admin", required=True, help="an existing user")
        add = actions.add_parser("add", help="add USERNAME to ORG (id or name) with a role")
        add.add_argument("org")
        add.add_argument("username")
        add.add_argument("--role", choices=Role.values, default=Role.EDITOR)
        add.add_argument("--password", default="", help="create the user with this password")
        actions.add_parser("list", help="organizations with their members and roles")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            getattr(self, f"_{options['action']}")(options)
        except DomainError as error:
            raise CommandError(error.message) from None

    def _create(self, options: dict[str, Any]) -> None:
        with transaction.atomic():
            organization = Organization.objects.create(name=options["name"])
            services.add_member(organization, options["admin"], Role.ADMIN)
        self.stdout.write(organization.id)

    def _add(self, options: dict[str, Any]) -> None:
        found = list(Organization.objects.filter(pk=options["org"])) or list(
            Organization.objects.filter(name=options["org"])[:2]
        )
        if len(found) != 1:
            raise CommandError(f"No single organization matches '{options['org']}'.")
        membership = services.add_member(
            found[0], options["username"], options["role"], options["password"]
        )
        self.stdout.write(f"{membership.user} is {membership.role} in {membership.organization}.")

    def _list(self, options: dict[str, Any]) -> None:
        for organization in Organization.objects.order_by("name"):
            self.stdout.write(f"{organization.id}  {organization.name}")
            for member in Membership.objects.filter(organization=organization).select_related(
                "user"
            ):
                self.stdout.write(f"    {member.user}  {member.role}")
