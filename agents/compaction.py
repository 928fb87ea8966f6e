"""Sleep-time-aware context: what a sleep-time run has read leaves the primary's prompt.

The point of sleep-time compute is to take work out of question time: once a sleep-time
agent has read a stretch of conversation and consolidated it into the memory blocks, the
primary need not read that stretch again at every turn. So after a successful run, the
turns it read leave the context of each thread they belong to, but for the last
`context_tail_turns` turns (recent talk the next answer may lean on), and the thread's
recursive summary takes them in, as when a full context is compacted. Nothing is lost:
the messages stay stored, searchable (conversation_search), and in the ADE.

It happens in the background, at the end of the run, never in a turn: the summary is
written with no lock held, and the context changes under the thread's turn lock, tried
rather than waited for; a thread whose turn is running then, or whose context changed
meanwhile, keeps its context until a later run. Turns leave in batches of at least
`context_tail_turns`, so the summary, one model call, is written once every so many
turns rather than at every one; the context then holds between one and two tails of
turns beside the summary.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from agents import loop
from agents.models import Agent, Conversation, Message
from agents.threads import Thread

logger = logging.getLogger("reverie.compaction")


@dataclass
class Compacted:
    """What compaction did after one run: messages moved out, and the summary's tokens
    (the provider's, for the run's spend)."""

    messages: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0


def _turns(history: list[Message]) -> list[list[Message]]:
    """The history's turns in order (a message of no turn is one on its own)."""
    turns: list[list[Message]] = []
    for message in history:
        if turns and message.turn_id and turns[-1][-1].turn_id == message.turn_id:
            turns[-1].append(message)
        else:
            turns.append([message])
    return turns


def _leaving(thread: Thread, until_seq: int, tail: int) -> list[Message]:
    """The messages of `thread` to move out: whole turns read by the run (up to
    `until_seq`), before the last `tail` turns, once there are at least `tail` of them."""
    history = list(
        thread.messages().filter(in_context=True).order_by("seq").only(*loop.HISTORY_FIELDS)
    )
    turns = _turns(history)[:-tail]
    read = []
    for turn in turns:
        if turn[-1].seq > until_seq:
            break  # a turn the run has not read, and every one after it
        read.append(turn)
    if len(read) < tail:
        return []
    return [message for turn in read for message in turn]


def _threads(primary: Agent, until_seq: int) -> list[Thread]:
    """The primary's threads with messages in context that the run read."""
    found = [Thread(primary)]
    conversations = Conversation.objects.filter(
        agent=primary, messages__in_context=True, messages__seq__lte=until_seq
    ).distinct()
    return found + [Thread(primary, conversation) for conversation in conversations]


def after_run(primary: Agent, until_seq: int) -> Compacted:
    """Move what a run read (messages up to `until_seq`) out of `primary`'s prompt, as
    the module says. Raises llm.LLMError when the summary cannot be written; what was
    to leave then stays."""
    done = Compacted()
    tail = primary.context_tail_turns
    if not tail:
        return done  # off: what was read stays until the context is full
    for thread in _threads(primary, until_seq):
        thread.refresh()  # the summary as the last turn left it
        leaving = _leaving(thread, until_seq, tail)
        if not leaving:
            continue
        # The model writes the summary with no lock held: a turn of the thread never
        # waits for it. The context changes only under the turn lock, and only if it is
        # still the one summarised.
        summarised_from = thread.summary
        reply = loop.summarize(thread, leaving)
        done.prompt_tokens += reply.prompt_tokens
        done.completion_tokens += reply.completion_tokens
        with loop.TurnLock.unless_busy(thread) as free:
            if not free:
                continue  # a turn is reading this context: a later run will do it
            thread.refresh()
            still = Message.objects.filter(pk__in=[m.pk for m in leaving], in_context=True)
            if thread.summary != summarised_from or still.count() != len(leaving):
                continue  # a turn summarised meanwhile: a later run will do it
            loop.evict(thread, leaving, reply.content or "")
            done.messages += len(leaving)
    return done
