"""Parameters are labelled per optimizer, in order, not by process-wide counters."""

from __future__ import annotations

from optimizers import OptoPrime
from trace_engine import node


def _make():
    a = node(1, trainable=True)
    b = node(2, trainable=True)
    return a, b, a * 10 + b


def test_same_labels_are_numbered_in_order_and_updates_reach_the_right_parameter(
    scripted, suggest_reply
):
    a, b, out = _make()
    assert a.name == b.name == "int"
    opt = OptoPrime([a, b], scripted(suggest_reply(int_1=7)))
    assert (a.name, b.name) == ("int", "int_1")
    opt.backward(out, "make it 17")
    result = opt.step()
    assert result.applied == {"int_1": 7} and (a.data, b.data) == (1, 7)


def test_labels_do_not_depend_on_what_was_traced_before(scripted, suggest_reply):
    first = _make()
    OptoPrime(first[:2], scripted(suggest_reply()))
    for _ in range(20):
        node(0, trainable=True) + 1
    second = _make()
    OptoPrime(second[:2], scripted(suggest_reply()))
    assert [p.name for p in first[:2]] == [p.name for p in second[:2]] == ["int", "int_1"]
