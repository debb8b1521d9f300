import json
import time

import pytest

from agents import Agent, Tool
from trace_engine import CodeParameter, feedback_graph


def calculator(expression: str) -> str:
    if not set(expression) <= set("0123456789+-*/(). "):
        raise ValueError(f"not arithmetic: {expression!r}")
    return str(eval(expression))


def scripted(actions):
    """A model that replays ``actions`` and records every prompt it saw."""
    seen = []
    replies = iter(actions)

    def llm(messages):
        seen.append(messages)
        return json.dumps(next(replies))

    return llm, seen


def test_tool_loop_reaches_an_answer_and_meters_steps():
    llm, seen = scripted(
        [
            {"thought": "compute", "action": "calc", "input": "6*7"},
            {"thought": "done", "action": "finish", "input": " '42' "},
        ]
    )
    agent = Agent([Tool("calc", calculator, "evaluates arithmetic")], llm=llm)
    result = agent.run("What is 6 times 7?")
    assert result.finished and result.answer.data == "42"
    assert [s.action for s in result.steps] == ["calc", "finish"]
    assert result.steps[0].observation == "42"
    assert "Observation: 42" in seen[1][-1]["content"]
    assert "calc: evaluates arithmetic" in seen[0][0]["content"]
    assert result.usage.prompt_tokens > 0 and all(s.usage.total_tokens > 0 for s in result.steps)


def test_failing_tool_error_is_fed_back_as_observation():
    llm, seen = scripted(
        [
            {"thought": "try", "action": "calc", "input": "import os"},
            {"thought": "fix", "action": "calc", "input": "1+1"},
            {"thought": "done", "action": "finish", "input": "2"},
        ]
    )
    agent = Agent([Tool("calc", calculator, "evaluates arithmetic")], llm=llm)
    result = agent.run("1+1?")
    assert (
        result.steps[0].error and "raised ValueError: not arithmetic" in result.steps[0].observation
    )
    assert "Observation: error: tool 'calc' raised ValueError" in seen[1][-1]["content"]
    assert result.answer.data == "2"


def test_hanging_tool_times_out_and_unknown_tool_and_bad_json_are_observations():
    def hang(_):
        time.sleep(5)
        return "late"

    replies = iter(
        [
            '{"thought": "", "action": "slow", "input": "x"}',
            '{"thought": "", "action": "search", "input": "x"}',
            "I think the answer is 3",
            '{"thought": "", "action": "finish", "input": "3"}',
        ]
    )
    agent = Agent([Tool("slow", hang, "sleeps", timeout=0.2)], llm=lambda m: next(replies))
    start = time.perf_counter()
    result = agent.run("q")
    assert time.perf_counter() - start < 3
    assert "timed out after 0.2s" in result.steps[0].observation
    assert "unknown tool 'search'" in result.steps[1].observation
    assert (
        result.steps[2].action == "invalid" and "not a JSON action" in result.steps[2].observation
    )
    assert result.answer.data == "3"


def test_step_limit_stops_the_run():
    llm, _ = scripted([{"thought": "", "action": "calc", "input": "1+1"}] * 10)
    agent = Agent([Tool("calc", calculator, "evaluates arithmetic")], llm=llm, max_steps=3)
    result = agent.run("loop forever")
    assert not result.finished and result.stopped == "max_steps"
    assert len(result.steps) == 3 and result.answer.data is None


def test_trainable_parts_receive_feedback():
    llm, _ = scripted(
        [
            {"thought": "", "action": "calc", "input": "2+2"},
            {"thought": "", "action": "finish", "input": "4"},
        ]
    )
    tool = Tool("calc", calculator, "evaluates arithmetic")
    agent = Agent([tool], llm=llm)
    names = dict(agent.named_parameters())
    assert set(names) == {"system_prompt", "tools.0.description", "extract_answer.__code"}
    assert isinstance(names["extract_answer.__code"], CodeParameter)
    result = agent.run("2+2?")
    result.answer.backward("expected the number 4 as an int")
    graph = feedback_graph(agent.parameters(), [result.answer])
    for param in agent.parameters():
        assert param in graph.nodes, param.name
    names["extract_answer.__code"].set(
        "def extract_answer(self, text):\n    return text.strip() + '!'\n"
    )
    assert agent.extract_answer("4").data == "4!"


def test_bad_agent_configuration():
    with pytest.raises(ValueError, match="distinct"):
        Agent([Tool("a", str, "x"), Tool("a", str, "y")], llm=lambda m: "")
    with pytest.raises(ValueError, match="reserved"):
        Tool("finish", str, "x")
    with pytest.raises(ValueError, match="max_steps"):
        Agent([], llm=lambda m: "", max_steps=0)
