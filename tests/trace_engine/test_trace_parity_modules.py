"""Trace parity: modules, copies and broadcasting.

The checks of Microsoft Trace's ``test_modules``, ``test_class_method``,
``test_copy``, ``test_basic_containers`` and ``test_apply_op``, restated for
trace-engine's API (``Module``/``@model``; containers are plain lists, dicts and
objects, and state is saved as JSON rather than pickled).
"""

from __future__ import annotations

import copy

import pytest

from trace_engine import Module, apply_op, bundle, model, node, to_data
from trace_engine import operators as ops


def _dummy_method():
    return 1


class BaseModule(Module):
    def __init__(self):
        super().__init__()
        self._param = node(1, trainable=True)

    @bundle(trainable=True)
    def method1(self, x):
        return x

    def method2(self, y):
        return y

    def forward(self, i):
        return self.method1(i)


class ChildModule(BaseModule):
    def __init__(self):
        super().__init__()
        self._extra_param = node(1, trainable=True)
        self._extra_method = bundle(trainable=True)(_dummy_method)
        self._base = BaseModule()

    @bundle(trainable=True)
    def method1(self, x):
        return x


@model
class BaseClass:
    def __init__(self):
        self._param = node(1, trainable=True)

    @bundle(trainable=True)
    def method1(self, x):
        return x

    def forward(self, i):
        return self.method1(i)


class ChildClass(BaseClass):
    def __init__(self):
        super().__init__()
        self._extra_param = node(1, trainable=True)
        self._extra_method = bundle(trainable=True)(_dummy_method)
        self._base = BaseClass()

    @bundle(trainable=True)
    def method1(self, x):
        return x


@pytest.mark.parametrize("base, child", [(BaseModule, ChildModule), (BaseClass, ChildClass)])
def test_parameters_include_underscore_attributes_bundles_and_nested_modules(base, child):
    assert len(base().parameters()) == 2
    assert len(base().parameters_dict()) == 2
    made = child()
    assert len(made.parameters()) == 6
    tree = made.parameters_dict()
    assert set(tree) == {"_param", "_extra_param", "_extra_method", "_base", "method1"}
    assert tree["_extra_method"] is made._extra_method.parameter
    assert set(tree["_base"]) == {"_param", "method1"}
    made._new_param = node(1, trainable=True)
    assert len(made.parameters()) == 7


def test_module_state_saves_and_loads_as_json(tmp_path):
    made = ChildModule()
    made._extra_param.set(2)
    made._base._param.set(3)
    made._new_param = node(1, trainable=True)
    made.save(tmp_path / "state.json")
    other = ChildModule()
    other._new_param = node(5, trainable=True)
    other.load(tmp_path / "state.json")
    assert other._extra_param.data == 2 and other._base._param.data == 3
    assert other._new_param.data == 1


def test_model_over_a_plain_base_with_bundled_methods():
    class NonModuleBase:
        @bundle()
        def method1(self):
            return 1

    @model
    class Child(NonModuleBase):
        @bundle(trainable=True)
        def method2(self, x):
            return self.method1() + x

        def forward(self, i):
            return self.method2(i)

    assert Child().forward(1).data == 2


def test_a_super_call_runs_the_base_class_code():
    class Base(Module):
        @bundle(trainable=True)
        def f(self, x):
            return x + 1

    class Child(Base):
        @bundle(trainable=True)
        def f(self, x):
            return super().f(x) * 10

    child = Child()
    assert child.f(1).data == 20
    (code,) = child.parameters()
    assert "* 10" in code.data


# --- one model per instance (test_class_method) --------------------------------------


@model
class Model:
    @bundle(trainable=True)
    def forward(self, x):
        return x + 1


def _check_separate(m1, m2):
    assert len(m1.parameters()) == 1 and len(m2.parameters()) == 1
    assert m1.parameters()[0] is not m2.parameters()[0]
    assert m1.forward.parameter is m1.parameters()[0]
    assert m1.forward != m2.forward and m1.forward != Model.forward
    assert m2.forward.parameter == Model.forward.parameter == m1.forward.parameter
    y1, y2 = m1.forward(1), m1.forward(2)
    self_node = y1.inputs["self"]
    assert self_node.data is m1 and y2.inputs["self"] is self_node
    assert any(p is m1.forward.parameter for p in y1.parents)
    assert len(y1.parents) == 3 and len(y2.parents) == 3
    y3 = m2.forward(1)
    assert y3.inputs["self"].data is m2 and y3.inputs["self"] is not self_node


def test_two_models_have_their_own_code():
    _check_separate(Model(), Model())


def test_deep_copied_models_have_their_own_code():
    m1 = Model()
    m1.forward(1)
    _check_separate(m1, copy.deepcopy(m1))
    _check_separate(m1, copy.deepcopy(copy.deepcopy(m1)))


def test_deepcopy_of_nodes_and_code_parameters():
    x = node("x")
    assert copy.deepcopy(x).data == "x"

    @bundle(trainable=True)
    def fun(x):
        pass

    code = copy.deepcopy(fun.parameter)
    assert code is not fun.parameter and code.data == fun.parameter.data
    p = node("x", trainable=True)
    assert copy.deepcopy(p).trainable


# --- parameters inside containers (test_basic_containers) ------------------------------


def test_parameters_in_nested_containers_and_dict_keys():
    class Holder(Module):
        def __init__(self, value):
            self.value = value

    assert Holder([1, 2, [3, 4, 5]]).parameters() == []
    nested = Holder([1, node(2, trainable=True), (3, node(4, trainable=True), 5)])
    assert len(nested.parameters()) == 2
    keyed = Holder({"a": 1, "b": node(2, trainable=True), node("c", trainable=True): 3})
    assert len(keyed.parameters()) == 2
    mixed = Holder({"a": 1, "b": node(2, trainable=True), "c": [3, node(4, trainable=True)]})
    assert len(mixed.parameters()) == 2


def test_to_data_unwraps_nodes_inside_containers():
    assert to_data(node(1)) == 1
    assert to_data(node([node(1), node(2), node(3)])) == [1, 2, 3]
    assert to_data([node(1), node(2)]) == [1, 2]
    assert to_data(({node(1): node("1")},)) == ({1: "1"},)
    assert to_data(node(({node(1): node("1")},))) == ({1: "1"},)


# --- broadcasting (test_apply_op) ------------------------------------------------------


class _Sub:
    def __init__(self, y):
        self.y = node(y)


class _Container:
    def __init__(self, x, v):
        self.x = node(x)
        self.list_x = [node(x + "1"), node(x + "2")]
        self.dict_x = dict(v=v, x=[node(x + "1"), node(x + "2")])
        self.sub_x = _Sub(x)


def test_apply_op_broadcasts_over_objects_lists_and_dicts():
    foo, bar = _Container("foo", 1), _Container("bar", 2)
    foobar = _Container("not_foobar", 3)
    assert apply_op(ops.add, foobar, foo, bar) is foobar
    assert foobar.x.data == "foobar"
    assert foo.x in foobar.x.parents and bar.x in foobar.x.parents
    assert [n.data for n in foobar.list_x] == ["foo1bar1", "foo2bar2"]
    assert foobar.dict_x["v"] == 3
    assert [n.data for n in foobar.dict_x["x"]] == ["foo1bar1", "foo2bar2"]
    assert foobar.sub_x.y.data == "foobar"

    foobar = apply_op(lambda *args: list(args), foobar, foo, bar)
    assert foobar.x[0].data == "foo" and foobar.x[1].data == "bar"
    assert foobar.dict_x["x"][0][1].data == "bar1"

    foobar = apply_op(dict, foobar, foo=foo, bar=bar)
    assert foobar.x["foo"].data == "foo" and foobar.x["bar"].data == "bar"
    assert foobar.dict_x["x"][1]["bar"].data == "bar2" and foobar.dict_x["v"] == 3


def test_apply_op_refuses_mismatched_shapes():
    with pytest.raises(ValueError, match="elements"):
        apply_op(ops.add, [node(1), node(2)], [node(1)], node(3))
    with pytest.raises(TypeError, match="shaped like the output"):
        apply_op(ops.add, [node(1)], {"a": node(1)}, node(3))
