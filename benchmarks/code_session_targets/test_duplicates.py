import pytest
from duplicates import find_duplicates


def test_order_of_first_repeat():
    assert find_duplicates([3, 1, 3, 1, 2, 2]) == [3, 1, 2]


def test_none():
    assert find_duplicates([]) == [] and find_duplicates([1, 2]) == []


def test_not_a_list():
    with pytest.raises(TypeError):
        find_duplicates(None)
