"""The BIG-bench family of ``bench_search.py``: tuning a prompt at one budget of proposal calls.

What is trained is the instruction at the top of a zero-shot prompt (the
instruction, then ``Input:`` the question with its options, then ``Output:``, as
``bench_agents.py --suite bigbench`` asks it); the model's reply, cut at a few
tokens, is graded by that suite's choice grader. The task's distinct
multiple-choice questions are shuffled once with a fixed seed and cut into
``--train`` and ``--test``: every method and every ``--seed`` sees the same split,
and nothing a method proposes is shown a test answer. ``--seed`` varies only the
sampling (proposal seeds, minibatches, the archive's choices).

How calls are counted: ``--calls`` bounds the calls that propose or rewrite the
instruction (a :class:`~trace_engine.llm.Budget` on them). The calls that answer
questions under an instruction are outside that budget and reported beside it:
``answers`` is the number of distinct (instruction, question) pairs the method had
answered, train and test, and ``ans_tok`` their tokens. Answers are greedy, so a
pair is asked of the model once per run and reused by later methods and seeds;
each method is charged for every pair it needed, as if it had asked alone.

Every method starts from the task's own instruction and ends with the one that
scored best on the whole train split among those it scored (the earliest among
equals); that one, and only that one, is scored on test:

* ``zero_shot``: the task's instruction, no proposal call;
* ``best_of_n``: instructions written by the model at spread temperatures from the
  task's instruction and three train questions with their answers (no feedback);
* ``optoprime``: OptoPrime steps, each on a seeded minibatch of train questions with
  one feedback per question (right; wrong; or the reply named no option);
* ``multi``: the same steps with OptoPrimeMulti, its candidates scored on train;
* ``archive``: ArchiveSearch over OptoPrime; a candidate is scored on train, its
  cell is (train questions right, in quarters; replies that named no option: none,
  some or most), and an expansion is fed its own wrong train questions first.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass

from bench_search import Attempt, spend, spread
from bigbench_suite import MAX_TOKENS, ChoiceTask, choice_grader, load_task

from agents.dynaicl import Example, few_shot_prompt, render_few_shot
from agents.dynaicl.prompt import prompt_messages
from optimizers import OptoPrime, OptoPrimeMulti
from optimizers.archive import ArchiveSearch, Outcome
from optimizers.search import temperature_spread
from trace_engine import Module, Node, bundle, node
from trace_engine.llm import LLMError

SPLIT_SEED = 2026
"""Fixes the train/test split, whatever ``--seed`` is."""
BATCH = 4
"""Train questions per OptoPrime step, and fed to an archive expansion."""
SHOWN = 3
"""Train questions (with answers) a best-of-n proposal is shown."""
PROPOSAL_TOKENS = 120
"""Room for a proposed instruction (a few sentences; a longer reply is cut)."""
WRITE_INSTRUCTION = (
    "You write the instruction placed before every question of a task that a small "
    "language model answers. The model must reply with exactly one of the question's "
    "options and nothing else. Reply with the new instruction only: no quotes, no "
    "explanation."
)


def split_task(task: ChoiceTask, train: int, test: int) -> tuple[list[Example], list[Example]]:
    """The fixed train and test questions: distinct inputs, shuffled with SPLIT_SEED."""
    distinct = list({e.input: e for e in task.examples}.values())  # one per input
    if train < 1 or test < 1 or train + test > len(distinct):
        raise SystemExit(
            f"--train {train} --test {test}: BIG-bench task {task.name!r} has "
            f"{len(distinct)} distinct questions; ask for at least 1 each and at most that in all"
        )
    random.Random(SPLIT_SEED).shuffle(distinct)
    return distinct[:train], distinct[train : train + test]


class Answers:
    """The model's greedy reply to each prompt text, asked once and kept: (text, tokens)."""

    def __init__(self, llm):
        self.llm = llm
        self.replies: dict[str, tuple[str, int]] = {}

    def get(self, prompt: str) -> tuple[str, int]:
        if prompt not in self.replies:
            done = self.llm.complete(
                prompt_messages(prompt), temperature=0.0, max_tokens=MAX_TOKENS
            )
            self.replies[prompt] = (done.text, done.usage.total_tokens)
        return self.replies[prompt]


@dataclass
class Verdict:
    correct: bool
    named_option: bool
    feedback: str


class Bench(Module):
    """One method on one seed: the trainable instruction, grading, and what was spent."""

    def __init__(self, task: ChoiceTask, answers: Answers):
        self.instruction = node(
            task.instruction,
            trainable=True,
            name="instruction",
            description="The instruction at the top of the prompt, before the question.",
        )
        self._task = task
        self._grade = choice_grader(task)
        self._answers = answers
        self._asked: set[str] = set()
        self.answer_tokens = 0
        self.scored: dict[str, float] = {}
        """Train accuracy of every instruction scored, in the order first scored."""

    @property
    def answers(self) -> int:
        return len(self._asked)

    def reply(self, prompt: str) -> str:
        text, tokens = self._answers.get(prompt)
        if prompt not in self._asked:
            self._asked.add(prompt)
            self.answer_tokens += tokens
        return text

    @bundle(description="Sends the prompt to the language model; its reply (a few tokens).")
    def generate(self, prompt: str) -> str:
        return self.reply(prompt)

    def judge(self, example: Example, reply: str) -> Verdict:
        if self._grade(reply, example.target):
            return Verdict(True, True, "Correct.")
        options = self._task.options[example.input]
        said = (reply.strip().splitlines() or [""])[0][:80]
        if any(self._grade(reply, option) for option in options):
            return Verdict(
                False, True, f"Wrong: the reply {said!r}; the correct answer is {example.target!r}."
            )
        return Verdict(
            False,
            False,
            f"Not an answer: the reply {said!r} names none of the options "
            f"({' | '.join(options)}); it must start with the correct option "
            f"({example.target!r} here).",
        )

    def grade(self, instruction: str, examples: list[Example]) -> list[Verdict]:
        """Each question answered under ``instruction`` (untraced), judged."""
        return [
            self.judge(e, self.reply(render_few_shot(instruction, [], e.input, 0)))
            for e in examples
        ]

    def traced(self, examples: list[Example]) -> list[tuple[Node, str, float]]:
        """Each question answered under the current instruction, traced: (output,
        feedback, score), for an optimizer's ``backward``."""
        found = []
        for e in examples:
            output = self.generate(few_shot_prompt(self.instruction, [], e.input, 0))
            verdict = self.judge(e, output.data)
            found.append((output, verdict.feedback, float(verdict.correct)))
        return found

    def train_score(self, instruction: str, train: list[Example]) -> float:
        if instruction not in self.scored:
            verdicts = self.grade(instruction, train)
            self.scored[instruction] = sum(v.correct for v in verdicts) / len(verdicts)
        return self.scored[instruction]

    def best(self) -> str:
        """The instruction of highest train accuracy (the earliest among equals)."""
        return max(self.scored, key=lambda k: self.scored[k])


# ----- the methods ------------------------------------------------------------------------


def _written(reply: str) -> str:
    """A proposed instruction without surrounding quotes, fences or a leading label."""
    text = reply.strip().strip("`").strip()
    if text.lower().startswith("instruction:"):
        text = text.split(":", 1)[1].strip()
    return text.strip("\"'").strip()


def best_of_n(bench: Bench, llm, train: list[Example], calls: int, seed: int) -> None:
    temperatures = temperature_spread(calls)

    def sample(i: int) -> bool:
        shown = random.Random(seed * 1000 + i).sample(train, min(SHOWN, len(train)))
        examples = "\n\n".join(f"Input: {e.input}\nOutput: {e.target}" for e in shown)
        user = (
            f"The current instruction:\n{bench.instruction.data}\n\nSome questions:\n\n{examples}"
        )
        try:
            reply = llm.complete(
                [
                    {"role": "system", "content": WRITE_INSTRUCTION},
                    {"role": "user", "content": user},
                ],
                temperature=temperatures[i],
                seed=seed * 1000 + i,
                max_tokens=PROPOSAL_TOKENS,
            ).text
        except LLMError:
            return False
        written = _written(reply)
        return bool(written) and bench.train_score(written, train) == 1.0

    spend(sample, calls)


def feedback_steps(bench: Bench, opt: OptoPrime, train: list[Example], calls: int, seed: int):
    """OptoPrime(Multi) steps, each fed the feedback on a seeded train minibatch."""
    rng = random.Random(seed)

    def step(_: int) -> bool:
        opt.zero_feedback()
        for output, feedback, score in bench.traced(rng.sample(train, min(BATCH, len(train)))):
            opt.backward(output, feedback, score=score)
        opt.step()
        return bench.train_score(bench.instruction.data, train) == 1.0

    spend(step, calls)


def _cell(verdicts: list[Verdict]) -> list:
    """Train questions right (in quarters) and how many replies named no option."""
    right = sum(v.correct for v in verdicts) / len(verdicts)
    unnamed = sum(not v.named_option for v in verdicts)
    level = "none" if unnamed == 0 else "most" if unnamed > len(verdicts) / 2 else "some"
    return [round(4 * right), level]


def archive(bench: Bench, llm, train: list[Example], calls: int, seed: int) -> None:
    opt = OptoPrime([bench.instruction], llm, memory_size=3, max_errors=None)

    def evaluate(values) -> Outcome:
        verdicts = bench.grade(values[bench.instruction.name], train)
        score = bench.train_score(values[bench.instruction.name], train)
        wrong = [e for e, v in zip(train, verdicts) if not v.correct]
        right = [e for e, v in zip(train, verdicts) if v.correct]
        fed = bench.traced((wrong + right)[:BATCH])
        unnamed = sum(not v.named_option for v in verdicts)
        summary = (
            f"{len(right)} of {len(train)} train questions answered right; "
            f"{unnamed} replies named no option."
        )
        return Outcome(score, summary, _cell(verdicts), outputs=fed)

    ArchiveSearch(opt, evaluate, stop_at=1.0, seed=seed).run(calls)


@dataclass
class Tuned:
    """What one method reached on one seed."""

    instruction: str
    train: float
    test_right: int
    calls: int
    tokens: int
    answers: int
    answer_tokens: int


def run_method(
    method: str,
    task: ChoiceTask,
    split: tuple[list[Example], list[Example]],
    answers: Answers,
    llm,
    calls: int,
    seed: int,
) -> Tuned:
    """``method`` tunes the instruction with at most ``calls`` proposal calls; the
    best-on-train instruction it scored is then scored on test."""
    train, test = split
    bench = Bench(task, answers)
    attempt = Attempt(llm, calls)
    bench.train_score(bench.instruction.data, train)
    if method == "best_of_n":
        best_of_n(bench, attempt.llm, train, calls, seed)
    elif method == "optoprime":
        opt = OptoPrime([bench.instruction], attempt.llm, memory_size=3, max_errors=None)
        feedback_steps(bench, opt, train, calls, seed)
    elif method == "multi":
        opt = OptoPrimeMulti(
            [bench.instruction],
            attempt.llm,
            n=3,
            score=lambda values: bench.train_score(values[bench.instruction.name], train),
            keep_current=True,
            memory_size=3,
            workers=1,
            max_errors=None,
        )
        feedback_steps(bench, opt, train, calls, seed)
    elif method == "archive":
        archive(bench, attempt.llm, train, calls, seed)
    chosen = bench.best()
    test_right = sum(v.correct for v in bench.grade(chosen, test))
    spent = attempt.meter.total
    return Tuned(
        chosen,
        bench.scored[chosen],
        test_right,
        spent.calls + spent.errors,
        spent.total_tokens,
        bench.answers,
        bench.answer_tokens,
    )


def load_split(name: str, train: int, test: int) -> tuple[ChoiceTask, tuple[list, list]]:
    """The task and its fixed split; a one-line error (SystemExit) if either is unusable."""
    task = load_task(name)
    return task, split_task(task, train, test)


def run_family(task: ChoiceTask, split, methods, llm, calls: int, seeds) -> None:
    """Every method on every seed, a line each, then the mean and range per method."""
    n_train, n_test = len(split[0]), len(split[1])
    answers = Answers(llm)
    print(
        f"## bigbench/{task.name}: {n_train} train, {n_test} test questions (split seed "
        f"{SPLIT_SEED}), {calls} proposal calls per method, seeds {list(seeds)}, {llm.id}"
    )
    print(
        "calls/tokens: proposal calls (the budget); answers/ans_tok: distinct "
        "(instruction, question) pairs answered, train and test, outside the budget"
    )
    print(
        f"{'method':<10} {'seed':>4} {'test':>7} {'train':>6} {'calls':>6} {'tokens':>7} "
        f"{'answers':>7} {'ans_tok':>8} {'seconds':>8}  instruction chosen"
    )
    summary = {}
    for method in methods:
        rows = []
        for seed in seeds:
            start = time.perf_counter()
            found = run_method(method, task, split, answers, llm, calls, seed)
            rows.append(found)
            print(
                f"{method:<10} {seed:>4} {found.test_right:>3}/{n_test:<3} {found.train:>6.2f} "
                f"{found.calls:>6} {found.tokens:>7} {found.answers:>7} {found.answer_tokens:>8} "
                f"{time.perf_counter() - start:>8.1f}  {' '.join(found.instruction.split())[:70]!r}",
                flush=True,
            )
        summary[method] = rows
    print(f"\n{'method':<10} {f'test right (of {n_test})':>22} {'calls':>14} {'answers':>16}")
    for method, rows in summary.items():
        print(
            f"{method:<10} {spread([r.test_right for r in rows]):>22} "
            f"{spread([r.calls for r in rows]):>14} {spread([r.answers for r in rows]):>16}"
        )
