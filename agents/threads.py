"""Where a turn happens: an agent's own history, or one of its conversations.

Every conversation of an agent shares the agent's memory blocks (but the ones it
isolates) and has its own history, recursive summary, context window and turn lock. The
agent's own history, Letta's `default` conversation, keeps what it always had: messages
with no conversation, and the summary on the agent.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from django.db.models import Min, QuerySet, Subquery
from django.db.models.functions import Coalesce
from django.utils import timezone

from agents.models import Agent, Conversation, Message
from memory import services as memory_services
from memory.models import Block


@dataclass
class Thread:
    agent: Agent
    conversation: Conversation | None = None
    _isolated: dict[str, Block] | None = field(default=None, repr=False)
    # Set once a read found no isolated blocks: a conversation gets them when it is made,
    # never later, so its turns need not ask again at every step.
    _none_isolated: bool = field(default=False, repr=False)

    @property
    def id(self) -> str:
        """The conversation's id, or `default`."""
        return self.conversation.id if self.conversation is not None else "default"

    def messages(self) -> QuerySet[Message]:
        mine = Message.objects.filter(agent=self.agent)
        if self.conversation is None:
            return mine.filter(conversation__isnull=True)
        return mine.filter(conversation=self.conversation)

    # --- The model and its window ---------------------------------------------------------

    @property
    def llm_handle(self) -> str:
        if self.conversation is not None and self.conversation.model:
            return self.conversation.model
        return self.agent.llm_handle

    @property
    def context_window(self) -> int:
        if self.conversation is not None and self.conversation.context_window_limit:
            return self.conversation.context_window_limit
        return self.agent.context_window

    def _setting(self, name: str) -> Any:
        settings = self.conversation.model_settings if self.conversation is not None else {}
        return (settings or {}).get(name)

    @property
    def temperature(self) -> float:
        value = self._setting("temperature")
        return float(value) if isinstance(value, int | float) else self.agent.temperature

    @property
    def max_tokens(self) -> int | None:
        value = self._setting("max_output_tokens")
        return int(value) if isinstance(value, int) else self.agent.max_tokens

    # --- The recursive summary ------------------------------------------------------------

    @property
    def summary(self) -> str:
        if self.conversation is not None:
            return self.conversation.history_summary
        return self.agent.summary

    def save_summary(self, text: str) -> None:
        if self.conversation is not None:
            Conversation.objects.filter(pk=self.conversation.pk).update(history_summary=text)
            self.conversation.history_summary = text
        else:
            Agent.objects.filter(pk=self.agent.pk).update(summary=text)
            self.agent.summary = text

    # --- Memory ---------------------------------------------------------------------------

    def isolated(self) -> dict[str, Block]:
        """label -> the conversation's own copy of the agent's block of that label."""
        if self._isolated is None:
            if self.conversation is None or self._none_isolated:
                self._isolated = {}
            else:
                copies = self.conversation.isolated_blocks.all()
                self._isolated = {block.label: block for block in copies}
                self._none_isolated = not self._isolated
        return self._isolated

    def blocks(self) -> list[Block]:
        self._isolated = None  # re-read: the copies' values change between steps
        return memory_services.agent_blocks(self.agent, self.isolated())

    # --- Turns ----------------------------------------------------------------------------

    @property
    def lock_key(self) -> int:
        """The advisory-lock key of this thread's turns (one turn at a time per thread)."""
        owner = self.conversation.id if self.conversation is not None else self.agent.id
        return uuid.UUID(owner.split("-", 1)[1]).int & 0x7FFF_FFFF_FFFF_FFFF

    def refresh(self) -> None:
        self.agent.refresh_from_db()
        if self.conversation is not None:
            self.conversation.refresh_from_db()

    def start_turn(self) -> None:
        """Mark a turn as running before its first message is written: sleep-time
        transcripts stop short of it (transcript_until) until it ends.

        Any message written after this has a higher seq than every message written
        before, so the agent's highest seq + 1 bounds the turn's first message.
        """
        newest = Message.objects.filter(agent=self.agent).order_by("-seq").values("seq")[:1]
        mark = Coalesce(Subquery(newest), 0) + 1
        if self.conversation is not None:
            # One statement: the mark, and when the conversation was last talked in.
            Conversation.objects.filter(pk=self.conversation.pk).update(
                turn_started_seq=mark, last_message_at=timezone.now()
            )
        else:
            Agent.objects.filter(pk=self.agent.pk).update(turn_started_seq=mark)

    def end_turn(self) -> dict[str, Any]:
        """Take the mark off: a conversation's here, the agent's own in the fields returned,
        for the update that ends every turn (loop.run_turn)."""
        if self.conversation is not None:
            Conversation.objects.filter(pk=self.conversation.pk).update(turn_started_seq=None)
            return {}
        return {"turn_started_seq": None}


def transcript_until(primary: Agent) -> int:
    """The last message a sleep-time transcript of `primary` may read: the end of its
    last finished turn, but before the first message of any turn still running in one
    of its threads, so a transcript never holds half a turn."""
    until = primary.last_turn_end_seq or 0
    running = Conversation.objects.filter(agent=primary, turn_started_seq__isnull=False)
    first = running.aggregate(first=Min("turn_started_seq"))["first"]
    own = Agent.objects.filter(pk=primary.pk).values_list("turn_started_seq", flat=True).first()
    for start in (first, own):
        if start is not None:
            until = min(until, start - 1)
    return until


def conversation_labels(primary: Agent, conversation_ids: set[str]) -> dict[str, str]:
    """How a transcript names each conversation: its id, and its summary or description
    when it has one."""
    named = Conversation.objects.filter(agent=primary, pk__in=conversation_ids)
    labels = {}
    for conversation in named.only("id", "summary", "description"):
        title = (conversation.summary or conversation.description).strip().splitlines()
        labels[conversation.id] = (
            f'conversation {conversation.id} ("{title[0][:80]}")'
            if title
            else f"conversation {conversation.id}"
        )
    return labels
