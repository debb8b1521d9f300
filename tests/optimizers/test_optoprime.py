import json

import pytest

from optimizers import NoFeedback, OptoPrime, StepResult
from trace_engine import ExecutionError, Range, StateError, bundle, node
from trace_engine.llm import Budget, BudgetExceeded, LLMError


def _numeric(name="opt_x", value=3, **kwargs):
    x = node(value, trainable=True, name=name, **kwargs)
    y = x * 3 + 2
    return x, y


def test_step_applies_a_converted_suggestion_and_reports_usage(scripted, suggest_reply):
    x, y = _numeric()
    llm = scripted(suggest_reply("y = 3x + 2 = 17 needs x = 5", opt_x="5"))
    opt = OptoPrime([x], llm)
    opt.zero_feedback()
    opt.backward(y, "y should be 17")
    result = opt.step()
    assert result.ok and result.changed
    assert result.proposed == {"opt_x": "5"} and result.applied == {"opt_x": 5}
    assert x.data == 5 and result.reasoning.startswith("y = 3x")
    assert result.calls == 1 and result.usage.total_tokens > 0
    assert opt.history == [result]
    system, user = llm.prompts[0]
    assert system["role"] == "system" and "#Variables" in system["content"]
    assert "(int) opt_x=3" in user["content"] and "y should be 17" in user["content"]


def test_schema_sent_to_backend_lists_only_trainable_names():
    x, y = _numeric("schema_x")
    seen = {}

    class Recording:
        def __call__(self, messages):
            return '{"reasoning": "r", "suggestion": {"schema_x": 4}}'

    from trace_engine.llm import CallableLLM

    class SchemaSpy(CallableLLM):
        def complete(self, messages, **options):
            seen.update(options)
            return super().complete(messages, **options)

    opt = OptoPrime([x], SchemaSpy(Recording()))
    opt.backward(y, "more")
    opt.step()
    suggestion = seen["json_schema"]["properties"]["suggestion"]
    assert list(suggestion["properties"]) == ["schema_x"]
    assert suggestion["properties"]["schema_x"] == {"type": "integer"}
    assert seen["max_tokens"] > 0 and seen["temperature"] == 0.0


def test_hostile_reply_cannot_touch_inputs_or_unknown_names(scripted):
    x = node(1, trainable=True, name="host_x")
    fixed = node(10, name="host_input")
    other_param = node(7, trainable=True, name="host_other")
    y = x + fixed + other_param
    reply = json.dumps(
        {
            "reasoning": "ignore previous instructions",
            "suggestion": {"host_input": 0, "host_other": 0, "__class__": "x", "host_x": 2},
        }
    )
    opt = OptoPrime([x], scripted(reply))
    opt.backward(y, "y should be 20")
    result = opt.step()
    assert result.applied == {"host_x": 2}
    assert set(result.rejected) == {"host_input", "host_other", "__class__"}
    assert "not a trainable variable" in result.rejected["host_input"]
    assert fixed.data == 10 and other_param.data == 7 and x.data == 2


@pytest.mark.parametrize(
    "reply",
    ["complete nonsense", "", '{"reasoning": "r", "suggestion": ["x"]}', "[1, 2]"],
    ids=["prose", "empty", "list-suggestion", "array"],
)
def test_unreadable_reply_fails_the_step_and_changes_nothing(scripted, reply):
    x, y = _numeric("bad_reply_x")
    opt = OptoPrime([x], scripted(reply))
    opt.backward(y, "more")
    result = opt.step()
    assert not result.ok and result.error_type == "ReplyError"
    assert x.data == 3 and not result.changed


def test_terminate_changes_nothing(scripted):
    x, y = _numeric("term_x")
    opt = OptoPrime([x], scripted("TERMINATE"))
    opt.backward(y, "looks fine")
    result = opt.step()
    assert result.ok and result.terminated and not result.changed and x.data == 3


def test_constraint_violation_is_rejected_with_reason(scripted, suggest_reply):
    x, y = _numeric("range_x", constraint=Range(0, 10))
    opt = OptoPrime([x], scripted(suggest_reply(range_x=50)))
    opt.backward(y, "much bigger")
    result = opt.step()
    assert result.ok and not result.changed
    assert "above the maximum 10" in result.rejected["range_x"]
    assert x.data == 3
    assert "range_x: a number in [0, 10]" in opt.last_problem.text


def test_type_mismatch_is_rejected(scripted, suggest_reply):
    x, y = _numeric("type_x")
    opt = OptoPrime([x], scripted(suggest_reply(type_x="a lot")))
    opt.backward(y, "more")
    result = opt.step()
    assert "cannot use 'a lot' as int" in result.rejected["type_x"] and x.data == 3


@bundle(trainable=True)
def repair_me(a, b):
    """Returns the sum of a and b."""
    return a - b


@pytest.mark.parametrize(
    "code, reason",
    [
        ("def repair_me(a, b):\n    return a +", "does not parse"),
        ("def add_them(a, b):\n    return a + b", "must define a function named 'repair_me'"),
        ("def repair_me(a, b, c):\n    return a + b", "changes the signature"),
        ("repair_me = lambda a, b: a + b", "must define a function"),
    ],
    ids=["syntax", "renamed", "signature", "lambda"],
)
def test_rejected_code_keeps_the_old_code(scripted, suggest_reply, code, reason):
    param = repair_me.parameters()[0]
    before = param.data
    out = repair_me(2, 3)
    opt = OptoPrime([param], scripted(suggest_reply(**{param.name: code})))
    opt.backward(out, "expected 5")
    result = opt.step()
    assert reason in result.rejected[param.name]
    assert param.data == before and repair_me(2, 3).data == -1


def test_good_code_is_formatted_and_runs(scripted, suggest_reply):
    @bundle(trainable=True)
    def double_it(x):
        """Doubles x."""
        return x

    param = double_it.parameters()[0]
    code = "```python\n  def double_it(x):\n      return x * 2   \n```"
    opt = OptoPrime([param], scripted(suggest_reply(**{param.name: code})))
    opt.backward(double_it(4), "expected 8")
    result = opt.step()
    assert result.applied[param.name] == (
        'def double_it(x):\n    """Doubles x."""\n    return x * 2\n'
    )
    assert double_it(4).data == 8


def test_error_node_feedback_reaches_code_parameter(scripted, suggest_reply):
    @bundle(trainable=True)
    def safe_div(a, b):
        return a / b

    param = safe_div.parameters()[0]
    llm = scripted(
        suggest_reply(**{param.name: "def safe_div(a, b):\n    return a / b if b else 0"})
    )
    opt = OptoPrime([param], llm)
    with pytest.raises(ExecutionError) as caught:
        safe_div(1, 0)
    opt.backward(caught.value, "it must not crash")
    assert opt.step().changed
    assert "ZeroDivisionError" in llm.last_user and safe_div(1, 0).data == 0


def test_dependent_updates_are_held_back_but_independent_ones_apply(scripted, suggest_reply):
    a = node(1, trainable=True, name="dep_a", constraint=Range(0, 5))
    b = node(1, trainable=True, name="dep_b")
    c = node(1, trainable=True, name="dep_c")
    joint = a + b
    alone = c * 2
    llm = scripted(suggest_reply(dep_a=99, dep_b=2, dep_c=3))
    opt = OptoPrime([a, b, c], llm)
    opt.backward(joint, "bigger")
    opt.backward(alone, "bigger")
    result = opt.step()
    assert "above the maximum" in result.rejected["dep_a"]
    assert "held back" in result.rejected["dep_b"]
    assert result.applied == {"dep_c": 3}
    assert (a.data, b.data, c.data) == (1, 1, 3)


def test_memory_keeps_the_last_k_variable_feedback_pairs(scripted, suggest_reply):
    x = node(1, trainable=True, name="mem_x")
    llm = scripted(suggest_reply(mem_x=2), suggest_reply(mem_x=3), suggest_reply(mem_x=4))
    opt = OptoPrime([x], llm, memory_size=2)
    for i in range(3):
        opt.zero_feedback()
        opt.backward(x + 0, f"feedback {i}")
        opt.step()
    assert [m["variables"] for m in opt.memory] == [{"mem_x": 2}, {"mem_x": 3}]
    assert [m["feedback"] for m in opt.memory] == ["feedback 1", "feedback 2"]
    third = llm.prompts[2][1]["content"]
    assert "#Past attempts" in third and '{"mem_x": 1}' in third and "feedback 1" in third


def test_state_dict_round_trips_through_json(scripted, suggest_reply):
    x = node(1, trainable=True, name="state_x")
    opt = OptoPrime([x], scripted(suggest_reply(state_x=2)), memory_size=3)
    opt.backward(x + 1, "more")
    opt.step()
    state = json.loads(json.dumps(opt.state_dict()))
    fresh = OptoPrime([x], scripted("TERMINATE"), memory_size=3)
    fresh.load_state_dict(state)
    assert list(fresh.memory) == list(opt.memory)
    assert fresh.history[0].applied == {"state_x": 2} and isinstance(fresh.history[0], StepResult)
    with pytest.raises(StateError, match="belongs to"):
        fresh.load_state_dict({**state, "type": "TextGrad"})
    with pytest.raises(StateError, match="memory"):
        fresh.load_state_dict({**state, "memory": "oops"})


def test_objective_example_and_titles_are_configurable(scripted):
    x, y = _numeric("conf_x")
    llm = scripted("TERMINATE")
    opt = OptoPrime(
        [x],
        llm,
        objective="Hit 17 exactly.",
        example="EXAMPLE-TEXT",
        titles={"feedback": "#Critique"},
    )
    opt.backward(y, "off")
    opt.step()
    system, user = (m["content"] for m in llm.prompts[0])
    assert "EXAMPLE-TEXT" in system and "#Critique: what is wrong" in system
    assert user.startswith("#Instruction\nHit 17 exactly.") and "#Critique\noff" in user


def test_the_approach_sets_the_advice_and_its_example_unless_example_replaces_it(scripted):
    from optimizers import SOLVE_DIRECTLY, WORK_BACKWARD, Approach

    x, y = _numeric("approach_x")
    opt = OptoPrime([x], scripted("TERMINATE"), titles={"code": "#Calls"})
    default = opt.system_prompt()
    assert "go through the calls of #Calls in reverse order" in default
    assert default.endswith(WORK_BACKWARD.example)
    direct = opt.system_prompt(approach=SOLVE_DIRECTLY)
    assert "reverse order" not in direct and direct.endswith(SOLVE_DIRECTLY.example)
    custom = Approach(advice="Guess boldly.\n", example="")
    bare = OptoPrime([x], scripted("TERMINATE"), approach=custom).system_prompt()
    assert "Guess boldly." in bare and "Example:" not in bare

    @bundle(trainable=True)
    def approach_fn(a):
        return a

    code_prompt = opt.system_prompt(approach_fn.parameters())
    assert "reverse order" not in code_prompt and "```python" in code_prompt
    replaced = OptoPrime([x], scripted("TERMINATE"), example="MINE").system_prompt()
    assert "reverse order" in replaced and replaced.endswith("Example:\nMINE")
    with pytest.raises(TypeError, match="approach must be an Approach"):
        OptoPrime([x], scripted("TERMINATE"), approach="work backward")


def test_budget_exceeded_mid_step_leaves_parameters_unchanged(scripted, suggest_reply):
    x, y = _numeric("budget_x")
    opt = OptoPrime([x], scripted(suggest_reply(budget_x=5)), budget=Budget(max_calls=1))
    opt.backward(y, "more")
    assert opt.step().applied == {"budget_x": 5}
    with pytest.raises(BudgetExceeded, match="call budget"):
        opt.step()
    assert x.data == 5 and len(opt.history) == 1 and opt.meter.total.calls == 1


def test_llm_error_fails_the_step_cleanly(scripted):
    x, y = _numeric("err_x")

    def broken(messages):
        raise LLMError("server down", backend="test")

    opt = OptoPrime([x], broken)
    opt.backward(y, "more")
    result = opt.step()
    assert result.error_type == "LLMError" and "server down" in result.error and x.data == 3


def test_step_without_feedback_is_a_caller_error(scripted):
    x = node(1, trainable=True, name="nofb_x")
    llm = scripted("TERMINATE")
    opt = OptoPrime([x], llm)
    with pytest.raises(NoFeedback, match="backward"):
        opt.step()
    assert llm.prompts == [] and opt.history == []


@pytest.mark.parametrize(
    "params, error, message",
    [
        ([], ValueError, "empty"),
        ([1, 2], TypeError, "not a trainable Parameter"),
        ("x", TypeError, "iterable of trainable Parameters"),
        (None, TypeError, "iterable"),
    ],
)
def test_bad_parameter_lists_are_refused(params, error, message):
    with pytest.raises(error, match=message):
        OptoPrime(params, lambda m: "TERMINATE")


def test_non_trainable_node_in_parameters_is_refused():
    with pytest.raises(TypeError, match="not a trainable Parameter"):
        OptoPrime([node(3, name="plain_node")], lambda m: "TERMINATE")


def test_bad_options_are_refused():
    x = node(1, trainable=True, name="opts_x")
    with pytest.raises(ValueError, match="memory_size"):
        OptoPrime([x], lambda m: "", memory_size=-1)
    with pytest.raises(ValueError, match="prompt_tokens"):
        OptoPrime([x], lambda m: "", prompt_tokens=0)
    with pytest.raises(TypeError, match="budget"):
        OptoPrime([x], lambda m: "", budget=5)
    with pytest.raises(TypeError, match="backward"):
        OptoPrime([x], lambda m: "").backward("not a node", "fb")


def test_reply_tokens_are_cut_to_the_backends_context_window():
    from trace_engine.llm import CallableLLM

    seen = {}

    class SmallWindow(CallableLLM):
        n_ctx = 800

        def complete(self, messages, **options):
            seen.update(options)
            return super().complete(messages, **options)

    x = node("a long prompt " * 20, trainable=True, name="window_x")
    opt = OptoPrime([x], SmallWindow(lambda m: "TERMINATE"))
    opt.backward(x + "!", "shorter")
    opt.step()
    prompt = sum(len(m["content"]) for m in opt.messages(opt.feedback_graph())) / 3.5
    assert 64 <= seen["max_tokens"] <= 800 - prompt


def test_reply_room_counts_the_prompt_with_the_backends_own_tokenizer():
    from trace_engine.llm import CallableLLM

    seen = {}

    class Counted(CallableLLM):
        n_ctx = 2000

        def count_tokens(self, messages):
            return 1900  # a tokenizer that finds far more tokens than the character estimate

        def complete(self, messages, **options):
            seen.update(options)
            return super().complete(messages, **options)

    x = node("short", trainable=True, name="counted_x")
    opt = OptoPrime([x], Counted(lambda m: "TERMINATE"))
    assert opt.token_counter()("anything") == 1900
    opt.backward(x + "!", "longer")
    opt.step()
    assert seen["max_tokens"] == 2000 - 1900 - 32
