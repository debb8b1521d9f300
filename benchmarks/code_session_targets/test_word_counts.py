from word_counts import word_counts


def test_counts_in_first_seen_order():
    assert list(word_counts("b a B c a").items()) == [("b", 2), ("a", 2), ("c", 1)]


def test_empty():
    assert word_counts("") == {}
