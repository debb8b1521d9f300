"""The optimizer base: feedback in, validated parameter updates out.

A step is propose -> validate -> apply. Subclasses only propose (ask an LLM for
new values); this class converts each value to its parameter's type, checks it
(constraints, code that parses and keeps its signature), and applies the
accepted ones together. A proposal that fails validation holds back the other
proposals for parameters it shares a downstream computation with; independent
ones still apply. Any failure during a step (an LLM error, an exhausted budget,
an unreadable reply) leaves every parameter as it was and is recorded in the
step's :class:`StepResult`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from typing import Any

from optimizers.replies import Reply
from optimizers.values import convert, jsonable
from trace_engine import (
    ExecutionError,
    FeedbackGraph,
    InvalidUpdate,
    Node,
    Parameter,
    StateError,
    feedback_graph,
    zero_feedback,
)
from trace_engine.errors import TraceEngineError
from trace_engine.graph import unique_labels
from trace_engine.llm import LLM, Budget, Completion, LLMWrapper, Message, Usage, as_llm
from trace_engine.llm.meter import Estimate
from trace_engine.llm.metered import estimate_prompt_tokens


class NoFeedback(TraceEngineError, ValueError):
    """``step()`` was called before any feedback reached the parameters."""


@dataclass
class StepResult:
    """What one optimizer step did.

    ``usage``/``cost`` count what this step spent (cache hits spend nothing);
    ``calls`` counts the LLM requests it made, cache hits included.
    """

    proposed: dict[str, Any] = field(default_factory=dict)
    applied: dict[str, Any] = field(default_factory=dict)
    rejected: dict[str, str] = field(default_factory=dict)
    reasoning: str = ""
    usage: Usage = field(default_factory=Usage)
    cost: float = 0.0
    calls: int = 0
    error: str | None = None
    error_type: str | None = None
    """Class name of the exception that failed the step (e.g. ``"BudgetExceeded"``)."""
    answer: str = ""
    terminated: bool = False
    """The LLM replied TERMINATE: it sees nothing to change."""
    details: dict[str, Any] = field(default_factory=dict)
    """Optimizer-specific records: candidates and their scores, textual gradients, ..."""

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def changed(self) -> bool:
        return bool(self.applied)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serializable copy."""
        data = asdict(self)
        for key in ("proposed", "applied", "details"):
            data[key] = {k: jsonable(v) for k, v in data[key].items()}
        data["usage"] = {
            "prompt_tokens": self.usage.prompt_tokens,
            "completion_tokens": self.usage.completion_tokens,
        }
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> StepResult:
        fields = dict(data)
        fields["usage"] = Usage(**fields.get("usage", {}))
        return cls(**fields)


@dataclass
class Proposal:
    """New values suggested by the LLM, by parameter name, before validation."""

    values: dict[str, Any] = field(default_factory=dict)
    reasoning: str = ""
    answer: str = ""
    terminated: bool = False
    details: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_reply(cls, reply: Reply) -> Proposal:
        return cls(dict(reply.suggestion), reply.reasoning, reply.answer, reply.terminated)


def failed_step(exc: Exception) -> StepResult:
    """The record of a step that ``exc`` stopped."""
    return StepResult(error=str(exc) or type(exc).__name__, error_type=type(exc).__name__)


class StepMeter:
    """Usage of the calls made during one step (thread-safe: candidates run in threads)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.usage = Usage()
        self.cost = 0.0
        self.calls = 0

    def add(self, completion: Completion) -> None:
        with self.lock:
            self.calls += 1
            if not completion.cached:
                self.usage = self.usage + completion.usage
                self.cost += completion.cost


class _BudgetGuard(LLMWrapper):
    """Checks one optimizer's :class:`Budget` before each call and charges it after.

    Only this budget is checked here; budgets made active by the caller are
    checked by the metered LLM underneath, so nothing is charged twice.
    """

    def __init__(self, inner: LLM, budget: Budget):
        super().__init__(inner)
        self.budget = budget

    def complete(self, messages, **options: Any) -> Completion:
        prompt = estimate_prompt_tokens(
            [{"role": "user", "content": messages}] if isinstance(messages, str) else messages
        )
        completion_tokens = (options.get("max_tokens") or 0) * max(1, options.get("n", 1))
        reservation = self.budget.reserve(
            Estimate(prompt + completion_tokens, self.cost_of(Usage(prompt, completion_tokens)))
        )
        result = None
        try:
            result = self.inner.complete(messages, **options)
            return result
        finally:
            spent = result is not None and not result.cached
            self.budget.settle(
                reservation,
                result.usage if spent else None,
                result.cost if spent else 0.0,
                result.latency if spent else 0.0,
            )


def check_parameters(parameters: Any) -> list[Parameter]:
    """A non-empty list of distinct trainable parameters with distinct names.

    Names are labels: two parameters given the same one (``node(1, trainable=True)``
    twice is ``int`` both times) are told apart by numbering the later ones in
    order (``int_1``, ...), so the optimizer can refer to each by name.
    """
    if isinstance(parameters, (Parameter, str, bytes)) or not isinstance(parameters, Iterable):
        raise TypeError(
            "parameters must be an iterable of trainable Parameters (e.g. module.parameters()), "
            f"got {type(parameters).__name__}"
        )
    found: list[Parameter] = []
    seen: set[int] = set()
    for i, p in enumerate(parameters):
        if not isinstance(p, Parameter) or not p.trainable:
            raise TypeError(
                f"parameters[{i}] is not a trainable Parameter: {type(p).__name__} {p!r:.80}; "
                "make one with node(value, trainable=True)"
            )
        if id(p) not in seen:
            seen.add(id(p))
            found.append(p)
    if not found:
        raise ValueError("parameters is empty: give the optimizer at least one trainable Parameter")
    for p, label in zip(found, unique_labels(found)):
        p.name = label
    return found


class Optimizer:
    """Base of the LLM optimizers; subclasses implement :meth:`propose`.

    ``llm`` is anything :func:`trace_engine.llm.as_llm` accepts (``None``: the
    configured default, the embedded local model unless ``$TRACE_ENGINE_LLM``
    says otherwise). ``budget`` limits what this optimizer's calls may spend.
    """

    def __init__(
        self, parameters: Iterable[Parameter], llm: Any = None, *, budget: Budget | None = None
    ):
        self.parameters = check_parameters(parameters)
        if budget is not None and not isinstance(budget, Budget):
            raise TypeError(
                f"budget must be a trace_engine.llm.Budget, got {type(budget).__name__}"
            )
        self.budget = budget
        self.llm = as_llm(llm)
        self._calls: LLM = _BudgetGuard(self.llm, budget) if budget is not None else self.llm
        self.history: list[StepResult] = []
        self._outputs: list[Node] = []
        self._by_name = {p.name: p for p in self.parameters}
        self._meter: StepMeter | None = None

    # Feedback -----------------------------------------------------------------
    def zero_feedback(self) -> None:
        """Forget the feedback on this optimizer's outputs (and on every node below them)."""
        outputs = list(self._outputs) + feedback_graph(self.parameters).outputs
        zero_feedback(outputs)
        self._outputs = []

    def backward(self, output: Node | ExecutionError, feedback: Any) -> None:
        """Attach ``feedback`` to ``output`` and remember it as this optimizer's output.

        An :class:`~trace_engine.ExecutionError` stands for its error node, so a
        failing run can be fed back directly.
        """
        if isinstance(output, ExecutionError):
            output = output.exception_node
        if not isinstance(output, Node):
            raise TypeError(f"backward() needs the output Node, got {type(output).__name__}")
        output.backward(feedback)
        if all(o is not output for o in self._outputs):
            self._outputs.append(output)

    def feedback_graph(self) -> FeedbackGraph:
        """The nodes linking the parameters to the outputs with feedback."""
        graph = feedback_graph(self.parameters, self._outputs or None)
        if not graph.outputs:
            raise NoFeedback(
                "no feedback reaches the parameters: call backward(output, feedback) on an "
                "output computed from them before step()"
            )
        return graph

    # The step -----------------------------------------------------------------
    def step(self) -> StepResult:
        """Propose, validate and apply new values; never leaves a half-applied update."""
        before = self.values()
        graph = None
        with self.metering() as meter:
            try:
                graph = self.feedback_graph()
                proposal = self.step_proposal(graph)
                result = self.update(proposal, graph)
            except Exception as exc:
                self._restore(before)
                result = failed_step(exc)
        result.usage, result.cost, result.calls = meter.usage, meter.cost, meter.calls
        self.after_step(result, before, graph)
        self.history.append(result)
        return result

    @contextmanager
    def metering(self) -> Iterator[StepMeter]:
        """Count the LLM calls made through :meth:`complete` inside the block."""
        self._meter = meter = StepMeter()
        try:
            yield meter
        finally:
            self._meter = None

    def propose(
        self, graph: FeedbackGraph, *, temperature: float = 0.0, seed: int | None = None
    ) -> Proposal:
        """Ask for new values (sampling at ``temperature``); subclasses implement this."""
        raise NotImplementedError(f"{type(self).__name__} does not implement propose()")

    def step_proposal(self, graph: FeedbackGraph) -> Proposal:
        """The proposal :meth:`step` validates and applies: one :meth:`propose` by default."""
        return self.propose(graph)

    def after_step(
        self, result: StepResult, before: dict[str, Any], graph: FeedbackGraph | None
    ) -> None:
        """Hook run after every step (memory, trajectories); nothing by default."""

    def guarded(self, llm: Any) -> LLM:
        """``llm`` (anything ``as_llm`` takes) checked against this optimizer's budget."""
        llm = as_llm(llm)
        return _BudgetGuard(llm, self.budget) if self.budget is not None else llm

    def complete(
        self, messages: Sequence[Message], *, via: LLM | None = None, **options: Any
    ) -> Completion:
        """One LLM call (through ``via`` if given, e.g. from :meth:`guarded`), checked
        against the budget and counted in the step's usage."""
        completion = (via or self._calls).complete(messages, **options)
        meter = self._meter
        if meter is not None:
            meter.add(completion)
        return completion

    def validate(self, values: dict[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
        """Convert and check proposed ``values``: ``(accepted, rejected reasons)``.

        Values equal to the current ones are neither accepted nor rejected.
        """
        accepted: dict[str, Any] = {}
        rejected: dict[str, str] = {}
        for name, value in values.items():
            param = self._by_name.get(name)
            if param is None:
                rejected[name] = (
                    f"{name!r} is not a trainable variable of this optimizer; "
                    f"trainable: {', '.join(self._by_name)}"
                )
                continue
            try:
                converted = param.validate(convert(param, value))
            except InvalidUpdate as exc:
                rejected[name] = str(exc)
                continue
            if converted != param.data or type(converted) is not type(param.data):
                accepted[name] = converted
        return accepted, rejected

    def update(self, proposal: Proposal, graph: FeedbackGraph | None = None) -> StepResult:
        """Validate ``proposal`` and apply what passes (see the module docstring)."""
        accepted, rejected = self.validate(proposal.values)
        if rejected and graph is not None:
            for name, blocker in _dependents(graph, list(accepted), list(rejected)).items():
                del accepted[name]
                rejected[name] = f"held back: it shares a computation with rejected {blocker!r}"
        self.apply(accepted)
        return StepResult(
            proposed=dict(proposal.values),
            applied=accepted,
            rejected=rejected,
            reasoning=proposal.reasoning,
            answer=proposal.answer,
            terminated=proposal.terminated,
            details=dict(proposal.details),
        )

    def apply(self, values: dict[str, Any]) -> None:
        """Set all ``values`` (already validated) or, if one fails, none of them."""
        before = {name: self._by_name[name].data for name in values}
        try:
            for name, value in values.items():
                self._by_name[name].set(value)
        except Exception:
            self._restore(before)
            raise

    def _restore(self, values: dict[str, Any]) -> None:
        for name, value in values.items():
            param = self._by_name[name]
            if param.data is not value:
                param.set(value)

    def values(self) -> dict[str, Any]:
        """Current parameter values by name."""
        return {p.name: p.data for p in self.parameters}

    # Checkpoints ----------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """JSON-serializable state: the step history and subclass state such as memory."""
        return {
            "type": type(self).__name__,
            "history": [r.to_dict() for r in self.history],
            **self.extra_state(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if not isinstance(state, dict):
            raise StateError(f"optimizer state must be a dict, got {type(state).__name__}")
        if state.get("type") != type(self).__name__:
            raise StateError(
                f"this state belongs to a {state.get('type')!r} optimizer, not {type(self).__name__}"
            )
        try:
            history = [StepResult.from_dict(r) for r in state.get("history", [])]
        except (TypeError, ValueError) as exc:
            raise StateError(f"optimizer state has a malformed history entry: {exc}") from None
        self.load_extra_state(state)
        self.history = history

    def extra_state(self) -> dict[str, Any]:
        """Subclass state to checkpoint (JSON-serializable)."""
        return {}

    def load_extra_state(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`extra_state` saved."""

    def backend(self) -> LLM:
        """The model backend under any cache/retry/meter wrappers."""
        return self.llm.unwrap() if isinstance(self.llm, LLMWrapper) else self.llm

    def token_counter(self) -> Callable[[str], int] | None:
        """The backend's own tokenizer as ``text -> tokens``, or ``None`` if it has none."""
        return getattr(self.backend(), "count_tokens", None)

    def reply_room(self, messages: Sequence[Message], wanted: int) -> int:
        """``wanted`` completion tokens, cut to what the backend's context window leaves
        after ``messages`` (when the backend reports its window as ``n_ctx``)."""
        window = getattr(self.backend(), "n_ctx", None)
        if not isinstance(window, int):
            return wanted
        used = estimate_prompt_tokens(list(messages)) + 32
        return max(64, min(wanted, window - used))


def _dependents(graph: FeedbackGraph, accepted: list[str], rejected: list[str]) -> dict[str, str]:
    """Accepted names whose parameter meets a rejected one's in a downstream node."""
    params = {p.name: p for p in graph.parameters}
    group: dict[int, int] = {}

    def find(i: int) -> int:
        while group.get(i, i) != i:
            group[i] = group.get(group[i], group[i])
            i = group[i]
        return i

    owner: dict[int, int] = {}
    for p in graph.parameters:
        owner[id(p)] = id(p)
    for n in graph.nodes:
        roots = [find(owner[id(q)]) for q in n._parents if id(q) in owner]
        if not roots:
            continue
        for r in roots[1:]:
            group[find(r)] = find(roots[0])
        owner.setdefault(id(n), roots[0])
    blocked_by = {find(id(params[name])): name for name in rejected if name in params}
    out = {}
    for name in accepted:
        if name in params and find(id(params[name])) in blocked_by:
            out[name] = blocked_by[find(id(params[name]))]
    return out
