"""Forms of the ADE. They parse fields only; the services decide what is valid."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, cast

from django import forms

from agents import tool_rules
from agents.agentfile import ImportOptions
from agents.models import Agent, RunOutcome, RunTrigger
from agents.services import AgentSpec, BlockSpec, default_embedding_handle
from agents.tools import TOOLS
from config.env import configured_providers

# A few handles per provider to suggest; any `provider/model` handle may be typed instead.
MODEL_SUGGESTIONS: dict[str, list[str]] = {
    "openai": ["openai/gpt-4.1", "openai/gpt-4.1-mini", "openai/gpt-4o-mini"],
    "anthropic": ["anthropic/claude-3-7-sonnet-20250219", "anthropic/claude-3-5-haiku-latest"],
    "groq": ["groq/llama-3.3-70b-versatile"],
    "openrouter": ["openrouter/openai/gpt-4.1", "openrouter/anthropic/claude-3.7-sonnet"],
    "together": ["together/meta-llama/Llama-3.3-70B-Instruct-Turbo"],
    "mistral": ["mistral/mistral-large-latest"],
    "deepseek": ["deepseek/deepseek-chat"],
    "xai": ["xai/grok-3"],
    "ollama": ["ollama/llama3.1"],
}
EMBEDDING_SUGGESTIONS: dict[str, list[str]] = {
    "openai": ["openai/text-embedding-3-small", "openai/text-embedding-3-large"],
    "mistral": ["mistral/mistral-embed"],
    "ollama": ["ollama/nomic-embed-text"],
}


def _suggest(table: dict[str, list[str]], providers: list[str]) -> list[str]:
    # "*" means one gateway (LLM_BASE_URL) serves every provider.
    if "*" in providers:
        return [handle for handles in table.values() for handle in handles]
    return [handle for provider in providers for handle in table.get(provider, [])]


def model_suggestions(providers: list[str] | None = None) -> list[str]:
    """Handles to offer for the configured providers; common ones when none is configured."""
    providers = configured_providers() if providers is None else providers
    return _suggest(MODEL_SUGGESTIONS, providers) or _suggest(MODEL_SUGGESTIONS, ["*"])


def embedding_suggestions(providers: list[str] | None = None) -> list[str]:
    providers = configured_providers() if providers is None else providers
    default = default_embedding_handle()
    return [default] + [h for h in _suggest(EMBEDDING_SUGGESTIONS, providers) if h != default]


def handle_field(
    label: str, help_text: str, datalist: str, *, required: bool = True
) -> forms.CharField:
    """A `provider/model` handle typed freely, with suggestions from a `<datalist>`."""
    return forms.CharField(
        label=label,
        max_length=200,
        required=required,
        help_text=help_text,
        widget=forms.TextInput(attrs={"list": datalist, "autocomplete": "off"}),
    )


MODEL_HELP = "A provider/model handle, e.g. openai/gpt-4.1."
EMBEDDING_HELP = "A provider/model handle for archival memory."


class AgentCreateForm(forms.Form):
    name = forms.CharField(
        max_length=200,
        required=False,
        help_text="Letters, digits, spaces, '_', '-' and '.'. Left empty, one is made up.",
    )
    model = handle_field("Model", MODEL_HELP, "model-suggestions")
    embedding = handle_field("Embedding", EMBEDDING_HELP, "embedding-suggestions")
    persona = forms.CharField(
        required=False,
        strip=False,
        help_text="Who the agent is and how it speaks.",
        widget=forms.Textarea(attrs={"rows": 5}),
    )
    human = forms.CharField(
        required=False,
        strip=False,
        help_text="What the agent knows about you.",
        widget=forms.Textarea(attrs={"rows": 4}),
    )
    enable_sleeptime = forms.BooleanField(
        label="Sleep-time agent",
        required=False,
        help_text="A background agent that reorganises this agent's memory between turns.",
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["embedding"].initial = default_embedding_handle()

    def to_spec(self) -> AgentSpec:
        data = self.cleaned_data
        return AgentSpec(
            name=data["name"].strip() or None,
            model=data["model"].strip(),
            embedding=data["embedding"].strip() or None,
            memory_blocks=[
                BlockSpec(label="persona", value=data["persona"]),
                BlockSpec(label="human", value=data["human"]),
            ],
            enable_sleeptime=data["enable_sleeptime"],
        )


class AgentFileImportForm(forms.Form):
    file = forms.FileField(
        label="Agent file",
        help_text="An .af file exported by Reverie or by Letta's server.",
        widget=forms.ClearableFileInput(attrs={"accept": ".af,.json,application/json"}),
    )
    strip_messages = forms.BooleanField(
        label="Leave out the messages",
        required=False,
        help_text="Import the settings, memory and sources without the conversation.",
    )
    append_copy_suffix = forms.BooleanField(label="Add _copy to the names", required=False)

    def options(self) -> ImportOptions:
        return ImportOptions(
            strip_messages=self.cleaned_data["strip_messages"],
            append_copy_suffix=self.cleaned_data["append_copy_suffix"],
        )


class MessageForm(forms.Form):
    text = forms.CharField(
        label="Message",
        max_length=20_000,
        widget=forms.Textarea(attrs={"rows": 3, "placeholder": "Say something to the agent…"}),
    )


class SleeptimeForm(forms.Form):
    """Sleep-time on/off, when its runs start and which model they use. Empty fields keep
    the current setting; `sleeptime.configure` judges the model handle."""

    enabled = forms.BooleanField(
        label="Sleep-time agent",
        required=False,
        help_text="Off pauses it; its settings and memory stay for when it is on again.",
    )
    frequency = forms.IntegerField(
        label="After turns",
        required=False,
        min_value=0,
        help_text="Start a run after every N-th turn; 0 never.",
    )
    idle_seconds = forms.IntegerField(
        label="When quiet (seconds)",
        required=False,
        min_value=0,
        help_text="Start a run when the chat has been quiet this long; 0 off.",
    )
    model = handle_field(
        "Sleep-time model",
        "A provider/model handle for the sleep-time agent.",
        "sleeptime-model-suggestions",
        required=False,
    )
    tail_turns = forms.IntegerField(
        label="Recent turns kept in the prompt",
        required=False,
        min_value=0,
        max_value=1000,
        help_text="Once a run has read them, older turns leave the prompt into its summary "
        "(still stored and searchable); 0 keeps them until the context is full.",
    )


class BudgetForm(forms.Form):
    """The agent's token budgets for background work; blank is no limit of its own."""

    daily_token_budget = forms.IntegerField(
        label="Daily token budget",
        required=False,
        min_value=1,
        help_text="Tokens its background runs may spend per UTC day; blank for no limit.",
    )
    monthly_token_budget = forms.IntegerField(
        label="Monthly token budget",
        required=False,
        min_value=1,
        help_text="Tokens per UTC month; blank for no limit.",
    )


class OrganizationBudgetForm(forms.Form):
    """The organization's token budgets for all its background work; blank: no limit."""

    daily_token_budget = forms.IntegerField(
        label="Daily token budget",
        required=False,
        min_value=1,
        help_text="Tokens all its agents' background runs may spend per UTC day; blank for "
        "no limit.",
    )
    monthly_token_budget = forms.IntegerField(
        label="Monthly token budget",
        required=False,
        min_value=1,
        help_text="Tokens per UTC month; blank for no limit.",
    )


class DecisionForm(forms.Form):
    """One decision on a proposal: a hunk by its index, or all that wait when none."""

    hunk = forms.IntegerField(required=False, min_value=0)


class LedgerFilterForm(forms.Form):
    """The ledger's filters (GET); blank shows every outcome or trigger."""

    outcome = forms.ChoiceField(
        label="Outcome", required=False, choices=[("", "Any outcome"), *RunOutcome.choices]
    )
    trigger = forms.ChoiceField(
        label="Trigger",
        required=False,
        # Turns people wait for are not background work and never on the ledger.
        choices=[
            ("", "Any trigger"),
            *((value, label) for value, label in RunTrigger.choices if value != RunTrigger.MESSAGE),
        ],
    )


class AgentConfigForm(forms.Form):
    """The agent's own settings. The form parses them; `update_agent` judges the handles,
    the name and the context window."""

    name = forms.CharField(
        max_length=200,
        help_text="Letters, digits, spaces, '_', '-' and '.'.",
    )
    model = handle_field("Model", MODEL_HELP, "config-model-suggestions")
    embedding = handle_field("Embedding", EMBEDDING_HELP, "config-embedding-suggestions")
    context_window = forms.IntegerField(
        label="Context window",
        help_text="Tokens; at least 1000.",
    )
    context_token_budget = forms.IntegerField(
        label="Context budget",
        required=False,
        min_value=0,
        help_text="Keep each prompt under this many tokens (older turns go into the summary); "
        "0: the whole context window.",
    )
    description = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
    )
    system = forms.CharField(
        label="System prompt",
        # Leading and trailing whitespace of a prompt is the author's to decide.
        strip=False,
        widget=forms.Textarea(attrs={"rows": 10}),
    )
    tools = forms.MultipleChoiceField(
        required=False,
        # A name outside TOOLS is refused here already, as "not one of the available choices".
        # Read when a form is made: feature apps add their tools when they start.
        choices=lambda: [(name, name) for name in TOOLS],
        widget=forms.CheckboxSelectMultiple,
    )

    tool_rules = forms.CharField(
        label="Tool rules (JSON)",
        required=False,
        strip=True,
        widget=forms.Textarea(attrs={"rows": 8, "spellcheck": "false"}),
        help_text='A list of Letta tool rules, e.g. [{"tool_name": "send_message", '
        '"type": "exit_loop"}]. [] removes them all; left empty, they stay as they are. '
        "Changing the tools without changing these gives the tools their default rules.",
    )

    @classmethod
    def for_agent(
        cls, agent: Agent, data: Any = None, *, organization_tools: Sequence[str] = ()
    ) -> AgentConfigForm:
        """The form filled in with the agent's settings; `organization_tools` are the names
        of the organization's own tools, offered after the built-ins."""
        rules = [tool_rules.as_letta(rule) for rule in agent.tool_rules or []]
        form = cls(
            data,
            initial={
                **cls._current(agent),
                "tools": list(agent.tools),
                "tool_rules": json.dumps(rules, indent=2),
            },
        )
        names = [*TOOLS, *(name for name in organization_tools if name not in TOOLS)]
        cast(forms.MultipleChoiceField, form.fields["tools"]).choices = [
            (name, name) for name in names
        ]
        return form

    def clean_tool_rules(self) -> list[dict[str, Any]] | None:
        """The rules in Letta's shapes, or None for an empty field (no change). Whether
        they name the agent's tools is update_agent's to say."""
        text = self.cleaned_data["tool_rules"]
        if not text:
            return None
        try:
            parsed = json.loads(text)
        except ValueError as error:
            raise forms.ValidationError(f"This is not JSON: {error}.") from None
        if not isinstance(parsed, list):
            raise forms.ValidationError("Give a JSON list of rules, [] for none.")
        try:
            return tool_rules.normalise_all(parsed)
        except tool_rules.RuleInvalid as error:
            raise forms.ValidationError(str(error)) from None

    @staticmethod
    def _current(agent: Agent) -> dict[str, Any]:
        """The agent's settings that the form edits, keyed as `update_agent` takes them."""
        return {
            "name": agent.name,
            "model": agent.llm_handle,
            "embedding": agent.embedding_handle,
            "context_window": agent.context_window,
            "context_token_budget": agent.context_token_budget,
            "description": agent.description,
            "system": agent.system,
        }

    def changes(self, agent: Agent) -> dict[str, Any]:
        """Only the fields that differ from the agent, keyed as `update_agent` takes them."""
        data = self.cleaned_data
        wanted: dict[str, Any] = {
            "name": data["name"].strip(),
            "model": data["model"].strip(),
            "embedding": data["embedding"].strip(),
            "context_window": data["context_window"],
            "context_token_budget": data["context_token_budget"],
            "description": data["description"],
            "system": data["system"],
        }
        current = self._current(agent)
        changed = {
            key: value
            for key, value in wanted.items()
            if value is not None and value != current[key]
        }
        # Order does not matter to the agent, so a re-ordered list is no change.
        if set(data["tools"]) != set(agent.tools):
            changed["tools"] = list(data["tools"])
        current_rules = [tool_rules.as_letta(rule) for rule in agent.tool_rules or []]
        if data["tool_rules"] is not None and data["tool_rules"] != current_rules:
            changed["tool_rules"] = data["tool_rules"]
        return changed


# A requirement line: a distribution name, then optionally a version (`==1.2`) or another
# specifier (`>=1.2`); `toolbox.services` judges both.
