"""The form that starts an evaluation. It parses fields into what
`services.create_evaluation` takes; the service decides what is valid (the agent, the
handles, the material, the arms), and its refusals are shown on the form."""

from __future__ import annotations

from typing import Any

from django import forms
from django.core.files.uploadedfile import UploadedFile

from agents.forms import MODEL_HELP, handle_field
from evaluation import services

MATERIAL_CHOICES = [
    ("arithmetic", "Shop arithmetic: a day's stock told as facts, questions with exact answers"),
    ("personal", "Personal facts: a user talks about themselves and some facts change"),
    ("jsonl", "Your own material, as JSON Lines (pasted or uploaded)"),
    ("history", "This agent's own history, with questions you write"),
]
# UTF-8 takes at most four bytes a character: a bigger file cannot be within the
# service's character limit, and is refused before it is read into memory.
MAX_JSONL_BYTES = 4 * services.MAX_JSONL_CHARS


def parse_questions(text: str) -> list[dict[str, str]]:
    """`question | answer`, one a line (blank lines skipped), as the history material
    takes them. The answer is what follows the last `|`, so a question may contain one."""
    questions = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        question, bar, answer = line.rpartition("|")
        if not bar or not question.strip() or not answer.strip():
            raise forms.ValidationError(
                f"Line {number}: write the question, then “|” and its answer "
                "(How many apples do I have? | 7)."
            )
        questions.append({"question": question.strip(), "answer": answer.strip()})
    return questions


class EvaluationForm(forms.Form):
    agent = forms.ChoiceField(
        label="Agent to copy",
        required=False,
        help_text="Every arm starts from a copy of its model, system prompt and memory blocks.",
    )
    model = handle_field(
        "Or a bare model",
        f"{MODEL_HELP} Copies start with a plain persona. Leave empty when copying an agent.",
        "model-suggestions",
        required=False,
    )
    material = forms.ChoiceField(
        label="Material",
        choices=MATERIAL_CHOICES,
        initial="arithmetic",
        widget=forms.RadioSelect,
    )
    count = forms.IntegerField(
        label="Contexts",
        required=False,
        min_value=1,
        max_value=services.MAX_COUNT,
        initial=3,
        help_text=f"How many generated contexts, each with its questions (1 to "
        f"{services.MAX_COUNT}).",
    )
    seed = forms.IntegerField(
        label="Seed",
        required=False,
        initial=1,
        help_text="The same seed makes the same material, so runs can be compared.",
    )
    jsonl_text = forms.CharField(
        label="JSON Lines",
        required=False,
        strip=False,
        widget=forms.Textarea(
            attrs={
                "rows": 4,
                "placeholder": '{"id": "apples", "turns": ["I have 3 apples.", "I buy 4 '
                'more."], "question": "How many apples do I have?", "answer": 7}',
            }
        ),
        help_text="One item a line: context, turns, and questions with their answers.",
    )
    jsonl_file = forms.FileField(
        label="Or upload a .jsonl file",
        required=False,
        widget=forms.ClearableFileInput(attrs={"accept": ".jsonl,.json,.txt,application/json"}),
        help_text="Used instead of the text above when given.",
    )
    questions = forms.CharField(
        label="Questions about the history",
        required=False,
        widget=forms.Textarea(
            attrs={"rows": 4, "placeholder": "Where do I live now? | Porto\nMy dog's name? | Rex"}
        ),
        help_text=f"One a line: the question, “|”, the answer you expect. What the agent's "
        f"user said (the newest {services.MAX_HISTORY_TURNS} messages) is replayed first.",
    )
    arm_off = forms.BooleanField(
        label="off: no sleep-time",
        required=False,
        initial=True,
        help_text="The baseline: the questions see the whole replay in the context.",
    )
    arm_off_memory = forms.BooleanField(
        label="off, asked from memory alone",
        required=False,
        initial=False,
        help_text="No sleep-time, and the replay has left the context (as after compaction "
        "or in a new conversation): what is lost without sleep-time.",
    )
    arm_on = forms.BooleanField(
        label="on: sleep-time with the agent's model",
        required=False,
        initial=True,
        help_text="One reflection pass after the replay; the questions see memory, not the "
        "replay (the paper's comparison).",
    )
    extra_model = handle_field(
        "Sleep-time model",
        "Empty: the agent's model.",
        "model-suggestions",
        required=False,
    )
    extra_passes = forms.IntegerField(
        label="Reflection passes",
        required=False,
        min_value=1,
        help_text="Passes over the whole replay after it.",
    )
    extra_frequency = forms.IntegerField(
        label="Run every N turns",
        required=False,
        min_value=1,
        help_text="Sleep-time runs during the replay too, every N turns.",
    )
    judge_model = handle_field(
        "Judge model",
        "Optional: a model that rules on answers string matching finds wrong. Its tokens are "
        "counted apart.",
        "model-suggestions",
        required=False,
    )
    token_budget = forms.IntegerField(
        label="Token budget",
        required=False,
        min_value=1,
        help_text="Optional: it pauses before a step that would take it over. The "
        "organization's budgets hold too.",
    )
    keep_copies = forms.BooleanField(
        label="Keep the copies",
        required=False,
        help_text="Keep each arm's copy to look at afterwards; otherwise each is deleted "
        "once its step is measured.",
    )

    def __init__(self, *args: Any, agents: list[tuple[str, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        agent_field = self.fields["agent"]
        assert isinstance(agent_field, forms.ChoiceField)
        agent_field.choices = [("", "— none: a bare model —"), *agents]

    def clean(self) -> dict[str, Any] | None:
        data = super().clean() or {}
        kind = data.get("material")
        if kind == "history":
            try:
                data["questions"] = parse_questions(data.get("questions") or "")
            except forms.ValidationError as error:
                self.add_error("questions", error)
        if kind == "jsonl" and data.get("jsonl_file"):
            try:
                data["jsonl_text"] = _read(data["jsonl_file"])
            except forms.ValidationError as error:
                self.add_error("jsonl_file", error)
        return data

    def arm_texts(self) -> list[str]:
        """off, on, and the extra arm when any of its settings is given:
        `on:model=openai/gpt-4.1-mini:passes=2:frequency=5`."""
        data = self.cleaned_data
        arms = {"off": "off", "off_memory": "off:context=memory", "on": "on"}
        texts = [text for name, text in arms.items() if data[f"arm_{name}"]]
        options = [
            f"{name}={data[f'extra_{name}']}"
            for name in ("model", "passes", "frequency")
            if data[f"extra_{name}"]
        ]
        if options:
            texts.append(":".join(["on", *options]))
        return texts

    def material_spec(self) -> dict[str, Any]:
        data = self.cleaned_data
        kind = data["material"]
        if kind == "jsonl":
            return {"kind": kind, "text": data["jsonl_text"]}
        if kind == "history":
            return {"kind": kind, "questions": data["questions"]}
        # Left empty, the field's first value: the evaluation records the seed it used.
        spec: dict[str, Any] = {"kind": kind}
        for name in ("count", "seed"):
            spec[name] = data[name] if data[name] is not None else self.fields[name].initial
        return spec

    def to_request(self) -> dict[str, Any]:
        """The keyword arguments of services.create_evaluation."""
        data = self.cleaned_data
        return {
            "material_spec": self.material_spec(),
            "arms": self.arm_texts(),
            "agent_id": data["agent"] or None,
            "model": data["model"].strip() or None,
            "judge_model": data["judge_model"].strip() or None,
            "token_budget": data["token_budget"],
            "keep_copies": data["keep_copies"],
        }


def _read(upload: UploadedFile) -> str:
    if upload.size is not None and upload.size > MAX_JSONL_BYTES:
        raise forms.ValidationError(f"The file is over {MAX_JSONL_BYTES // 1_000_000} MB.")
    try:
        return upload.read().decode("utf-8")
    except UnicodeDecodeError:
        raise forms.ValidationError("The file is not UTF-8 text.") from None
