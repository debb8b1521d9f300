import pytest
from fibonacci import fibonacci


def test_values():
    assert [fibonacci(i) for i in range(10)] == [0, 1, 1, 2, 3, 5, 8, 13, 21, 34]


def test_negative():
    with pytest.raises(ValueError):
        fibonacci(-1)
