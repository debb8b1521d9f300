"""How much one isolated run may use: wall time, CPU time, memory, file size, processes."""

from __future__ import annotations

import math
from dataclasses import dataclass

MIB = 1024 * 1024


@dataclass(frozen=True)
class Limits:
    """Resource limits of one run.

    ``wall_s`` is enforced by the host, which kills the whole run when it passes;
    the others are ``setrlimit`` limits of the job's processes: ``cpu_s`` CPU
    seconds per process (defaults to ``wall_s``), ``memory_mb`` MiB of address
    space, ``file_mb`` MiB per written file, ``processes`` processes the job may
    start, and ``result_mb`` MiB of result the host reads (more is cut off).
    """

    wall_s: float = 10.0
    cpu_s: float | None = None
    memory_mb: int = 2048
    file_mb: int = 64
    processes: int = 64
    result_mb: int = 16

    def __post_init__(self) -> None:
        for name in ("wall_s", "memory_mb", "file_mb", "processes", "result_mb"):
            if not getattr(self, name) > 0:
                raise ValueError(f"Limits.{name} must be positive, got {getattr(self, name)!r}")
        if self.cpu_s is not None and not self.cpu_s > 0:
            raise ValueError(f"Limits.cpu_s must be positive or None, got {self.cpu_s!r}")

    @property
    def cpu_seconds(self) -> int:
        """The RLIMIT_CPU value: whole seconds, at least one."""
        return max(1, math.ceil(self.cpu_s if self.cpu_s is not None else self.wall_s))

    def rlimits(self, processes_now: int) -> dict[str, int]:
        """``resource`` limit names and values for the job; ``processes_now`` is how many
        processes the job's user already runs (RLIMIT_NPROC counts them all)."""
        return {
            "RLIMIT_AS": self.memory_mb * MIB,
            "RLIMIT_FSIZE": self.file_mb * MIB,
            "RLIMIT_NPROC": processes_now + self.processes,
            "RLIMIT_CORE": 0,
        }
