import copy
import json
import pickle

import pytest

from trace_engine import Module, StateError, bundle, model, node


class Inner(Module):
    def __init__(self):
        self.weights = [node(1.0, trainable=True, name="w"), node(2.0, trainable=True, name="w")]
        self.fixed = node(0.5)


class Agent(Module):
    def __init__(self):
        self.prompt = node("Be brief.", trainable=True, name="prompt")
        self.inner = Inner()
        self.tools = {"search": node("find things", trainable=True, name="tool_doc")}

    @bundle(trainable=True)
    def answer(self, question):
        """Answers a question."""
        return question.upper()


@model
class Plain:
    def __init__(self):
        self.threshold = node(3, trainable=True, name="threshold")


def test_named_parameters_cover_attributes_containers_nested_and_methods():
    agent = Agent()
    names = [name for name, _ in agent.named_parameters()]
    assert names == [
        "prompt",
        "inner.weights.0",
        "inner.weights.1",
        "tools.search",
        "answer.__code",
    ]
    assert len(agent.parameters()) == 5


def test_code_parameters_are_per_instance():
    a, b = Agent(), Agent()
    code_a = dict(a.named_parameters())["answer.__code"]
    code_b = dict(b.named_parameters())["answer.__code"]
    assert code_a is not code_b
    code_a.set("def answer(self, question):\n    return question.lower()\n")
    assert a.answer("Hi").data == "hi" and b.answer("Hi").data == "HI"


def test_state_dict_round_trip_and_save_load(tmp_path):
    agent = Agent()
    agent.prompt.set("Be thorough.")
    dict(agent.named_parameters())["answer.__code"].set(
        "def answer(self, question):\n    return question[::-1]\n"
    )
    path = tmp_path / "agent.json"
    agent.save(path)
    saved = json.loads(path.read_text())
    assert saved["parameters"]["answer.__code"]["kind"] == "code"
    assert "question[::-1]" in saved["parameters"]["answer.__code"]["value"]
    fresh = Agent()
    fresh.load(path)
    assert fresh.state_dict() == agent.state_dict()
    assert fresh.answer("abc").data == "cba"


def test_load_state_dict_names_missing_and_unexpected_keys():
    agent = Agent()
    state = agent.state_dict()
    del state["prompt"]
    state["bogus"] = 1
    with pytest.raises(StateError, match="missing prompt; unexpected bogus"):
        agent.load_state_dict(state)


def test_load_is_all_or_nothing():
    agent = Agent()
    state = agent.state_dict()
    state["prompt"] = "changed"
    state["answer.__code"] = "def answer(self):\n    return 1\n"
    with pytest.raises(StateError, match="changes the signature"):
        agent.load_state_dict(state)
    assert agent.prompt.data == "Be brief."


def test_loading_a_file_from_another_module_is_refused(tmp_path):
    path = tmp_path / "plain.json"
    Plain().save(path)
    with pytest.raises(StateError, match="holds the state of .*Plain, not of .*Agent"):
        Agent().load(path)
    (tmp_path / "junk.json").write_text("{nope")
    with pytest.raises(StateError, match="not valid JSON"):
        Agent().load(tmp_path / "junk.json")


def test_unsaveable_value_is_named(tmp_path):
    p = Plain()
    p.threshold.set({1, 2})
    with pytest.raises(StateError, match="threshold.*set"):
        p.save(tmp_path / "x.json")
    assert not (tmp_path / "x.json").exists()


def test_model_decorator_keeps_name_and_makes_a_module():
    p = Plain()
    assert isinstance(p, Module) and type(p).__name__ == "Plain"
    assert [n for n, _ in p.named_parameters()] == ["threshold"]


def test_modules_pickle_and_deepcopy_with_changed_code():
    agent = Agent()
    dict(agent.named_parameters())["answer.__code"].set(
        "def answer(self, question):\n    return question * 2\n"
    )
    for clone in (copy.deepcopy(agent), pickle.loads(pickle.dumps(agent))):
        assert clone.state_dict() == agent.state_dict()
        assert clone.answer("ab").data == "abab"
        assert clone.prompt is not agent.prompt
