"""The built-in tools as the model uses them: memory edits, archival memory and search."""

from __future__ import annotations

import json
from typing import Any

from agents.loop import InputMessage
from agents.models import Message
from agents.services import send_message
from memory import services as memory_services
from memory.models import BlockVersion, Passage


def say(agent: Any, text: str = "Transcript: the user mentioned things.") -> Any:
    return send_message(agent, [InputMessage(role="user", content=text)])


def block_value(agent: Any, label: str) -> str:
    return memory_services.get_agent_block(agent, label).value


def returns(agent: Any) -> list[Message]:
    return list(Message.objects.filter(agent=agent, role="tool").order_by("seq"))


def reported(message: Message) -> str:
    """What the model was told by a tool return."""
    return json.loads(message.content)["message"]


def versions(agent: Any, label: str) -> list[BlockVersion]:
    block = memory_services.get_agent_block(agent, label)
    return list(block.versions.order_by("number"))


def sleeptime_agent(make_agent: Any, **overrides: Any) -> Any:
    overrides.setdefault("blocks", {"human": "Name: Ada\nLikes: tea"})
    return make_agent(agent_type="sleeptime_agent", name="memory-agent", **overrides)


def edit_then_finish(llm: Any, name: str, arguments: dict[str, Any]) -> None:
    llm.sleeper.tool_call(name, arguments)
    llm.sleeper.tool_call("memory_finish_edits")


# --- Sleep-time memory tools: success ---------------------------------------------------


def test_memory_replace_edits_the_block_and_records_who_did_it(make_agent, llm):
    agent = sleeptime_agent(make_agent)
    edit_then_finish(
        llm, "memory_replace", {"label": "human", "old_str": "tea", "new_str": "coffee"}
    )

    result = say(agent)

    assert result.stop_reason == "end_turn"
    assert block_value(agent, "human") == "Name: Ada\nLikes: coffee"
    last = versions(agent, "human")[-1]
    assert last.actor_type == "agent"
    assert last.actor_agent_id == agent.id
    assert last.actor_user is None
    assert last.previous_value == "Name: Ada\nLikes: tea"
    assert last.value == "Name: Ada\nLikes: coffee"
    assert returns(agent)[0].tool_status == "success"
    assert "`human` has been edited" in reported(returns(agent)[0])


def test_memory_insert_puts_new_lines_after_the_given_line(make_agent, llm):
    agent = sleeptime_agent(make_agent)
    edit_then_finish(
        llm, "memory_insert", {"label": "human", "new_str": "Age: 36", "insert_line": 1}
    )

    say(agent)

    assert block_value(agent, "human") == "Name: Ada\nAge: 36\nLikes: tea"
    assert versions(agent, "human")[-1].actor_agent_id == agent.id


def test_memory_insert_appends_by_default(make_agent, llm):
    agent = sleeptime_agent(make_agent)
    edit_then_finish(llm, "memory_insert", {"label": "human", "new_str": "Lives: London"})

    say(agent)

    assert block_value(agent, "human") == "Name: Ada\nLikes: tea\nLives: London"


def test_memory_rethink_rewrites_the_whole_block(make_agent, llm):
    agent = sleeptime_agent(make_agent)
    edit_then_finish(
        llm, "memory_rethink", {"label": "human", "new_memory": "Ada, tea drinker, 36."}
    )

    say(agent)

    assert block_value(agent, "human") == "Ada, tea drinker, 36."
    last = versions(agent, "human")[-1]
    assert (last.actor_type, last.previous_value) == ("agent", "Name: Ada\nLikes: tea")


def test_memory_finish_edits_ends_the_turn_at_once(make_agent, llm):
    agent = sleeptime_agent(make_agent)
    llm.sleeper.tool_call("memory_finish_edits")
    llm.sleeper.tool_call("memory_rethink", {"label": "human", "new_memory": "never applied"})

    result = say(agent)

    assert result.stop_reason == "end_turn"
    assert result.step_count == 1
    assert len(llm.sleeper.requests) == 1
    assert block_value(agent, "human") == "Name: Ada\nLikes: tea"
    assert returns(agent)[0].tool_status == "success"


def test_an_edit_is_in_the_system_prompt_of_the_very_next_step(make_agent, llm):
    agent = sleeptime_agent(make_agent)
    edit_then_finish(
        llm, "memory_replace", {"label": "human", "old_str": "tea", "new_str": "coffee"}
    )

    say(agent)

    first, second = (request["messages"][0]["content"] for request in llm.sleeper.requests)
    assert "Likes: tea" in first
    assert "Line 2: Likes: coffee" in second


def test_several_edits_in_one_turn_are_each_versioned(make_agent, llm):
    agent = sleeptime_agent(make_agent)
    llm.sleeper.tool_call(
        "memory_replace", {"label": "human", "old_str": "tea", "new_str": "coffee"}
    )
    llm.sleeper.tool_call("memory_insert", {"label": "human", "new_str": "Age: 36"})
    llm.sleeper.tool_call("memory_finish_edits")

    say(agent)

    history = versions(agent, "human")
    assert [v.value for v in history[-2:]] == [
        "Name: Ada\nLikes: coffee",
        "Name: Ada\nLikes: coffee\nAge: 36",
    ]
    assert [v.number for v in history] == list(range(1, len(history) + 1))


# --- Sleep-time memory tools: refusals ---------------------------------------------------


def test_a_read_only_block_is_refused_and_unchanged(make_agent, user, llm):
    agent = sleeptime_agent(make_agent, blocks={})
    rules = memory_services.create_block(user, label="rules", value="Be kind.", read_only=True)
    memory_services.attach_block(agent, rules)
    edit_then_finish(llm, "memory_rethink", {"label": "rules", "new_memory": "Be rude."})

    result = say(agent)

    assert result.stop_reason == "end_turn"
    refused = returns(agent)[0]
    assert refused.tool_status == "error"
    assert "read-only" in reported(refused)
    assert block_value(agent, "rules") == "Be kind."
    assert len(versions(agent, "rules")) == 1


def test_an_edit_over_the_block_limit_is_refused_and_changes_nothing(make_agent, llm):
    agent = sleeptime_agent(make_agent, blocks={"human": "Name: Ada"}, human_limit=20)
    edit_then_finish(
        llm, "memory_rethink", {"label": "human", "new_memory": "Name: Ada Lovelace, mathematician"}
    )

    say(agent)

    refused = returns(agent)[0]
    assert refused.tool_status == "error"
    assert "character limit" in reported(refused)
    assert block_value(agent, "human") == "Name: Ada"
    assert len(versions(agent, "human")) == 1


def test_an_insert_that_would_overflow_the_block_is_refused(make_agent, llm):
    agent = sleeptime_agent(make_agent, blocks={"human": "Name: Ada"}, human_limit=15)
    edit_then_finish(llm, "memory_insert", {"label": "human", "new_str": "Likes: tea"})

    say(agent)

    assert "character limit" in reported(returns(agent)[0])
    assert block_value(agent, "human") == "Name: Ada"


def test_memory_replace_refuses_an_old_str_that_occurs_more_than_once(make_agent, llm):
    agent = sleeptime_agent(make_agent, blocks={"human": "Likes: tea\nDislikes: tea"})
    edit_then_finish(
        llm, "memory_replace", {"label": "human", "old_str": "tea", "new_str": "coffee"}
    )

    say(agent)

    refused = returns(agent)[0]
    assert refused.tool_status == "error"
    assert "Multiple occurrences" in reported(refused)
    assert "[1, 2]" in reported(refused)
    assert block_value(agent, "human") == "Likes: tea\nDislikes: tea"


def test_memory_replace_refuses_an_old_str_that_is_not_there(make_agent, llm):
    agent = sleeptime_agent(make_agent)
    edit_then_finish(
        llm, "memory_replace", {"label": "human", "old_str": "coffee", "new_str": "water"}
    )

    say(agent)

    assert "did not appear verbatim" in reported(returns(agent)[0])
    assert block_value(agent, "human") == "Name: Ada\nLikes: tea"


def test_memory_replace_refuses_text_copied_with_its_line_number(make_agent, llm):
    agent = sleeptime_agent(make_agent)
    edit_then_finish(
        llm,
        "memory_replace",
        {"label": "human", "old_str": "Line 2: Likes: tea", "new_str": "Likes: coffee"},
    )

    say(agent)

    assert "line number prefix" in reported(returns(agent)[0])
    assert block_value(agent, "human") == "Name: Ada\nLikes: tea"


def test_editing_a_label_the_agent_does_not_have_names_the_labels_it_has(make_agent, llm):
    agent = sleeptime_agent(make_agent, blocks={"human": "Ada", "persona": "Sam"})
    edit_then_finish(llm, "memory_rethink", {"label": "humans", "new_memory": "x"})

    say(agent)

    message = reported(returns(agent)[0])
    assert "humans" in message
    assert "human, persona" in message


def test_a_refused_edit_lets_the_model_try_again_in_the_same_turn(make_agent, llm):
    agent = sleeptime_agent(make_agent)
    llm.sleeper.tool_call(
        "memory_replace", {"label": "human", "old_str": "Tea", "new_str": "coffee"}
    )
    edit_then_finish(
        llm, "memory_replace", {"label": "human", "old_str": "tea", "new_str": "coffee"}
    )

    result = say(agent)

    assert result.stop_reason == "end_turn"
    assert [m.tool_status for m in returns(agent)] == ["error", "success", "success"]
    assert block_value(agent, "human") == "Name: Ada\nLikes: coffee"


# --- Core memory tools of a primary agent ------------------------------------------------


def test_core_memory_append_adds_a_line_to_the_block(make_agent, llm):
    agent = make_agent(blocks={"human": "Name: Ada"})
    llm.tool_call("core_memory_append", {"label": "human", "content": "Likes: tea"})
    llm.tool_call("send_message", {"message": "Noted."})

    result = say(agent, "I like tea")

    assert result.stop_reason == "end_turn"
    assert block_value(agent, "human") == "Name: Ada\nLikes: tea"
    last = versions(agent, "human")[-1]
    assert (last.actor_type, last.actor_agent_id) == ("agent", agent.id)


def test_core_memory_append_to_an_empty_block_adds_no_blank_line(make_agent, llm):
    agent = make_agent(blocks={"human": ""})
    llm.tool_call("core_memory_append", {"label": "human", "content": "Name: Ada"})
    llm.tool_call("send_message", {"message": "Hi Ada."})

    say(agent, "I am Ada")

    assert block_value(agent, "human") == "Name: Ada"


def test_core_memory_replace_replaces_every_occurrence(make_agent, llm):
    agent = make_agent(blocks={"human": "Likes tea. Drinks tea daily."})
    llm.tool_call(
        "core_memory_replace", {"label": "human", "old_content": "tea", "new_content": "coffee"}
    )
    llm.tool_call("send_message", {"message": "Updated."})

    say(agent, "I switched to coffee")

    assert block_value(agent, "human") == "Likes coffee. Drinks coffee daily."


def test_core_memory_replace_of_missing_text_is_refused(make_agent, llm):
    agent = make_agent(blocks={"human": "Likes tea."})
    llm.tool_call(
        "core_memory_replace", {"label": "human", "old_content": "juice", "new_content": "water"}
    )
    llm.tool_call("send_message", {"message": "Hmm."})

    result = say(agent, "update it")

    assert result.stop_reason == "end_turn"
    refused = returns(agent)[0]
    assert refused.tool_status == "error"
    assert "not found" in reported(refused)
    assert block_value(agent, "human") == "Likes tea."


def test_core_memory_append_respects_the_block_limit(make_agent, llm):
    agent = make_agent(blocks={"human": "Name: Ada"}, human_limit=12)
    llm.tool_call("core_memory_append", {"label": "human", "content": "Likes: tea"})
    llm.tool_call("send_message", {"message": "Hmm."})

    say(agent, "I like tea")

    assert "character limit" in reported(returns(agent)[0])
    assert block_value(agent, "human") == "Name: Ada"


# --- Archival memory ---------------------------------------------------------------------


def test_archival_insert_then_search_finds_the_passage(make_agent, llm):
    agent = make_agent()
    memory_services.insert_passage(agent, "The office wifi password is on the fridge.")
    llm.tool_call(
        "archival_memory_insert", {"content": "Ada's cat is named Pixel.", "tags": ["pets"]}
    )
    llm.tool_call("archival_memory_search", {"query": "what is the cat named", "top_k": 1})
    llm.tool_call("send_message", {"message": "Your cat is Pixel."})

    result = say(agent, "remember my cat Pixel, then tell me its name")

    assert result.stop_reason == "end_turn"
    inserted, searched, _ = returns(agent)
    assert inserted.tool_status == "success"
    passage = Passage.objects.get(agent=agent, text="Ada's cat is named Pixel.")
    assert passage.tags == ["pets"]
    found = json.loads(reported(searched))
    assert [item["content"] for item in found] == ["Ada's cat is named Pixel."]
    assert found[0]["tags"] == ["pets"]
    assert llm.embedding_requests, "the passage and the query were embedded by the provider"


def test_archival_search_filters_by_tag(make_agent, llm):
    agent = make_agent()
    memory_services.insert_passage(agent, "Cat food is in the cupboard.", tags=["home"])
    memory_services.insert_passage(agent, "The cat sees the vet in May.", tags=["pets"])
    llm.tool_call("archival_memory_search", {"query": "cat", "tags": ["pets"]})
    llm.tool_call("send_message", {"message": "ok"})

    say(agent, "when is the vet?")

    found = json.loads(reported(returns(agent)[0]))
    assert [item["content"] for item in found] == ["The cat sees the vet in May."]


def test_archival_search_does_not_see_another_agents_passages(make_agent, llm):
    agent = make_agent(name="mine")
    other = make_agent(name="theirs")
    memory_services.insert_passage(other, "A secret about the cat.")
    llm.tool_call("archival_memory_search", {"query": "secret cat"})
    llm.tool_call("send_message", {"message": "ok"})

    say(agent, "any secrets?")

    assert json.loads(reported(returns(agent)[0])) == []


def test_an_empty_archival_insert_is_refused(make_agent, llm):
    agent = make_agent()
    llm.tool_call("archival_memory_insert", {"content": "   "})
    llm.tool_call("send_message", {"message": "ok"})

    say(agent, "remember nothing")

    assert returns(agent)[0].tool_status == "error"
    assert not Passage.objects.filter(agent=agent).exists()


# --- Conversation search -----------------------------------------------------------------


def test_conversation_search_finds_an_earlier_message_but_not_the_current_turns(make_agent, llm):
    agent = make_agent()
    say(agent, "My favourite colour is teal.")
    llm.tool_call("conversation_search", {"query": "favourite colour"})
    llm.tool_call("send_message", {"message": "Teal."})

    say(agent, "What was my favourite colour again?")

    results = json.loads(reported(returns(agent)[-2]))["results"]
    contents = [(item["role"], item["content"]) for item in results]
    assert ("user", "My favourite colour is teal.") in contents
    assert all("again" not in content for _, content in contents)


def test_conversation_search_shows_the_assistants_sent_messages_not_tool_chatter(make_agent, llm):
    agent = make_agent()
    say(agent, "ping")  # the fake model answers "echo: ping" with send_message
    llm.tool_call("conversation_search", {"query": "echo"})
    llm.tool_call("send_message", {"message": "done"})

    say(agent, "search")

    results = json.loads(reported(returns(agent)[-2]))["results"]
    assert [(item["role"], item["content"]) for item in results] == [("assistant", "echo: ping")]


def test_conversation_search_with_no_match_says_so(make_agent, llm):
    agent = make_agent()
    say(agent, "hello")
    llm.tool_call("conversation_search", {"query": "xylophone"})
    llm.tool_call("send_message", {"message": "nothing"})

    say(agent, "search")

    assert reported(returns(agent)[-2]) == "No results found."


def test_conversation_search_filters_by_role(make_agent, llm):
    agent = make_agent()
    say(agent, "teal is nice")
    llm.tool_call("conversation_search", {"query": "teal", "roles": ["assistant"]})
    llm.tool_call("send_message", {"message": "ok"})

    say(agent, "search")

    results = json.loads(reported(returns(agent)[-2]))["results"]
    assert [item["role"] for item in results] == ["assistant"]
    assert results[0]["content"] == "echo: teal is nice"
