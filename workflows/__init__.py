"""Ready-made jobs (numeric fits, prompt tuning, code repair, code sessions) and the CLI.

Importing it first checks that ``agents`` and ``workflows`` on ``sys.path`` are
trace-engine's (see :mod:`trace_engine.collisions`): a foreign one stops with one
line naming it and the fix, as a :class:`~trace_engine.collisions.PackageCollision`
(an ``ImportError``), or as exit code 2 under the ``trace-engine`` command.
"""

import sys

from trace_engine.collisions import PackageCollision, check_packages, running_the_cli

__trace_engine_package__ = True

try:
    check_packages("agents", "workflows")
except PackageCollision as exc:
    if not running_the_cli():
        raise
    print(f"trace-engine: error: {exc}", file=sys.stderr)
    raise SystemExit(2) from None
