from __future__ import annotations

from agents.loop import InputMessage
from agents.services import send_message


def test_a_turn_delivers_the_models_send_message_and_stores_it(make_agent, llm):
    agent = make_agent()
    llm.tool_call("send_message", {"message": "Hello there!"})
    result = send_message(agent, [InputMessage(role="user", content="hi")])
    assert result.stop_reason == "end_turn"
    assert [m.role for m in agent.messages.order_by("seq")] == ["user", "assistant", "tool"]
    system = llm.last_request["messages"][0]["content"]
    assert "<persona>" in system and "I am a helpful assistant." in system
