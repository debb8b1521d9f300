import pytest

from trace_engine import Choices, Node, Parameter, Range, node
from trace_engine.errors import InvalidUpdate


def test_node_wraps_value_and_parameter_is_trainable():
    x = node([1, 2], name="items", description="some items")
    p = node(3, trainable=True, name="weight")
    assert isinstance(x, Node) and not isinstance(x, Parameter)
    assert isinstance(p, Parameter) and p.trainable and not x.trainable
    assert x.data == [1, 2] and x.description == "some items"
    assert x.parents == [] and x.is_leaf


def test_names_are_labels_that_do_not_depend_on_what_was_traced_before():
    a = node(1, name="alpha_test")
    b = node(2, name="alpha_test")
    assert (a.name, b.name) == ("alpha_test", "alpha_test")
    assert node(1).name == "int" and (node(1) + 1).name == "add"
    odd = node(1, name="my var!")
    assert odd.name == "my_var"


def test_nodes_hash_by_identity():
    a, b = node(1), node(1)
    assert len({a, b}) == 2
    assert a in {a: 1}


def test_node_of_node_returns_it_or_a_parameter_sharing_its_value():
    shared = []
    a = node(shared)
    assert node(a) is a
    p = node(a, trainable=True)
    assert isinstance(p, Parameter) and p is not a and p.data is shared
    assert node(p, trainable=True) is p


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"trainable": "yes"}, "trainable must be a bool"),
        ({"name": 3}, "name must be a non-empty str"),
        ({"name": "  "}, "name must be a non-empty str"),
        ({"description": 5}, "description must be a str"),
        ({"constraint": 5}, "constraint must be text"),
    ],
)
def test_bad_arguments_name_the_problem(kwargs, message):
    with pytest.raises(TypeError, match=message):
        node(1, **kwargs)


def test_parameter_set_checks_constraint_and_keeps_old_value():
    p = node(5, trainable=True, constraint=Range(0, 10))
    p.set(7)
    assert p.data == 7
    with pytest.raises(InvalidUpdate, match="above the maximum 10"):
        p.set(11)
    assert p.data == 7
    c = node("a", trainable=True, constraint=Choices(["a", "b"]))
    with pytest.raises(InvalidUpdate, match="not one of"):
        c.set("z")
    f = node(2, trainable=True, constraint=lambda v: v % 2 == 0)
    with pytest.raises(InvalidUpdate):
        f.set(3)
    assert f.data == 2


def test_initial_value_must_meet_constraint():
    with pytest.raises(ValueError, match="breaks its constraint"):
        node(20, trainable=True, constraint=Range(0, 10))


def test_children_are_weak_and_listed():
    x = node(1)
    y = x + 1
    assert x.children == [y]
    del y
    import gc

    gc.collect()
    assert x.children == []


def test_children_listed_in_order_past_the_first():
    x = node(1)
    made = [x + i for i in range(70)]
    assert x.children == made
    del made[::2]
    assert x.children == made


def test_unique_labels_are_given_when_rendered():
    from trace_engine.graph import Labels, unique_labels

    first, second = node(1, name="dup_base"), node(2, name="dup_base")
    explicit = node(3, name="dup_base_1")
    assert unique_labels([first, second, explicit]) == ["dup_base", "dup_base_1", "dup_base_1_1"]
    labels = Labels([explicit])
    assert [labels[first], labels[second], labels[explicit]] == [
        "dup_base",
        "dup_base_2",
        "dup_base_1",
    ]
