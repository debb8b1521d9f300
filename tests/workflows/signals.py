"""Signal set-up for child processes that tests interrupt."""

import signal


def interruptible() -> None:
    """Give a child Ctrl-C's default meaning even where the tests run with SIGINT ignored
    (a background job of a non-interactive shell), as a terminal would."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
