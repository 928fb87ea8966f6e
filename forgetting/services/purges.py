"""The purges: each in one transaction, each leaving a tombstone."""

from __future__ import annotations

from collections import Counter
from datetime import datetime

from django.db import transaction
from django.db.models import Q

from agents import loop
from agents.models import ACTIVE_RUN_STATUSES, Agent, Conversation, Message, Run, RunTrigger
from config.errors import Conflict, InvalidRequest, NotFound
from forgetting.models import Kind, Tombstone
from forgetting.redaction import MARKER, Redactor, strings_in
from forgetting.services.records import (
    check_text,
    delete_messages,
    family_of,
    fragments,
    mentions,
    record_tombstone,
    redact_records,
    scrub_blocks,
)
from memory import services as memory_services
from memory.models import Block, BlockVersion, Passage
from sources import services as source_services
from sources.models import IN_PROGRESS, FileStatus, SourceFile


def purge_messages(
    agent: Agent,
    *,
    who: str,
    everything: bool = False,
    text: str | None = None,
    message_ids: list[str] | None = None,
    start_message_id: str | None = None,
    end_message_id: str | None = None,
    start_date: datetime | None = None,
    end_date: datetime | None = None,
) -> Tombstone:
    """Delete the agent's messages: all, those given, a range (by message ids and/or
    dates, inclusive) or those containing `text` (any case).

    The deleted text also leaves the transcripts of the runs that read it and the inputs
    of its sleep-time agents; `text` is rewritten wherever else it appears (and long
    deleted messages, verbatim). The summary of evicted messages cannot be edited line
    by line, so it is dropped when messages it summarised are deleted. Waits for a turn
    in progress to end, so a turn never sees half a purge.
    """
    ranged = any(v is not None for v in (start_message_id, end_message_id, start_date, end_date))
    chosen = [everything, text is not None, bool(message_ids), ranged]
    if sum(chosen) != 1:
        raise InvalidRequest(
            "Say which messages to forget with exactly one of: all, text, message_ids, or a "
            "range (start_message_id / end_message_id, start_date / end_date)."
        )
    redactor = Redactor([check_text(text)]) if text is not None else None
    if start_date and end_date and start_date > end_date:
        raise InvalidRequest("start_date is after end_date.")
    counts: Counter[str] = Counter()
    with loop.TurnLock.every_thread(agent), transaction.atomic():
        messages = Message.objects.filter(agent=agent).order_by("seq")
        if message_ids:
            selected = list(messages.filter(uid__in=message_ids))
            missing = set(message_ids) - {message.uid for message in selected}
            if missing:
                raise NotFound(f"Message(s) not found: {', '.join(sorted(missing))}")
        elif redactor is not None:
            selected = [m for m in messages.iterator(chunk_size=2000) if mentions(m, redactor)]
        elif ranged:
            for bound, op in ((start_message_id, "gte"), (end_message_id, "lte")):
                if bound is not None:
                    seq = messages.filter(uid=bound).values_list("seq", flat=True).first()
                    if seq is None:
                        raise NotFound(f"Message '{bound}' not found")
                    messages = messages.filter(**{f"seq__{op}": seq})
            if start_date is not None:
                messages = messages.filter(created_at__gte=start_date)
            if end_date is not None:
                messages = messages.filter(created_at__lte=end_date)
            selected = list(messages)
        else:
            selected = list(messages)
        summarised = any(not message.in_context for message in selected)
        quoted = [s for m in selected for s in [m.content, m.reasoning, *strings_in(m.tool_calls)]]
        delete_messages(agent, selected, counts)
        family = family_of(agent)
        if redactor is not None:
            redact_records(family, redactor, counts)
        elif not everything:
            redact_records(family, fragments(quoted), counts)
        if everything or (redactor is None and summarised):
            whose = family if everything else [agent]
            # The summaries that may hold what was selected: of the agent's own history
            # and of its conversations (all of them when everything goes).
            threads = {m.conversation_id for m in selected if not m.in_context}
            own = everything or None in threads
            conversations = Conversation.objects.filter(agent__in=whose)
            if not everything:
                conversations = conversations.filter(pk__in=threads - {None})
            counts["summaries_dropped"] += (
                Agent.objects.filter(pk__in=[a.pk for a in whose] if own else [])
                .exclude(summary="")
                .update(summary="")
            ) + conversations.exclude(history_summary="").update(history_summary="")
        tombstone = record_tombstone(agent, Kind.MESSAGES, who, counts)
    return tombstone


def purge_passages(
    agent: Agent, *, who: str, passage_ids: list[str] | None = None, text: str | None = None
) -> Tombstone:
    """Delete archival passages, given by id or containing `text`: the agent's own and
    those of its attached sources (which are gone for every agent attached to them).
    Their text is also rewritten where the agent's records quote it (search results,
    the tool call that inserted it)."""
    if bool(passage_ids) == (text is not None):
        raise InvalidRequest("Say which passages to forget with either passage_ids or text.")
    counts: Counter[str] = Counter()
    with transaction.atomic():
        scope = memory_services.agent_passages(agent).distinct()
        if passage_ids:
            selected = list(scope.filter(pk__in=passage_ids))
            missing = set(passage_ids) - {passage.pk for passage in selected}
            if missing:
                raise NotFound(f"Passage(s) not found: {', '.join(sorted(missing))}")
        else:
            selected = list(scope.filter(text__icontains=check_text(text)))
        Passage.objects.filter(pk__in=[passage.pk for passage in selected]).delete()
        counts["passages"] += len(selected)
        redact_records(family_of(agent), fragments([p.text for p in selected]), counts)
        tombstone = record_tombstone(agent, Kind.PASSAGES, who, counts)
    return tombstone


def purge_file(agent: Agent, file_id: str, *, who: str) -> Tombstone:
    """Delete a file of a source attached to the agent, with everything derived from it.

    `sources.services.delete_file` deletes the file and its passages and has the digest
    block of every attached agent rebuilt from the remaining files. What the digest
    learned from this file cannot be told apart, sentence by sentence, from what it
    learned from the others: every version of the block from the first one a digest of
    this file wrote is collapsed to MARKER, and the block is emptied now (not by the
    re-digest later, whose reset would keep the old text as its previous value). The
    digest runs that read the file lose its text from their transcripts and their
    stored tool calls; records that quote its passages are rewritten.
    """
    upload = (
        SourceFile.objects.filter(pk=file_id, source__agents=agent)
        .select_related("source")
        .defer("content")
        .first()
    )
    if upload is None:
        raise NotFound(f"File '{file_id}' not found in the sources attached to '{agent.id}'")
    if upload.processing_status in (FileStatus.PENDING, *IN_PROGRESS):
        raise Conflict(
            f"File '{file_id}' is still being processed; forget it once processing ends."
        )
    source = upload.source
    digests = Run.objects.filter(trigger=RunTrigger.DIGEST, metadata__source_id=source.id)
    if digests.filter(status__in=ACTIVE_RUN_STATUSES).exists():
        raise Conflict(
            f"A digest of source '{source.id}' is in progress; forget the file once it ends."
        )
    counts: Counter[str] = Counter()
    with transaction.atomic():
        texts = list(upload.passages.values_list("text", flat=True))
        quoted = fragments(texts)
        names = Redactor({upload.file_name, upload.original_file_name})
        read_it = list(digests.filter(Q(metadata__file_id=upload.pk) | Q(metadata__file_id=None)))
        for run in read_it:
            calls = [
                {**call, "arguments": MARKER, **({"result": MARKER} if "result" in call else {})}
                for call in run.metadata.get("tool_calls", [])
            ]
            whole_file = run.metadata.get("file_id") == upload.pk
            run.transcript = "" if whole_file else names.clean(quoted.clean(run.transcript))
            run.metadata = {**run.metadata, "tool_calls": calls}
            run.save(update_fields=["transcript", "metadata", "updated_at"])
        counts["runs_rewritten"] += len(read_it)
        readers = {run.pk for run in read_it}
        for member in source.agents.all():
            block = Block.objects.filter(agent_links__agent=member, agent_links__label=source.name)
            for found in block:
                counts["versions"] += _collapse_history(found, readers)
            redact_records(family_of(member), quoted, counts)
        counts["passages"] += len(texts)
        counts["files"] += 1
        source_services.delete_file(upload)
        tombstone = record_tombstone(agent, Kind.FILE, who, counts)
    return tombstone


def _collapse_history(block: Block, run_ids: set[str]) -> int:
    locked = Block.objects.select_for_update().get(pk=block.pk)
    first = (
        locked.versions.filter(run_id__in=run_ids)
        .order_by("number")
        .values_list("number", flat=True)
        .first()
    )
    if first is None:
        return 0
    if locked.value:
        memory_services.update_block(locked.id, actor=memory_services.Actor.system(), value="")
    changed = []
    for version in locked.versions.filter(number__gte=first).only("value", "previous_value"):
        value = MARKER if version.value else ""
        # The first such version's previous value predates the file: it stays.
        previous = version.previous_value
        if version.number > first and previous:
            previous = MARKER
        if (value, previous) != (version.value, version.previous_value):
            version.value, version.previous_value = value, previous
            changed.append(version)
    BlockVersion.objects.bulk_update(changed, ["value", "previous_value"])
    return len(changed)


def purge_block_text(agent: Agent, text: str, *, who: str) -> Tombstone:
    """Rewrite `text` (any case) out of every block of the agent and its sleep-time
    agents: current values, descriptions, every version in their history."""
    redactor = Redactor([check_text(text)])
    counts: Counter[str] = Counter()
    with transaction.atomic():
        scrub_blocks(family_of(agent), redactor, counts)
        tombstone = record_tombstone(agent, Kind.BLOCK_TEXT, who, counts)
    return tombstone


def purge_matter(agent: Agent, text: str, counts: Counter[str]) -> None:
    """Everything at once: the agent's messages and passages that mention the text are
    deleted, and the text is rewritten out of every block and derived record."""
    redactor = Redactor([text])
    family = family_of(agent)
    messages = Message.objects.filter(agent=agent).order_by("seq").iterator(chunk_size=2000)
    delete_messages(agent, [m for m in messages if mentions(m, redactor)], counts)
    passages = memory_services.agent_passages(agent).filter(text__icontains=text).distinct()
    doomed = list(passages.values_list("pk", flat=True))
    counts["passages"] += Passage.objects.filter(pk__in=doomed).delete()[0]
    scrub_blocks(family, redactor, counts)
    redact_records(family, redactor, counts)
