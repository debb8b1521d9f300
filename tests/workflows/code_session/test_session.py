"""Whole sessions with OptoPrime and scripted replies: accept, reject, review, bad input, resume."""

from __future__ import annotations

import io
import json

import pytest

from tests.workflows.code_session.project import (
    FAST,
    NEW_SIGNATURE,
    WRONG,
    ScriptedLLM,
    reply,
)
from workflows.code_session import (
    BaselineError,
    Candidate,
    CodeSession,
    Evaluation,
    OptoPrimeProposer,
    SessionError,
    SessionState,
    TerminalReviewer,
)
from workflows.code_session.measure import Speedup


def make_session(state, project, llm, reviewer=None, editor=None):
    proposer = OptoPrimeProposer(
        fn_name="find_duplicates",
        signature=state.signature,
        module_name=state.target.module_name,
        source=state.current_source,
        llm=llm,
    )
    extra = {"editor": editor} if editor else {}
    lines: list[str] = []
    session = CodeSession(
        state,
        project / "session",
        proposer=proposer,
        cwd=project,
        reviewer=reviewer,
        say=lines.append,
        **extra,
    )
    return session, lines


def test_faster_proposal_is_accepted_and_written_back(project, new_session):
    state = new_session(rounds=1)
    llm = ScriptedLLM(reply(FAST))
    session, _ = make_session(state, project, llm)
    assert session.run() == 0
    text = (project / "dupes.py").read_text()
    assert "reported = set()" in text and "items[:i]" not in text
    assert text.endswith("def unrelated():\n    return 1\n")
    session_dir = project / "session"
    assert "items[:i]" in (session_dir / "backup" / "dupes.py").read_text()
    assert "+    reported = set()" in (session_dir / "changes.diff").read_text()
    report = json.loads((session_dir / "report.json").read_text())
    assert report["result"]["written_back"] and report["result"]["accepted_candidate"] == 1
    assert report["result"]["speedup"]["value"] > 1
    assert report["llm_usage"]["calls"] == 1 and report["llm_usage"]["total_tokens"] > 0
    assert report["candidates"][0]["evaluation"]["tests"]["passed"] == 3
    assert "| 1 | 1 | optimizer | accepted |" in (session_dir / "report.md").read_text()
    assert "items[:i]" in llm.prompts[0] and "Hot lines" in llm.prompts[0]


def test_changed_signature_is_rejected_and_fed_back(project, new_session):
    state = new_session(rounds=2)
    llm = ScriptedLLM(reply(NEW_SIGNATURE), reply(WRONG))
    session, lines = make_session(state, project, llm)
    assert session.run() == 0
    first, second = state.candidates
    assert first.status == "invalid" and "changes the signature" in first.reason
    assert first.source and "key=None" in first.source
    assert second.status == "failed" and second.evaluation.failed_at == "tests"
    assert "changes the signature" in llm.prompts[1], (
        "the rejection is part of the next round's feedback"
    )
    assert "items[:i]" in (project / "dupes.py").read_text(), "nothing accepted, file untouched"
    assert any("no candidate was accepted" in line for line in lines)


def test_interactive_edit_feedback_then_accept(project, new_session):
    state = new_session(rounds=2, auto=False)
    faster_loop = FAST.replace("    result = []\n", "    result = []\n    add = reported.add\n")
    llm = ScriptedLLM(reply(FAST), reply(faster_loop))
    answers = io.StringIO("e\nf\nkeep the docstring\n\nx\na\n")
    output = io.StringIO()
    edits = []

    def editor(source):
        edits.append(source)
        return source.replace("result = []", "result = []  # edited")

    session, _ = make_session(state, project, llm, TerminalReviewer(answers, output), editor)
    assert session.run() == 0
    shown = output.getvalue()
    assert "+    reported = set()" in shown and "Speedup vs original" in shown
    assert "please type one of" in shown
    assert [c.origin for c in state.candidates] == ["optimizer", "edit", "optimizer"]
    assert [c.status for c in state.candidates] == ["rejected", "rejected", "accepted"]
    assert state.candidates[1].comment == "keep the docstring"
    assert "keep the docstring" in llm.prompts[1]
    assert "add = reported.add" in (project / "dupes.py").read_text()


def test_quit_keeps_nothing_when_nothing_was_accepted(project, new_session):
    state = new_session(rounds=3, auto=False)
    session, _ = make_session(
        state,
        project,
        ScriptedLLM(reply(FAST)),
        TerminalReviewer(io.StringIO("q\n"), io.StringIO()),
    )
    assert session.run() == 0
    assert state.rounds_done == 1 and state.finished and not state.written
    assert "items[:i]" in (project / "dupes.py").read_text()


def test_tests_failing_on_the_original_refuse_to_start(project, new_session):
    (project / "tests" / "test_more.py").write_text(
        "from dupes import find_duplicates\n\ndef test_wrong():\n    assert find_duplicates([1, 1]) == []\n"
    )
    with pytest.raises(
        BaselineError, match="the tests fail on the original find_duplicates"
    ) as caught:
        new_session()
    assert "test_wrong" in str(caught.value)


def test_benchmark_that_raises_refuses_to_start(new_session):
    with pytest.raises(BaselineError, match="the benchmark raised on the original code: NameError"):
        new_session(bench="find_duplicates(no_such_data)")


def test_non_deterministic_function_is_detected(project, new_session):
    with open(project / "dupes.py", "a") as f:
        f.write(
            "\n\nimport random\n\n\ndef pick(items):\n    return [random.Random().random(), len(items)]\n"
        )
    from tests.workflows.code_session.project import quick_workload
    from workflows.code_session import parse_target, start_session

    state = start_session(
        parse_target("dupes.py::pick", project),
        quick_workload(bench="pick(data)", tests=[]),
        project / "session",
        rounds=1,
        auto=True,
        min_speedup=1.1,
        llm=None,
        cwd=project,
    )
    assert any("non-deterministic" in w for w in state.warnings), state.warnings
    assert any("no --tests given" in w for w in state.warnings)


def test_source_changed_during_the_session_is_not_overwritten(project, new_session):
    state = new_session(rounds=1)

    def edit_then_reply():
        with open(project / "dupes.py", "a") as f:
            f.write("\n# edited by someone else\n")
        return reply(FAST)

    session, lines = make_session(state, project, ScriptedLLM(edit_then_reply))
    assert session.run() == 1
    text = (project / "dupes.py").read_text()
    assert text.endswith("# edited by someone else\n") and "items[:i]" in text
    assert any("changed on disk" in line for line in lines)
    assert "reported = set()" in (project / "session" / "accepted_dupes.py").read_text()
    assert not json.loads((project / "session" / "report.json").read_text())["result"][
        "written_back"
    ]


def test_interrupted_session_resumes_where_it_stopped(project, new_session):
    state = new_session(rounds=2)

    def interrupted():
        raise KeyboardInterrupt

    session, _ = make_session(state, project, ScriptedLLM(reply(FAST), interrupted))
    with pytest.raises(KeyboardInterrupt):
        session.run()
    saved = SessionState.load(project / "session")
    assert saved.rounds_done == 1 and saved.accepted_id == 1 and not saved.finished
    assert saved.baseline.timing == state.baseline.timing

    llm = ScriptedLLM(reply(WRONG))
    resumed, _ = make_session(saved, project, llm)
    assert resumed.run() == 0
    assert saved.rounds_done == 2 and [c.status for c in saved.candidates] == ["accepted", "failed"]
    assert "reported = set()" in llm.prompts[0], "resumes from the accepted version"
    assert "reported = set()" in (project / "dupes.py").read_text()


def test_resume_refuses_when_the_file_changed(project, new_session):
    state = new_session(rounds=1)
    (project / "dupes.py").write_text("def find_duplicates(items):\n    return []\n")
    with pytest.raises(SessionError, match="changed on disk"):
        make_session(state, project, ScriptedLLM(reply(FAST)))[0].run()


def test_a_second_session_in_the_same_directory_is_refused(new_session):
    new_session()
    with pytest.raises(SessionError, match="already holds a session"):
        new_session()


def test_resume_shows_the_candidate_that_was_waiting_for_review(project, new_session):
    state = new_session(rounds=1, auto=False)

    class CtrlC:
        def review(self, *args):
            raise KeyboardInterrupt

    session, _ = make_session(state, project, ScriptedLLM(reply(FAST)), CtrlC())
    with pytest.raises(KeyboardInterrupt):
        session.run()
    saved = SessionState.load(project / "session")
    assert [c.status for c in saved.candidates] == ["passed"] and saved.rounds_done == 0

    llm = ScriptedLLM(reply(WRONG))
    shown = io.StringIO()
    resumed, lines = make_session(saved, project, llm, TerminalReviewer(io.StringIO("a\n"), shown))
    assert resumed.run() == 0
    assert "still waiting for review" in lines[0]
    assert "+    reported = set()" in shown.getvalue(), "the same candidate is shown again"
    assert [c.status for c in saved.candidates] == ["accepted"] and llm.prompts == []
    assert "reported = set()" in (project / "dupes.py").read_text()


def test_auto_accepts_only_when_the_low_end_of_the_speedup_clears_min_speedup(project, new_session):
    state = new_session(rounds=1)
    session, _ = make_session(state, project, ScriptedLLM(reply(FAST)))

    def passed(value, low):
        candidate = Candidate(
            id=state.next_candidate_id(),
            round=1,
            origin="optimizer",
            source=FAST,
            status="passed",
            evaluation=Evaluation(speedup=Speedup(value, low, value * 1.2, rounds=5)),
        )
        state.candidates.append(candidate)
        return candidate

    noisy = passed(value=1.6, low=1.02)
    session.decide_automatically(noisy)
    assert noisy.status == "rejected" and "below --min-speedup 1.1" in noisy.reason
    steady = passed(value=1.3, low=1.2)
    session.decide_automatically(steady)
    assert steady.status == "accepted"
