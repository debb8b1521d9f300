"""Fibonacci numbers by naive recursion: exponential."""


def fibonacci(n):
    """The n-th Fibonacci number (fibonacci(0) == 0, fibonacci(1) == 1); n must be >= 0."""
    if n < 0:
        raise ValueError("n must be >= 0")
    if n < 2:
        return n
    return fibonacci(n - 1) + fibonacci(n - 2)
