"""Everything a session knows, saved as ``state.json`` after every change so it can be resumed."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from trace_engine.errors import TraceEngineError
from trace_engine.files import atomic_write_json
from workflows.code_session.evaluation import Baseline, Evaluation, Workload
from workflows.code_session.target import Target

STATE_FILE = "state.json"
STATE_VERSION = 1


class StateFileError(TraceEngineError, ValueError):
    """The session directory holds no usable session state."""


@dataclass
class Candidate:
    """One proposed version and what became of it.

    ``status``: ``invalid`` (no usable code), ``failed`` (a check failed),
    ``passed`` (waiting for a decision), ``accepted`` or ``rejected``.
    """

    id: int
    round: int
    origin: str
    source: str | None
    status: str
    reason: str = ""
    evaluation: Evaluation | None = None
    reasoning: str = ""
    comment: str = ""
    seconds: float = 0.0

    @property
    def speedup(self) -> float | None:
        if self.evaluation is None or self.evaluation.speedup is None:
            return None
        return self.evaluation.speedup.value

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["evaluation"] = self.evaluation.as_dict() if self.evaluation else None
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Candidate:
        evaluation = Evaluation.from_dict(data["evaluation"]) if data.get("evaluation") else None
        return cls(**{**data, "evaluation": evaluation})


@dataclass
class LLMUsage:
    """What the session's LLM requests cost; ``calls`` counts every attempt, failed ones too."""

    calls: int = 0
    failed_calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost: float = 0.0
    seconds: float = 0.0

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


@dataclass
class SessionState:
    """The session: target, workload, baseline, candidates, the accepted code, LLM usage."""

    target: Target
    workload: Workload
    rounds: int
    auto: bool
    min_speedup: float
    llm: str | None
    original_text: str
    file_hash: str
    """What the target file on disk should hash to now (changes after a write-back)."""
    signature: str
    baseline: Baseline
    current_source: str
    llm_timeout: float | None = None
    accepted_id: int | None = None
    rounds_done: int = 0
    candidates: list[Candidate] = field(default_factory=list)
    comments: list[str] = field(default_factory=list)
    usage: LLMUsage = field(default_factory=LLMUsage)
    finished: bool = False
    written: bool = False
    warnings: list[str] = field(default_factory=list)

    def next_candidate_id(self) -> int:
        return len(self.candidates) + 1

    def candidate(self, candidate_id: int | None) -> Candidate | None:
        return next((c for c in self.candidates if c.id == candidate_id), None)

    @property
    def current_speedup(self) -> float:
        accepted = self.candidate(self.accepted_id)
        return accepted.speedup if accepted and accepted.speedup else 1.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "version": STATE_VERSION,
            "target": {k: str(v) for k, v in asdict(self.target).items()},
            "workload": asdict(self.workload),
            "rounds": self.rounds,
            "auto": self.auto,
            "min_speedup": self.min_speedup,
            "llm": self.llm,
            "llm_timeout": self.llm_timeout,
            "original_text": self.original_text,
            "file_hash": self.file_hash,
            "signature": self.signature,
            "baseline": self.baseline.as_dict(),
            "current_source": self.current_source,
            "accepted_id": self.accepted_id,
            "rounds_done": self.rounds_done,
            "candidates": [c.as_dict() for c in self.candidates],
            "comments": self.comments,
            "usage": asdict(self.usage),
            "finished": self.finished,
            "written": self.written,
            "warnings": self.warnings,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SessionState:
        t = data["target"]
        return cls(
            target=Target(
                path=Path(t["path"]),
                fn_name=t["fn_name"],
                module_name=t["module_name"],
                import_root=Path(t["import_root"]),
            ),
            workload=Workload(**data["workload"]),
            rounds=data["rounds"],
            auto=data["auto"],
            min_speedup=data["min_speedup"],
            llm=data["llm"],
            llm_timeout=data.get("llm_timeout"),
            original_text=data["original_text"],
            file_hash=data["file_hash"],
            signature=data["signature"],
            baseline=Baseline.from_dict(data["baseline"]),
            current_source=data["current_source"],
            accepted_id=data["accepted_id"],
            rounds_done=data["rounds_done"],
            candidates=[Candidate.from_dict(c) for c in data["candidates"]],
            comments=list(data["comments"]),
            usage=LLMUsage(**data["usage"]),
            finished=data["finished"],
            written=data["written"],
            warnings=list(data["warnings"]),
        )

    def save(self, session_dir: Path) -> None:
        atomic_write_json(session_dir / STATE_FILE, self.as_dict())

    @classmethod
    def load(cls, session_dir: Path) -> SessionState:
        path = session_dir / STATE_FILE
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise StateFileError(
                f"{session_dir} holds no session ({STATE_FILE} is missing)"
            ) from None
        except (OSError, ValueError) as exc:
            raise StateFileError(f"cannot read {path}: {exc}") from None
        if not isinstance(data, dict) or data.get("version") != STATE_VERSION:
            raise StateFileError(f"{path} is not a version-{STATE_VERSION} code-session state")
        try:
            return cls.from_dict(data)
        except (KeyError, TypeError) as exc:
            raise StateFileError(f"{path} is malformed ({exc})") from None
