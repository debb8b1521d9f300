"""Every prompt text the optimizers send, in one place.

Benchmark figures were measured with these exact texts: a change to any of them
can move a small model's results, so ``tests/optimizers/test_prompts.py`` pins a
hash of each. Change a text deliberately: bump :data:`VERSION`, update the pinned
hash, and re-measure the figures that depend on it (``benchmarks/RESULTS.md``).
Texts are named by the optimizer that sends them; ``{...}`` fields are filled
with the problem's section titles.
"""

from __future__ import annotations

from dataclasses import dataclass

VERSION = 1
"""The version of this set of texts; bumped whenever one of them changes."""

# OptoPrime -----------------------------------------------------------------------
DEFAULT_OBJECTIVE = (
    "Change the values in {variables} so that the outputs get better feedback in {feedback}."
)
MEMORY_TITLE = "#Past attempts"

SYSTEM_PROMPT = """\
You improve a program by changing its variables. The problem has these sections:
{instruction}: the task.
{code}: the calls that ran, in order, written `result = function(argument=name)`.
{documentation}: what each function does.
{variables}: the values you may change, with their types.
{constraints}: rules the new values must follow.
{inputs}: fixed values; you cannot change them.
{others}: intermediate values computed by the code.
{outputs}: the results.
{feedback}: what is wrong with the outputs.

"""
"""What the problem's sections mean; an approach and a reply format follow it."""

JSON_REPLY_FORMAT = """\
Reply with one JSON object only:
{{"reasoning": "<one or two short sentences>", "suggestion": {{"<variable name>": <new value>}}}}
Use only names from {variables}. Write each value in its type (numbers as numbers).
{code_rule}
If nothing needs to change, reply TERMINATE."""
CODE_INLINE = (
    "For a (code) variable, write the complete new function from its def line, "
    "same name and arguments."
)
"""The code rule of a JSON-only prompt: the wording the value problems were measured
with before code moved to fenced blocks, kept so their prompt did not change."""
CODE_LATER = "Leave out the (code) variables: their new functions are asked for next."


@dataclass(frozen=True)
class Approach:
    """How the system prompt tells the model to solve a problem (``advice``, formatted with
    the section titles), and the worked example shown with JSON replies."""

    advice: str
    example: str


WORK_BACKWARD = Approach(
    advice="""\
Solve for the variables exactly; do not just nudge them. Work backward: start from what the
outputs must be (see {feedback}) and go through the calls of {code} in reverse order, working out
what each result must be, until you reach the variables.
""",
    example="""\
Problem:
#Code
add = add(a=x, b=int_0)
multiply = multiply(a=add, b=int_1)
#Variables
(int) x=2
#Inputs
(int) int_0=1
(int) int_1=3
#Others
(int) add=3
#Outputs
(int) multiply=9
#Feedback
The output should be 15.
Reply:
{"reasoning": "Work back from the output: multiply = add * 3 must be 15, so add = 15 / 3 = 5. \
add = x + 1 must be 5, so x = 5 - 1 = 4.", "suggestion": {"x": 4}}""",
)
"""The default: undo the calls in reverse order, shown on two calls. With it the 1.5B
model sets up the inverse chain ("multiply must be 15, so add = 15 / 3")."""

SOLVE_DIRECTLY = Approach(
    advice="""\
Work out how each variable flows through the code to the outputs, then suggest values that
fix the feedback exactly (solve for the value; do not just nudge it).
""",
    example="""\
Problem:
#Code
y = multiply(a=x, b=int_0)
#Variables
(int) x=2
#Inputs
(int) int_0=3
#Outputs
(int) y=6
#Feedback
y should be 12.
Reply:
{"reasoning": "y = x * 3 and y must be 12, so x must be 4.", "suggestion": {"x": 4}}""",
)
"""The earlier prompt: trace the variables forward, shown on one call. Small models
solve some problems one way and some the other, so :class:`OptoPrimeMulti`
alternates the two across its candidates."""


# OPRO ---------------------------------------------------------------------------
OPRO_TASK = """\
You find better values for the variables of a program. You see earlier values
with their score or feedback. Propose new values that do better than all of them
and differ from them."""
OPRO_JSON_REPLY = """ Reply with one JSON object only:
{"reasoning": "<one short sentence>", "suggestion": {"<variable name>": <new value>}}
Write each value in its type. """
OPRO_CODE_INLINE = "For a (code) variable, write the complete function."
"""The last rule of the JSON prompt when no variable is code: the wording the value
problems were measured with before code moved to fenced blocks, kept so their
prompt did not change."""
OPRO_SYSTEM_PROMPT = OPRO_TASK + OPRO_JSON_REPLY + OPRO_CODE_INLINE
"""The system prompt of a problem without code variables."""


# TextGrad -----------------------------------------------------------------------
GRADIENT_PROMPT = """\
You give feedback on the inputs of one step of a program. For each input you are
asked about, say in one or two sentences how its value should change so that the
step's result gets better feedback. Reply with JSON only: {"<input>": "<feedback>"}"""

UPDATE_TASK = "You improve one variable of a program using feedback about it."
UPDATE_PROMPT = (
    UPDATE_TASK
    + """ Reply with JSON only:
{"reasoning": "<one short sentence>", "value": <the new value, in the variable's type>}
For a (code) variable, write the complete new function from its def line, same name and arguments."""
)
"""The prompt of a value's update. Code variables are asked for as code blocks now; the
code rule stays so that the value prompt the benchmarks measured did not change."""


TEXTGRAD_MEMORY_TITLE = "Earlier values and the feedback each received:"
"""Heads a variable's earlier values in its update request (``memory_size``)."""

# Code-block replies (every optimizer) --------------------------------------------
CODE_REPLY_FORMAT = (
    "Reply in two parts: first one or two short sentences of reasoning, then {what}\n"
    "(from its def line, same name and arguments) in {where}."
)
ONE_FUNCTION = ("the complete new function", "one ```python code block")
SEVERAL_FUNCTIONS = (
    "each function you change, complete",
    "its own ```python code block, with the (code) variable's name on the line just before it",
)
"""The reply format for code. It does not offer TERMINATE: told that it may, the 1.5B model
answered TERMINATE to every HumanEval stub (a whole TERMINATE reply is still understood)."""
CHOSEN_TITLE = "#Chosen values"
"""Heading for the other variables' new values in a code call that follows a JSON call."""

# Drafts of stubs (OptoPrime) -----------------------------------------------------
DRAFT_SYSTEM_PROMPT = "Complete the Python function. Reply with the whole function in a code block."
"""The drafting instruction: short, in the form small code models are trained on."""


# OptoPrimeMulti judge -------------------------------------------------------------
JUDGE_PROMPT = """\
You compare candidate updates for the variables of a program. Pick the candidate
most likely to fix the feedback. Reply with JSON only: {"best": <candidate number>}"""

# ArchiveSearch crossover ------------------------------------------------------------
MERGE_TASK = """\
You combine two versions of the variables of a program. Each version does some
things right and some wrong; the feedback under each says which. Write one version
that keeps what each of them does right."""
MERGE_JSON_REPLY = """ Reply with one JSON object only:
{"reasoning": "<one short sentence>", "suggestion": {"<variable name>": <new value>}}
Write each value in its type."""
MERGE_VERSION = "#Version {label} (score {score:g})"
MERGE_FEEDBACK = "#Feedback on version {label}"
