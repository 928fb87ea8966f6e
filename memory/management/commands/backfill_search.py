"""`manage.py backfill_search`: fill the full-text search vectors of archival passages
stored before full-text search existed, in the foreground, with progress; or, with
--status, say how far the backfill has got. The worker does the same in the background on
its own (memory/tasks.py); started while that runs, the command says so and leaves the
work to it.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from memory import fulltext


class Command(BaseCommand):
    help = (
        "Fill the full-text search vectors of archival passages that have none (those "
        "stored before full-text search existed), or with --status say how many wait."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--status", action="store_true", help="only report progress, change nothing"
        )
        parser.add_argument(
            "--batch-size",
            type=int,
            default=fulltext.BATCH_SIZE,
            help=f"rows per statement (default {fulltext.BATCH_SIZE})",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["status"]:
            self._status()
            return
        result = fulltext.backfill_search_vectors(
            batch_size=options["batch_size"], progress=self._progress
        )
        if result["outcome"] == "busy":
            self.stdout.write(
                "Another backfill is running (the worker's, or another command's); "
                "see its progress with --status."
            )
            return
        self.stdout.write(
            f"Filled {result['filled']:,} search vectors; {result['pending']:,} still waiting."
        )
        if result["pending"]:
            # Rows a writer held while the batch passed; the next run (or the worker's
            # clock) takes them.
            self.stdout.write("Run it again to fill those.")

    def _progress(self, filled: int, pending_at_start: int) -> None:
        share = filled / pending_at_start if pending_at_start else 1.0
        self.stdout.write(f"{filled:,} of {pending_at_start:,} filled ({share:.0%})")

    def _status(self) -> None:
        status = fulltext.backfill_status()
        passages, pending = status["passages"], status["pending"]
        done = (passages - pending) / passages if passages else 1.0
        self.stdout.write(
            f"{passages - pending:,} of {passages:,} passages have their search vector "
            f"({done:.0%}); {pending:,} waiting."
        )
        self.stdout.write(
            "A backfill is running now." if status["running"] else "No backfill is running."
        )
