"""Code sessions hold against candidates that forge timings or results, or attack the user's files."""

from __future__ import annotations

from tests.workflows.code_session.project import FAST, SLOW, SUBTLY_WRONG, WRONG
from workflows.code_session import CodeSession
from workflows.code_session.proposer import Proposal

SIGNATURE = "def find_duplicates(items)"
SLOW_FUNCTION = (
    SLOW[SLOW.index("def find_duplicates") : SLOW.index("def unrelated")].rstrip() + "\n"
)
FORGED_TIMING = (
    '{"median": 1e-9, "q1": 1e-9, "q3": 1e-9, "minimum": 1e-9, "maximum": 1e-9, '
    '"samples": 3, "loops": 1}'
)


def _body(function: str) -> str:
    return function.split('"""', 2)[2]


def test_a_timing_forged_from_atexit_is_not_believed(measured):
    evaluator, baseline, text = measured
    forging = (
        "import atexit, json, sys\n"
        "def find_duplicates(items):\n"
        "    def forge():\n"
        "        job = json.load(open(sys.argv[1]))\n"
        "        result = json.load(open(job['result_path']))\n"
        f"        result['timing'] = json.loads({FORGED_TIMING!r})\n"
        "        json.dump(result, open(job['result_path'], 'w'))\n"
        "    atexit.register(forge)" + _body(SLOW_FUNCTION)
    )
    verdict = evaluator.evaluate(text, forging, baseline, SIGNATURE)
    assert verdict.speedup is None or verdict.speedup.value < 100
    assert verdict.failed_at == "validation" and "atexit" in verdict.reason


def test_timings_and_results_written_on_open_descriptors_are_not_believed(measured):
    evaluator, baseline, text = measured
    forged_state = '{"state": {"stage": "done", "warnings": [], "timing": ' + FORGED_TIMING + "}}"
    forging = (
        "import os\n"
        "def find_duplicates(items):\n"
        "    for fd in range(3, 64):\n"
        "        try:\n"
        f"            os.write(fd, b{forged_state!r} + b'\\n')\n"
        "        except OSError:\n"
        "            pass" + _body(SLOW_FUNCTION)
    )
    verdict = evaluator.evaluate(text, forging, baseline, SIGNATURE)
    assert verdict.passed, verdict.reason
    assert verdict.timing.median > 1e-6 and verdict.speedup.value < 100


class OneProposal:
    def __init__(self, source: str):
        self.source = source

    def propose(self, current_source: str, summary: str, feedback: str) -> Proposal:
        return Proposal(source=self.source, reasoning="scripted")


def test_auto_never_writes_file_deleting_top_level_code(project, new_session):
    canary = project / "canary.txt"
    canary.write_text("keep me")
    state = new_session(rounds=1)
    hostile = f"import os\nos.remove({str(canary)!r})\n" + FAST
    session = CodeSession(
        state, project / "session", proposer=OneProposal(hostile), cwd=project, say=lambda _: None
    )
    assert session.run() == 0
    assert canary.read_text() == "keep me"
    text = (project / "dupes.py").read_text()
    assert "os.remove" not in text and "items[:i]" in text
    assert state.candidates[0].status == "invalid"


def test_the_file_is_retested_as_it_will_be_written_before_write_back(project, new_session):
    state = new_session(rounds=1)
    lines: list[str] = []
    session = CodeSession(
        state, project / "session", proposer=OneProposal(FAST), cwd=project, say=lines.append
    )
    session.round(1)
    state.rounds_done = 1
    assert state.accepted_id is not None
    state.current_source = WRONG  # e.g. a session state file edited between rounds and write-back
    assert session.finish() == 1
    assert "items[:i]" in (project / "dupes.py").read_text()
    assert not state.written
    assert any("not writing" in line and "tests fail" in line for line in lines)


def test_a_candidate_that_patches_the_checking_harness_is_refused(measured):
    evaluator, baseline, text = measured
    # right on the tests, wrong on the benchmark's input: only the differential check
    # notices, unless the candidate switches its comparison off
    patching = "import workflows.code_session.checks as checks\n" + SUBTLY_WRONG.replace(
        "    counts = {}", "    checks.same_value = lambda a, b: True\n    counts = {}"
    )
    verdict = evaluator.evaluate(text, patching, baseline, SIGNATURE)
    assert verdict.failed_at == "validation"
    assert "checks.same_value" in verdict.reason and "harness" in verdict.reason
