from pair_sums import pairs_with_sum


def test_pairs():
    assert pairs_with_sum([1, 2, 3, 4, 3], 6) == [(1, 3), (2, 4)]


def test_no_pairs():
    assert pairs_with_sum([1, 1], 5) == [] and pairs_with_sum([], 0) == []
