"""Word frequencies by counting each distinct word with list.count: quadratic."""


def word_counts(text):
    """{word: occurrences} for the lower-cased, whitespace-separated words, in first-seen order."""
    words = text.lower().split()
    counts = {}
    for word in words:
        if word not in counts:
            counts[word] = words.count(word)
    return counts
