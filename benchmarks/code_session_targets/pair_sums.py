"""Pairs of numbers adding up to a target, by checking every pair: quadratic."""


def pairs_with_sum(numbers, target):
    """Index pairs (i, j), i < j, with numbers[i] + numbers[j] == target, sorted."""
    pairs = []
    for i in range(len(numbers)):
        for j in range(len(numbers)):
            if i < j and numbers[i] + numbers[j] == target:
                pairs.append((i, j))
    pairs.sort()
    return pairs
