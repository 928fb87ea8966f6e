"""`manage.py evaluate`: does sleep-time pay off for this agent? Replays material into
matched copies of an agent (or of a model with an empty persona), one per arm, and prints
accuracy against question-time tokens and the break-even point per arm.

    manage.py evaluate --agent agent-... --material arithmetic --count 5 --arms off on
    manage.py evaluate --model openai/gpt-4.1-mini --material personal --json report.json
    manage.py evaluate --agent agent-... --material jsonl:questions.jsonl --csv answers.csv
    manage.py evaluate --agent agent-... --material history:questions.jsonl \
        --arms off off:context=memory on

It runs where it is started, calling the model directly (no worker needed), and deletes
the copies afterwards unless --keep. Every token count is the provider's.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser

import llm
from agents import services as agent_services
from agents.models import Agent
from config.errors import InvalidRequest
from evaluation import estimate, material, report
from evaluation import services as evaluations
from evaluation.runner import Arm, Template, run_item


class Command(BaseCommand):
    help = "Measure whether sleep-time pays off: accuracy and tokens per arm, break-even."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--agent", help="the agent to copy (its model, prompt, blocks)")
        parser.add_argument("--model", help="a provider/model handle, without --agent")
        parser.add_argument("--user", help="who owns the copies (default: the agent's owner)")
        parser.add_argument(
            "--material",
            default="arithmetic",
            help="arithmetic, personal, jsonl:PATH (context, turns, questions, answer), or "
            "history:PATH (the agent's own history; PATH holds the questions, one JSON "
            '{"question": ..., "answer": ...} a line)',
        )
        parser.add_argument("--count", type=int, default=3, help="contexts to generate")
        parser.add_argument("--seed", type=int, default=1)
        parser.add_argument(
            "--arms", nargs="+", default=["off", "on"], help="off, on, on:model=...:passes=2"
        )
        parser.add_argument("--json", help="write the whole report (JSON) here")
        parser.add_argument("--csv", help="write the answers (CSV) here")
        parser.add_argument("--svg", help="write the plots (accuracy/tokens, break-even) here")
        parser.add_argument("--keep", action="store_true", help="keep the agents it made")
        parser.add_argument(
            "--judge", help="a provider/model handle that grades answers string matching missed"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        owner, template = self._template(options)
        items = self._material(options["material"], options["count"], options["seed"], options)
        try:
            arms = [Arm.parse(text) for text in options["arms"]]
        except ValueError as error:
            raise CommandError(str(error)) from None
        try:
            for handle in [template.model, *([options["judge"]] if options["judge"] else [])]:
                llm.ensure_configured(handle)
        except llm.ProviderNotConfigured as error:
            raise CommandError(str(error)) from None
        guess = estimate.evaluation(template, items, arms)
        self.stdout.write(f"About {guess:,} tokens in all (an estimate; the report counts usage).")
        records = []
        for item in items:
            for arm in arms:
                self.stdout.write(f"{item.id} / {arm.name}…")
                record = run_item(owner, template, item, arm, judge_model=options["judge"])
                records.append(record)
                if not options["keep"]:
                    agent = Agent.objects.filter(pk=record.agent_id).first()
                    if agent is not None:
                        agent_services.delete_agent(agent)
        rows = report.summarise(records)
        self.stdout.write(report.table(rows))
        if options["json"]:
            Path(options["json"]).write_text(json.dumps(report.to_json(records), indent=2))
        if options["csv"]:
            Path(options["csv"]).write_text(report.to_csv(records))
        if options["svg"]:
            Path(options["svg"]).write_text(report.svg(rows))

    def _material(
        self, spec: str, count: int, seed: int, options: dict[str, Any]
    ) -> list[material.Item]:
        if spec == "arithmetic":
            return material.stateful_arithmetic(seed, count)
        if spec == "personal":
            return material.personal_memory(seed, count)
        if spec.startswith("jsonl:"):
            path = Path(spec.removeprefix("jsonl:"))
            if not path.is_file():
                raise CommandError(f"No such file: {path}")
            try:
                return material.from_jsonl(path.read_text(encoding="utf-8"))
            except material.MaterialError as error:
                raise CommandError(f"{path}: {error}") from None
        if spec.startswith("history:"):
            return [self._history(Path(spec.removeprefix("history:")), options)]
        raise CommandError(
            f"--material is arithmetic, personal, jsonl:PATH or history:PATH, not {spec!r}"
        )

    def _history(self, path: Path, options: dict[str, Any]) -> material.Item:
        agent = Agent.objects.filter(pk=options["agent"] or "").first()
        if agent is None:
            raise CommandError("--material history:PATH replays an agent's history: give --agent.")
        if not path.is_file():
            raise CommandError(f"No such file: {path}")
        try:
            questions = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
        except ValueError as error:
            raise CommandError(f"{path}: not JSON Lines ({error})") from None
        try:
            return evaluations.history_item(agent, questions)
        except InvalidRequest as error:
            raise CommandError(f"{path}: {error}") from None

    def _template(self, options: dict[str, Any]) -> tuple[Any, Template]:
        users = get_user_model().objects
        if options["agent"]:
            agent = Agent.objects.filter(pk=options["agent"]).first()
            if agent is None:
                raise CommandError(f"No agent {options['agent']!r}.")
            owner = users.filter(username=options["user"]).first() if options["user"] else None
            return owner or agent.owner, Template.of(agent)
        if not options["model"]:
            raise CommandError("Give --agent to copy, or --model.")
        owner = (
            users.filter(username=options["user"]).first()
            if options["user"]
            else users.filter(is_superuser=True).order_by("pk").first()
        )
        if owner is None:
            raise CommandError("No user to own the copies: give --user.")
        template = Template(
            model=options["model"],
            embedding=agent_services.default_embedding_handle(),
            system="",
            blocks={"persona": "I am a helpful assistant.", "human": ""},
        )
        return owner, template
