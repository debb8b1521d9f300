import pytest

from optimizers.problem import (
    DEFAULT_TITLES,
    elide,
    estimate_tokens,
    render_problem,
)
from trace_engine import ExecutionError, bundle, feedback_graph, node


def _chain(x, ops: int):
    y = x
    for _ in range(ops):
        y = y + 1
    return y


def test_rendered_problem_snapshot():
    x = node(2, trainable=True, name="snap_x", description="the knob", constraint="keep it small")
    c = node(3, name="snap_c")
    y = x * c
    z = y + 1
    z.backward("z should be 10")
    problem = render_problem(feedback_graph([x]), instruction="Make z right.")
    assert problem.text == (
        "#Instruction\nMake z right.\n\n"
        "#Code\nmultiply = multiply(x=snap_x, y=snap_c)\nadd = add(x=multiply, y=y)\n\n"
        "#Documentation\n[multiply] Returns x * y.\n[add] Returns x + y.\n\n"
        "#Variables\n(int) snap_x=2  # the knob\n\n"
        "#Constraints\nsnap_x: keep it small\n\n"
        "#Inputs\n(int) snap_c=3\n(int) y=1\n\n"
        "#Others\n(int) multiply=6\n\n"
        "#Outputs\n(int) add=7\n\n"
        "#Feedback\nz should be 10"
    )
    assert problem.folded == 0 and problem.elided == 0 and not problem.over_budget
    assert problem.tokens == estimate_tokens(problem.text)


def test_rendering_is_deterministic_and_titles_are_data():
    x = node(1, trainable=True, name="det_x")
    out = _chain(x, 5)
    out.backward("bigger")
    graph = feedback_graph([x])
    titles = {"variables": "## Things you may change", "feedback": "## Critique"}
    first = render_problem(graph, titles=titles).text
    assert first == render_problem(graph, titles=titles).text
    assert "## Things you may change\n(int) det_x=1" in first
    assert first.endswith("## Critique\nbigger")
    assert "#Variables" not in first
    with pytest.raises(ValueError, match="unknown section"):
        render_problem(graph, titles={"variabels": "x"})


def test_code_parameter_and_error_node_render_with_exception_and_failed_line():
    @bundle(trainable=True)
    def snap_divide(a, b):
        """Divides a by b."""
        return a / b

    with pytest.raises(ExecutionError) as caught:
        snap_divide(node(1, name="snap_a"), node(0, name="snap_b"))
    error = caught.value.exception_node
    error.backward("it crashed")
    text = render_problem(feedback_graph(snap_divide.parameters())).text
    assert "(code) __code_snap_divide:\ndef snap_divide(a, b):" in text
    assert (
        "raised ZeroDivisionError: division by zero (at line 3 of snap_divide: return a / b)"
        in text
    )
    assert "[snap_divide] Divides a by b." in text


def test_long_values_are_elided_from_the_middle_but_variables_never():
    prompt = node("P" * 5000, trainable=True, name="long_prompt")
    data = node("D" * 50_000, name="long_data")
    out = prompt + data
    out.backward("too long")
    problem = render_problem(feedback_graph([prompt]), token_budget=3000)
    assert "P" * 5000 in problem.text
    assert "chars elided]" in problem.text
    assert problem.elided >= 1
    assert problem.tokens <= 3000


def test_large_graph_folds_repeated_calls_and_fits_the_budget():
    x = node(0, trainable=True, name="fold_x")
    out = _chain(x, 4000)
    out.backward("should be 7")
    problem = render_problem(feedback_graph([x]), token_budget=2000)
    assert problem.tokens <= 2000
    assert problem.folded > 3900
    assert "more call(s) of add folded" in problem.text
    assert "(int) fold_x=0" in problem.text
    assert problem.text.endswith("#Feedback\nshould be 7")
    assert "add_3999 = add(x=add_3998, y=y_3999)" in problem.text


def test_names_are_local_to_the_problem_not_to_the_process():
    def render():
        x = node(1, trainable=True, name="local_x")
        out = (x * 2) + 1
        out.backward("too small")
        text = render_problem(feedback_graph([x], [out])).text
        out.zero_feedback()
        return text.replace(x.name, "VARIABLE")

    first = render()
    for i in range(50):
        _chain(node(i), 3)
    assert render() == first
    assert "multiply = multiply(x=VARIABLE, y=y)\nadd = add(x=multiply, y=y_1)" in first


def test_local_names_never_take_a_variable_name():
    knob = node(1, trainable=True, name="clash_knob")
    other = node(5, name="clash_knob")
    out = knob * other
    out.backward("fb")
    problem = render_problem(feedback_graph([knob]))
    assert knob.name == "clash_knob"
    assert problem.sections["code"] == "multiply = multiply(x=clash_knob, y=clash_knob_1)"
    assert problem.sections["inputs"] == "(int) clash_knob_1=5"


def test_many_distinct_ops_fall_back_to_a_window_near_variables_and_outputs():
    x = node(0, trainable=True, name="win_x")
    y = x
    for i in range(300):

        @bundle(description=f"step {i}")
        def step(v):
            return v + 1

        step.op.name = f"step{i}"
        y = step(y)
    y.backward("wrong")
    problem = render_problem(feedback_graph([x]), token_budget=1500)
    assert problem.tokens <= 1500
    assert problem.folded > 200
    assert "(int) win_x=0" in problem.text
    assert "wrong" in problem.text


def test_tokenizer_count_is_used_and_respected():
    x = node(0, trainable=True, name="tok_x")
    out = _chain(x, 400)
    out.backward("more")
    calls = []

    def count(text: str) -> int:
        calls.append(text)
        return len(text) // 2  # a tokenizer that counts more tokens than the estimate

    problem = render_problem(feedback_graph([x]), token_budget=800, count_tokens=count)
    assert calls and problem.tokens == len(problem.text) // 2 <= 800


def test_variables_larger_than_the_budget_are_kept_and_flagged():
    x = node("Q" * 4000, trainable=True, name="huge_var")
    out = x + "!"
    out.backward("shorter")
    problem = render_problem(feedback_graph([x]), token_budget=100)
    assert problem.over_budget
    assert "Q" * 4000 in problem.text


def test_bad_input_is_refused_clearly():
    with pytest.raises(TypeError, match="FeedbackGraph"):
        render_problem([1, 2])
    x = node(1, trainable=True, name="bad_budget_x")
    (x + 1).backward("x")
    with pytest.raises(ValueError, match="token_budget"):
        render_problem(feedback_graph([x]), token_budget=0)


def test_elide_keeps_both_ends():
    text = "a" * 50 + "b" * 50
    short = elide(text, 20)
    assert short.startswith("a" * 10) and short.endswith("b" * 10) and "80 chars elided" in short
    assert elide("short", 20) == "short"
    assert set(DEFAULT_TITLES) >= {"code", "variables", "feedback"}


def test_a_bundled_methods_self_input_renders_without_a_memory_address():
    class Agent:
        @bundle()
        def act(self, q):
            """Answer."""
            return q + "!"

    prompt = node("hi", trainable=True, name="addr_prompt")
    out = Agent().act(prompt)
    out.backward("fb")
    text = render_problem(feedback_graph([prompt])).text
    assert "act = act(self=self, q=addr_prompt)" in text
    assert "self=<" in text and " at 0x" not in text
