import pickle
import threading

import pytest

from trace_engine import (
    GraphError,
    bundle,
    feedback_graph,
    node,
    outputs_with_feedback,
    zero_feedback,
)


def test_feedback_graph_holds_paths_from_parameter_to_output_in_order():
    x = node(2, trainable=True, name="x")
    unrelated = node(100, trainable=True, name="unrelated")
    c = node(3)
    y = x * c
    z = y + 1
    side = unrelated + 1  # no feedback reaches it
    z.backward("too small")
    graph = feedback_graph([x, unrelated])
    assert graph.nodes == [x, y, z]
    assert graph.parameters == [x]
    assert graph.outputs == [z] and graph.feedback == {z: ["too small"]}
    assert c not in graph and side not in graph


def test_feedback_on_two_outputs():
    x = node(1, trainable=True)
    a = x + 1
    b = x * 5
    a.backward("a is wrong")
    b.backward({"score": 0.2})
    b.backward("b is also wrong")
    graph = feedback_graph([x])
    assert set(graph.outputs) == {a, b}
    assert graph.feedback[b] == [{"score": 0.2}, "b is also wrong"]


def test_subgraph_per_parameter():
    p, q = node(1, trainable=True), node(2, trainable=True)
    left = p + 1
    right = q + 1
    joined = left * right
    tail = right - 3
    joined.backward("fb1")
    tail.backward("fb2")
    graph = feedback_graph([p, q])
    assert graph.subgraph(p).nodes == [p, left, joined]
    assert graph.subgraph(p).outputs == [joined]
    assert set(graph.subgraph(q).nodes) == {q, right, joined, tail}
    assert graph.subgraph(q).outputs == [joined, tail]


def test_explicit_outputs_restrict_the_graph():
    x = node(1, trainable=True)
    a, b = x + 1, x + 2
    a.backward("fa")
    b.backward("fb")
    assert feedback_graph([x], outputs=[b]).outputs == [b]


def test_zero_feedback_clears():
    x = node(1, trainable=True)
    y = x + 1
    y.backward("hi")
    assert outputs_with_feedback([x]) == [y]
    zero_feedback([y])
    assert y.feedback == [] and feedback_graph([x]).nodes == []


def test_feedback_reaches_code_through_an_error_node():
    @bundle(trainable=True)
    def risky(x):
        return 1 / x

    from trace_engine import ExecutionError

    with pytest.raises(ExecutionError) as info:
        risky(0)
    info.value.exception_node.backward("handle zero")
    (code,) = risky.parameters()
    graph = feedback_graph([code])
    assert graph.outputs == [info.value.exception_node]


def test_backward_errors_name_the_problem():
    with pytest.raises(GraphError, match="must be a Node"):
        from trace_engine.backward import attach_feedback

        attach_feedback(3, "x")
    with pytest.raises(GraphError, match="not the output of any traced operation"):
        node(3).backward("nothing can learn from this")
    with pytest.raises(TypeError, match="feedback must be"):
        (node(1, trainable=True) + 1).backward(object())
    with pytest.raises(GraphError, match="expected parameters"):
        feedback_graph([node(1)])


def test_feedback_directly_on_a_parameter():
    p = node("prompt", trainable=True)
    p.backward("shorter please")
    assert feedback_graph([p]).outputs == [p]


def test_long_chain_is_iterative_not_recursive():
    x = node(0, trainable=True)
    out = x
    for _ in range(20000):
        out = out + 1
    out.backward("fine")
    graph = feedback_graph([x])
    assert len(graph) == 20001 and graph.nodes[-1] is out
    assert len(graph.subgraph(x)) == 20001


def test_subgraph_after_a_newer_graph_claimed_the_same_nodes():
    p, q = node(1, trainable=True), node(2, trainable=True)
    left = p + 1
    joined = left * q
    joined.backward("fb")
    older = feedback_graph([p, q])
    newer = feedback_graph([q])
    assert newer.nodes == [q, joined]
    assert older.subgraph(p).nodes == [p, left, joined]
    assert newer.subgraph(q).nodes == [q, joined]
    assert older.subgraph(q).nodes == [q, joined]


def test_subgraph_of_a_parameter_found_on_the_path_but_not_asked_for():
    p = node(1, trainable=True)
    inner = node(5, trainable=True)
    mixed = p + inner
    out = mixed * 2
    out.backward("fb")
    graph = feedback_graph([p])
    assert graph.parameters == [p]
    assert graph.subgraph(inner).nodes == []
    assert graph.subgraph(p).nodes == [p, mixed, out]


def test_subgraph_of_an_unpickled_trace_follows_parents():
    x = node(1, trainable=True, name="x")
    y = x + 1
    z = y * 3
    z.backward("fb")
    x2, z2 = pickle.loads(pickle.dumps((x, z)))
    graph = feedback_graph([x2], [z2])
    assert [n.name for n in graph.subgraph(x2).nodes] == [x.name, y.name, z.name]


def test_feedback_graphs_built_in_threads_do_not_mix():
    def build(results, index):
        x = node(0, trainable=True)
        out = x
        for _ in range(2000):
            out = out + 1
        out.backward("fb")
        graph = feedback_graph([x], [out])
        results[index] = (len(graph), len(graph.subgraph(x)), graph.nodes[-1] is out)

    results = [None] * 4
    threads = [threading.Thread(target=build, args=(results, i)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [(2001, 2001, True)] * 4


def test_feedback_left_on_an_unrelated_node_never_enters_a_graph():
    stale = node(1, trainable=True, name="other") + 1
    stale.backward("left over from another optimizer")
    x = node(1, trainable=True, name="x")
    y = x + 1
    y.backward("mine")
    graph = feedback_graph([x])
    assert graph.outputs == [y] and stale not in graph
    assert outputs_with_feedback([x]) == [y]


def test_without_feedback_on_its_outputs_the_graph_is_empty():
    x = node(1, trainable=True)
    elsewhere = node(2, trainable=True) * 3
    elsewhere.backward("not about x")
    assert feedback_graph([x]).outputs == []


def test_threads_build_backpropagate_and_render_at_once():
    from trace_engine import to_dot, to_json

    errors = []
    results = {}

    def work(index):
        try:
            for round_ in range(20):
                x = node(index, trainable=True, name="x")
                c = node(2, name="c")
                out = x
                for _ in range(200):
                    out = out * c + 1
                out.backward(f"fb {index}")
                graph = feedback_graph([x])
                assert graph.outputs == [out] and graph.feedback == {out: [f"fb {index}"]}
                assert len(graph.subgraph(x)) == 401
                text = to_dot(out)
                assert text.count(" -> ") == 800
                assert '"x"' in to_json(graph) or '"x"' in text
                results[(index, round_)] = len(graph)
        except Exception as exc:  # reported below with the thread that failed
            errors.append((index, repr(exc)))

    threads = [threading.Thread(target=work, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert set(results.values()) == {401} and len(results) == 120


def test_outputs_with_equal_values_keep_their_own_feedback():
    x = node(1, trainable=True)
    a, b = x + 1, x * 2
    assert a == b and a is not b
    a.backward("from a")
    b.backward("from b")
    graph = feedback_graph([x])
    assert graph.feedback == {a: ["from a"], b: ["from b"]}
    assert len({a, b}) == 2
