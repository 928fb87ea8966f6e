from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from accounts.services import create_api_key, get_or_create_user


class Command(BaseCommand):
    help = "Create USERNAME if needed and print a new API key as the last line."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")
        parser.add_argument("--name", default="", help="a label to tell keys apart")

    def handle(self, *args: Any, **options: Any) -> None:
        user, created = get_or_create_user(options["username"])
        if created:
            self.stderr.write(f"Created user {user.get_username()}.")
        _, raw_key = create_api_key(user, name=options["name"])
        self.stdout.write(raw_key)
