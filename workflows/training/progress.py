"""The progress bar a person watching a run sees, with the scores and spending so far."""

from __future__ import annotations

from typing import Any


class Progress:
    """A progress bar of ``total`` steps on standard error (off when it is not a terminal,
    or when ``show`` is false)."""

    def __init__(self, show: bool, *, total: int, done: int, label: str):
        self.bar = None
        if show:
            from tqdm.auto import tqdm

            self.bar = tqdm(
                total=total,
                initial=done,
                desc=label,
                unit="step",
                leave=True,
                disable=None,  # off when standard error is not a terminal
            )

    def step_done(self, record: dict[str, Any], usage: dict[str, Any]) -> None:
        if self.bar is not None:
            self.bar.update(1)
            self.bar.set_postfix_str(postfix(record, usage))

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def postfix(record: dict[str, Any], usage: dict[str, Any]) -> str:
    parts = []
    if record.get("train_score") is not None:
        parts.append(f"train={record['train_score']:.2f}")
    if record.get("val_score") is not None:
        parts.append(f"val={record['val_score']:.2f}")
    parts.append(f"tokens={usage['prompt_tokens'] + usage['completion_tokens']}")
    parts.append(f"cost=${usage['cost']:.4f}")
    return " ".join(parts)
