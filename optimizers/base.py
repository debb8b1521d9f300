"""The optimizer base: feedback in, validated parameter updates out.

A step is propose -> validate -> apply. Subclasses only propose (ask an LLM for
new values); this class converts each value to its parameter's type, checks it
(constraints, code that parses and keeps its signature), and applies the
accepted ones together. A proposal that fails validation holds back the other
proposals for parameters it shares a downstream computation with; independent
ones still apply.

A step fails in one of two ways. The failures a step may expect (an LLM error,
an unreadable reply, an invalid update: :data:`STEP_ERRORS`) are recorded in the
step's :class:`StepResult`; anything else (an exhausted budget, Ctrl-C, a
programming error, a call of ``step()`` before any feedback) propagates. Either
way every parameter is left as it was.

The call protocol is here once for every optimizer (:meth:`Optimizer.ask`):
values from one schema-bound JSON call, then functions from one plain-text call
of fenced code blocks that is shown what the JSON call chose. Code written
inside a JSON string breaks small models' code; see :mod:`optimizers.code_replies`.
Every call goes through the LLM layer's :class:`~trace_engine.llm.Metered`,
which checks the optimizer's :class:`~trace_engine.llm.Budget` and counts the
step's usage on the optimizer's own :class:`~trace_engine.llm.Meter`.
"""

from __future__ import annotations

import contextvars
import logging
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from typing import Any

from optimizers.code_replies import code_call_messages, read_code_reply
from optimizers.replies import Reply, ReplyError, merge_replies, read_reply
from optimizers.schemas import reply_tokens, suggestion_schema
from optimizers.values import convert, jsonable
from trace_engine import (
    CodeParameter,
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
from trace_engine.llm import (
    LLM,
    Budget,
    Completion,
    LLMError,
    LLMWrapper,
    Message,
    Meter,
    Metered,
    Usage,
    UsageStats,
    as_llm,
)
from trace_engine.llm.metered import estimate_prompt_tokens
from trace_engine.llm.wrapper import token_counter

log = logging.getLogger(__name__)
_caller_reports: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "optimizers_caller_reports_failures", default=False
)

DEFAULT_MAX_ERRORS = 5
"""Consecutive failed steps after which a loop stops instead of going on changing nothing."""


class NoFeedback(TraceEngineError, ValueError):
    """``step()`` was called before any feedback reached the parameters."""


class TooManyFailedSteps(TraceEngineError, RuntimeError):
    """``max_errors`` steps in a row failed: the LLM or the setup is not working.

    ``result`` is the last failed step's :class:`StepResult`.
    """

    def __init__(self, count: int, result: StepResult, who: str = "the optimizer"):
        super().__init__(
            f"{count} steps of {who} failed in a row, nothing was changed; "
            f"the last error: {result.error}"
        )
        self.count = count
        self.result = result


class ProposalError(TraceEngineError, ValueError):
    """The step's LLM replies held no proposal it could use (e.g. no candidate scored)."""


STEP_ERRORS: tuple[type[Exception], ...] = (LLMError, ReplyError, InvalidUpdate, ProposalError)
"""The failures a step expects and records; every other exception propagates."""


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

    def __str__(self) -> str:
        if not self.ok:
            return f"step failed, nothing changed ({self.error_type}): {self.error}"
        parts = [f"applied {', '.join(self.applied)}" if self.applied else "nothing applied"]
        parts += [f"rejected {name}: {why}" for name, why in self.rejected.items()]
        if self.terminated:
            parts.append("the LLM sees nothing to change")
        return "; ".join(parts)

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


def check_max_errors(max_errors: Any) -> int | None:
    """``max_errors`` as given, once checked: ``None`` (never stop) or an int >= 1."""
    if max_errors is not None and (
        not isinstance(max_errors, int) or isinstance(max_errors, bool) or max_errors < 1
    ):
        raise ValueError(f"max_errors must be an int >= 1 or None, got {max_errors!r}")
    return max_errors


def failed_in_a_row(history: Sequence[StepResult]) -> int:
    """How many of the last steps in ``history`` failed, counting back to the last success."""
    count = 0
    for result in reversed(history):
        if result.ok:
            break
        count += 1
    return count


@contextmanager
def failures_reported_by_caller() -> Iterator[None]:
    """Inside the block a failed step is not logged by the optimizer: the caller (a
    training loop) says so itself, with its own context. ``max_errors`` still applies."""
    token = _caller_reports.set(True)
    try:
        yield
    finally:
        _caller_reports.reset(token)


def report_failure(history: Sequence[StepResult], max_errors: int | None, who: str) -> None:
    """Say on the log that the last step failed, and raise :class:`TooManyFailedSteps`
    once ``max_errors`` steps in a row have."""
    result = history[-1]
    if result.ok:
        return
    count = failed_in_a_row(history)
    if not _caller_reports.get():
        log.warning("%s: a step failed, nothing was changed: %s", who, result.error)
    if max_errors is not None and count >= max_errors:
        raise TooManyFailedSteps(count, result, who)


def score_of(feedback: Any) -> float | None:
    """The score in a feedback value: a number, or a dict's ``"score"``."""
    if isinstance(feedback, bool):
        return None
    if isinstance(feedback, (int, float)):
        return float(feedback)
    if isinstance(feedback, dict) and isinstance(feedback.get("score"), (int, float)):
        return float(feedback["score"])
    return None


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
    says otherwise). ``budget`` limits what this optimizer's calls may spend;
    ``meter`` counts them (the step's share goes into its :class:`StepResult`).
    A failed step is logged as a warning; after ``max_errors`` failed steps in a
    row :meth:`step` raises :class:`TooManyFailedSteps` (``None``: never).
    """

    def __init__(
        self,
        parameters: Iterable[Parameter],
        llm: Any = None,
        *,
        budget: Budget | None = None,
        max_errors: int | None = DEFAULT_MAX_ERRORS,
    ):
        self.parameters = check_parameters(parameters)
        self.max_errors = check_max_errors(max_errors)
        if budget is not None and not isinstance(budget, Budget):
            raise TypeError(
                f"budget must be a trace_engine.llm.Budget, got {type(budget).__name__}"
            )
        self.budget = budget
        self.llm = as_llm(llm)
        self.meter = Meter()
        self._calls = self.guarded(self.llm)
        self.history: list[StepResult] = []
        self._scores: list[float] = []
        self._outputs: list[Node] = []
        self._by_name = {p.name: p for p in self.parameters}

    # Feedback -----------------------------------------------------------------
    def zero_feedback(self) -> None:
        """Forget the feedback on this optimizer's outputs (and on every node below them)."""
        outputs = list(self._outputs) + feedback_graph(self.parameters).outputs
        zero_feedback(outputs)
        self._outputs = []
        self._scores = []

    def backward(
        self, output: Node | ExecutionError, feedback: Any, *, score: float | None = None
    ) -> None:
        """Attach ``feedback`` to ``output`` and remember it as this optimizer's output.

        An :class:`~trace_engine.ExecutionError` stands for its error node, so a
        failing run can be fed back directly. ``score`` rates the current values
        (read from numeric feedback, or a feedback dict's ``"score"``, when not
        given); optimizers that compare values by score (OPRO) use it.
        """
        if isinstance(output, ExecutionError):
            output = output.exception_node
        if not isinstance(output, Node):
            raise TypeError(f"backward() needs the output Node, got {type(output).__name__}")
        if score is not None and (isinstance(score, bool) or not isinstance(score, (int, float))):
            raise TypeError(f"score must be a number, got {type(score).__name__}")
        output.backward(feedback)
        if all(o is not output for o in self._outputs):
            self._outputs.append(output)
        found = score if score is not None else score_of(feedback)
        if found is not None:
            self._scores.append(float(found))

    @property
    def feedback_score(self) -> float | None:
        """The mean score given with the feedback since :meth:`zero_feedback` (``None``
        when no feedback carried one)."""
        return sum(self._scores) / len(self._scores) if self._scores else None

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
        """Propose, validate and apply new values; never leaves a half-applied update.

        A failure of :data:`STEP_ERRORS` is recorded in the result (``ok`` is false,
        ``error`` says why) and logged; the ``max_errors``-th in a row raises
        :class:`TooManyFailedSteps`. Any other exception (``BudgetExceeded``,
        ``KeyboardInterrupt``, a bug) propagates, the parameters restored.
        """
        graph = self.feedback_graph()
        before = self.values()
        with self.metering() as used:
            try:
                proposal = self.step_proposal(graph)
                result = self.update(proposal, graph)
            except STEP_ERRORS as exc:
                self._restore(before)
                result = failed_step(exc)
            except BaseException:
                self._restore(before)
                raise
        charge(result, used)
        self.after_step(result, before, graph)
        self.history.append(result)
        report_failure(self.history, self.max_errors, type(self).__name__)
        return result

    @contextmanager
    def metering(self) -> Iterator[UsageStats]:
        """Count the LLM calls this optimizer makes inside the block (in any thread
        started with a copy of this context)."""
        with self.meter.tag(type(self).__name__) as used:
            yield used

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
        """``llm`` (anything ``as_llm`` takes) checked against this optimizer's budget and
        counted on its meter (budgets the caller made active are left to ``llm``'s own
        metering, so that nothing is charged twice)."""
        return Metered(as_llm(llm), meter=self.meter, budget=self.budget, active=False)

    def complete(
        self, messages: Sequence[Message], *, via: LLM | None = None, **options: Any
    ) -> Completion:
        """One LLM call (through ``via`` if given, e.g. from :meth:`guarded`)."""
        return (via or self._calls).complete(messages, **options)

    # The call protocol --------------------------------------------------------------
    def ask(
        self,
        messages: list[Message],
        values: Sequence[Parameter],
        code: Sequence[CodeParameter],
        *,
        code_system: str = "",
        read_as: Sequence[CodeParameter] | None = None,
        **options: Any,
    ) -> Reply:
        """New ``values`` and ``code`` from at most two calls, their replies merged.

        ``messages`` is the first call's: a JSON call for ``values`` when there are
        any (its system prompt says the code comes next), else the code call. When
        both are asked for, the code call has ``code_system`` as its system prompt
        and the same user text, followed by the values the JSON call chose.
        ``read_as``: the code variables a code reply is read against (default
        ``code``); ``options`` (temperature, seed, max_tokens) go to both calls.
        """
        replies = []
        if values:
            replies.append(self.ask_values(messages, values, **options))
        if code:
            if values:
                chosen = replies[0].suggestion
                messages = code_call_messages(code_system, messages[-1]["content"], chosen)
            replies.append(self.ask_code(messages, read_as or code, code=code, **options))
        return merge_replies(replies)

    def ask_values(
        self,
        messages: list[Message],
        values: Sequence[Parameter],
        *,
        schema: dict[str, Any] | None = None,
        read: Callable[[Completion], Reply] | None = None,
        max_tokens: int | None = None,
        **options: Any,
    ) -> Reply:
        """One schema-bound JSON call for ``values`` (default schema and reader: a
        ``{"reasoning", "suggestion": {name: value}}`` reply)."""
        completion = self.complete(
            messages,
            max_tokens=self.reply_room(messages, max_tokens or reply_tokens(list(values))),
            json_schema=schema or suggestion_schema(list(values)),
            **options,
        )
        if read is not None:
            return read(completion)
        return read_reply(completion.text, completion.json, names=[p.name for p in values])

    def ask_code(
        self,
        messages: list[Message],
        read_as: Sequence[CodeParameter],
        *,
        code: Sequence[CodeParameter] | None = None,
        read: Callable[[str, Sequence[CodeParameter]], Reply] = read_code_reply,
        max_tokens: int | None = None,
        **options: Any,
    ) -> Reply:
        """New functions from one plain-text call (no JSON schema) whose reply ``read``
        maps to the variables of ``read_as``; room is made for ``code`` (default
        ``read_as``), cut to what the backend's context leaves."""
        room = max_tokens or reply_tokens(list(code if code is not None else read_as))
        completion = self.complete(messages, max_tokens=self.reply_room(messages, room), **options)
        return read(completion.text, read_as)

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

    def token_counter(self) -> Callable[[str | Sequence[Message]], int] | None:
        """The backend's own count of a prompt's tokens, or ``None`` if it has no tokenizer."""
        return token_counter(self.llm)

    def reply_room(self, messages: Sequence[Message], wanted: int) -> int:
        """``wanted`` completion tokens, cut to what the backend's context window leaves
        after ``messages`` (when the backend reports its window as ``n_ctx``); the prompt
        is counted with the backend's tokenizer where it has one."""
        window = getattr(self.backend(), "n_ctx", None)
        if not isinstance(window, int):
            return wanted
        count = self.token_counter() or estimate_prompt_tokens
        used = count(list(messages)) + 32
        return max(64, min(wanted, window - used))


def charge(result: StepResult, used: UsageStats) -> None:
    """Put what ``used`` counted (cache hits among the calls) into ``result``."""
    result.usage = Usage(used.prompt_tokens, used.completion_tokens)
    result.cost = used.cost
    result.calls = used.calls + used.cache_hits


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
