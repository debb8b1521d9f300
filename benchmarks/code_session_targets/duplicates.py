"""Duplicate detection by comparing every pair: quadratic."""


def find_duplicates(items):
    """Values that occur more than once, in order of their first repeat."""
    result = []
    for i, x in enumerate(items):
        for y in items[:i]:
            if x == y and x not in result:
                result.append(x)
                break
    return result
