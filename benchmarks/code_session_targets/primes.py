"""Primes by trial division against every smaller number."""


def primes_below(n):
    """All primes smaller than n, ascending."""
    primes = []
    for candidate in range(2, n):
        is_prime = True
        for divisor in range(2, candidate):
            if candidate % divisor == 0:
                is_prime = False
        if is_prime:
            primes.append(candidate)
    return primes
