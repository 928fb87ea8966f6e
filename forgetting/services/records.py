"""The primitives every purge is made of: finding an agent's family, deleting messages
with their transcript lines, rewriting derived records and block history, recording
the tombstone."""

from __future__ import annotations

from collections import Counter
from typing import Any

from django.db import transaction
from django.db.models import Q

from agents import sleeptime, transcript
from agents.models import Agent, Conversation, Insight, Message, Run, RunTrigger
from config.errors import InvalidRequest
from forgetting.models import Tombstone
from forgetting.redaction import Redactor, remove_chunks
from memory import services as memory_services
from memory.models import Block, BlockVersion, Proposal

# Forgetting "a" or "is" would rewrite nearly every record; a text to forget is a name,
# a phrase, a number: a few characters at least.
MIN_TEXT = 3
MAX_TEXT = 1000
# Deleted messages and passages are also looked for, verbatim, in the records derived
# from them. Short ones ("ok", "thanks") are not: they would rewrite unrelated text.
MIN_FRAGMENT = 12


# --- Helpers -------------------------------------------------------------------------------


def organization_id_of(agent: Agent) -> str:
    return str(getattr(agent, "organization_id", "") or "")


def check_text(text: str | None) -> str:
    if text is None or len(text.strip()) < MIN_TEXT:
        raise InvalidRequest(f"The text to forget needs at least {MIN_TEXT} characters.")
    if len(text) > MAX_TEXT:
        raise InvalidRequest(f"The text to forget may have at most {MAX_TEXT} characters.")
    check_storable(text, "The text to forget")
    return text


def check_storable(value: str, what: str) -> None:
    """Refuse what Postgres cannot store (NUL, unpaired surrogates) as the client's error,
    before it reaches the database and fails there."""
    if "\x00" in value:
        raise InvalidRequest(f"{what} cannot contain NUL characters.")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidRequest(f"{what} is not valid Unicode text.") from None


def family_of(agent: Agent) -> list[Agent]:
    group = sleeptime.group_of(agent)
    return [agent, *(sleeptime.sleeptime_agents(group) if group is not None else [])]


def record_tombstone(agent: Agent, kind: str, who: str, counts: Counter[str]) -> Tombstone:
    details = {key: value for key, value in sorted(counts.items()) if value}
    return Tombstone.objects.create(
        agent_id=agent.id,
        organization_id=organization_id_of(agent),
        who=who,
        kind=kind,
        count=sum(details.values()),
        details=details,
    )


def mentions(message: Message, redactor: Redactor) -> bool:
    return (
        redactor.found(message.content)
        or redactor.found(message.reasoning)
        or redactor.found_in(message.tool_calls)
    )


def fragments(texts: list[str]) -> Redactor:
    return Redactor(text for text in texts if len(text.strip()) >= MIN_FRAGMENT)


# --- Rewriting derived records -------------------------------------------------------------


def redact_records(family: list[Agent], redactor: Redactor, counts: Counter[str]) -> None:
    """Rewrite every occurrence in the family's messages, runs (transcripts, errors, stored
    tool calls) and summaries; delete the insights that mention it."""
    if not redactor:
        return
    ids = [agent.id for agent in family]
    changed: list[Message] = []
    messages = Message.objects.filter(agent_id__in=ids).only("content", "reasoning", "tool_calls")
    for message in messages.iterator(chunk_size=2000):
        content, reasoning = redactor.clean(message.content), redactor.clean(message.reasoning)
        calls = message.tool_calls
        if redactor.found_in(calls):
            calls = redactor.clean_json(calls)
        if (content, reasoning, calls) != (message.content, message.reasoning, message.tool_calls):
            message.content, message.reasoning, message.tool_calls = content, reasoning, calls
            changed.append(message)
    Message.objects.bulk_update(changed, ["content", "reasoning", "tool_calls"], batch_size=500)
    counts["messages_rewritten"] += len(changed)

    rewritten: list[Run] = []
    family_runs = Run.objects.filter(Q(primary_agent_id__in=ids) | Q(run_agent_id__in=ids))
    # Locked: a run that ends meanwhile writes its metadata, which this must not undo.
    fields = ("transcript", "error", "outcome_reason", "metadata")
    for run in family_runs.select_for_update().only(*fields):
        text, error = redactor.clean(run.transcript), redactor.clean(run.error)
        # The ledger's reason quotes what the guards refused, or the error.
        reason = redactor.clean(run.outcome_reason)
        metadata = redactor.clean_json(run.metadata) if redactor.found_in(run.metadata) else None
        if (text, error, reason) != (run.transcript, run.error, run.outcome_reason) or (
            metadata is not None
        ):
            run.transcript, run.error, run.outcome_reason = text, error, reason
            run.metadata = run.metadata if metadata is None else metadata
            rewritten.append(run)
    Run.objects.bulk_update(rewritten, list(fields), batch_size=500)
    counts["runs_rewritten"] += len(rewritten)

    for member in Agent.objects.filter(pk__in=ids).only("summary"):
        summary = redactor.clean(member.summary)
        if summary != member.summary:
            Agent.objects.filter(pk=member.pk).update(summary=summary)
            counts["summaries_rewritten"] += 1
    threads = Conversation.objects.filter(agent_id__in=ids)
    for thread in threads.only("history_summary", "summary", "description"):
        cleaned = {
            name: redactor.clean(getattr(thread, name))
            for name in ("history_summary", "summary", "description")
        }
        if any(cleaned[name] != getattr(thread, name) for name in cleaned):
            Conversation.objects.filter(pk=thread.pk).update(**cleaned)
            counts["summaries_rewritten"] += 1

    insights = Insight.objects.filter(agent_id__in=ids).only("title", "body")
    doomed = [i.pk for i in insights if redactor.found(i.title) or redactor.found(i.body)]
    Insight.objects.filter(pk__in=doomed).delete()
    counts["insights"] += len(doomed)


def delete_messages(agent: Agent, selected: list[Message], counts: Counter[str]) -> None:
    """Delete the messages and take their lines out of the transcripts of the sleep-time
    runs that read them (the run's record and the sleep-time agent's input alike)."""
    if not selected:
        return
    chunks = {message.seq: transcript.lines(message) for message in selected}
    first, last = min(chunks), max(chunks)
    readers = (
        Run.objects.filter(
            primary_agent=agent, transcript_after_seq__lt=last, transcript_until_seq__gte=first
        )
        .exclude(trigger=RunTrigger.DIGEST)
        .only("transcript", "transcript_after_seq", "transcript_until_seq", "run_agent_id")
    )
    for run in readers:
        after, until = run.transcript_after_seq or 0, run.transcript_until_seq or 0
        lines = [
            line for seq, rendered in chunks.items() if after < seq <= until for line in rendered
        ]
        text, removed = remove_chunks(run.transcript, lines)
        if removed:
            Run.objects.filter(pk=run.pk).update(transcript=text)
            counts["transcripts"] += 1
        inputs = Message.objects.filter(agent_id=run.run_agent_id, run_id=run.id, role="user")
        for message in inputs.only("content"):
            content, removed = remove_chunks(message.content, lines)
            if removed:
                Message.objects.filter(pk=message.pk).update(content=content)
                counts["messages_rewritten"] += 1
    Message.objects.filter(pk__in=list(chunks)).delete()
    counts["messages"] += len(chunks)


def scrub_block(block: Block, redactor: Redactor, counts: Counter[str]) -> None:
    """Rewrite the block's value, description and every version of it without the text.

    Occurrences are replaced with MARKER rather than whole lines removed: a line often
    holds other facts, and replacing the same text the same way in every version keeps
    the history a chain (each version's previous value is the one before's value), so
    diffs, three-way merges and undo keep working on it. Only when the marker would
    push the value over the block's limit are the occurrences removed instead, in every
    version of that block alike. The value changes through `update_block`, as a new
    version: a model that read the old text is then refused if it rewrites the block.
    """
    with transaction.atomic():
        locked = Block.objects.select_for_update().get(pk=block.pk)
        value = redactor.clean(locked.value)
        if len(value) > locked.limit:
            redactor = redactor.removing()
            value = redactor.clean(locked.value)
        changes: dict[str, Any] = {}
        if value != locked.value:
            changes["value"] = value
        description = redactor.clean(locked.description)
        if description != locked.description:
            changes["description"] = description
        if changes:
            memory_services.update_block(locked.id, actor=memory_services.Actor.system(), **changes)
            counts["blocks_rewritten"] += 1
        changed = []
        versions = BlockVersion.objects.filter(block=locked)
        for version in versions.only("value", "previous_value", "description"):
            new = tuple(
                redactor.clean(text)
                for text in (version.value, version.previous_value, version.description)
            )
            if new != (version.value, version.previous_value, version.description):
                version.value, version.previous_value, version.description = new
                changed.append(version)
        BlockVersion.objects.bulk_update(changed, ["value", "previous_value", "description"])
        counts["versions"] += len(changed)
        # Edits waiting for review hold the block's text too (rewritten alike in both
        # values, so their hunks stay the same hunks).
        proposed = []
        for proposal in Proposal.objects.filter(block=locked):
            cleaned = (
                redactor.clean(proposal.base_value),
                redactor.clean(proposal.proposed_value),
                [redactor.clean(str(reason)) for reason in proposal.reasons],
            )
            if cleaned != (proposal.base_value, proposal.proposed_value, proposal.reasons):
                proposal.base_value, proposal.proposed_value, proposal.reasons = cleaned
                proposed.append(proposal)
        Proposal.objects.bulk_update(proposed, ["base_value", "proposed_value", "reasons"])
        counts["proposals"] += len(proposed)


def scrub_blocks(family: list[Agent], redactor: Redactor, counts: Counter[str]) -> None:
    blocks = Block.objects.filter(agent_links__agent__in=family).distinct().order_by("id")
    for block in blocks:
        scrub_block(block, redactor, counts)
