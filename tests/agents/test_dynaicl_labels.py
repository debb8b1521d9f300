import json
import threading

import pytest

from agents.dynaicl import LabelFileMismatch, LabelSet, generate_labels
from tests.agents.toy_task import toy_example, toy_llm, toy_pool
from trace_engine.llm.base import CallableLLM

GRID = (0, 1, 2, 4, 8)


def test_labels_are_smallest_k_that_reaches_threshold(tmp_path):
    needs = [0, 1, 2, 3, 5, 8, 9]
    train = [toy_example(i, n) for i, n in enumerate(needs)]
    labels = generate_labels(
        toy_llm,
        "Answer.",
        train,
        toy_pool(),
        task_id="toy",
        grid=GRID,
        demo_sets=2,
        path=tmp_path / "labels.jsonl",
        progress=False,
    )
    assert labels.labels(0.5) == [0, 1, 2, 4, 8, 8, None]
    assert labels.records[3].accuracy == {0: 0.0, 1: 0.0, 2: 0.0, 4: 1.0, 8: 1.0}
    assert labels.records[0].trials == {0: 1, 1: 2, 2: 2, 4: 2, 8: 2}
    assert labels.mean_accuracy()[8] == pytest.approx(6 / 7)


def test_label_file_resumes_without_new_calls(tmp_path):
    path = tmp_path / "labels.jsonl"
    train = [toy_example(i, i % 3) for i in range(5)]
    generate_labels(
        CallableLLM(toy_llm, "toy"),
        "Answer.",
        train[:3],
        toy_pool(),
        task_id="toy",
        grid=GRID,
        path=path,
        progress=False,
    )
    calls = []
    lock = threading.Lock()

    def counting(messages):
        with lock:
            calls.append(1)
        return toy_llm(messages)

    labels = generate_labels(
        CallableLLM(counting, "toy"),
        "Answer.",
        train,
        toy_pool(),
        task_id="toy",
        grid=GRID,
        demo_sets=3,
        path=path,
        progress=False,
    )
    # two new inputs: k=0 once, four other k three times each
    assert len(calls) == 2 * (1 + 4 * 3)
    assert [r.input for r in labels.records] == [e.input for e in train]
    reloaded = LabelSet.load(path)
    assert reloaded.labels(1.0) == labels.labels(1.0) == [0, 1, 2, 0, 1]
    header = json.loads(path.read_text().splitlines()[0])
    assert header["task_id"] == "toy" and header["grid"] == list(GRID)


def test_label_file_from_another_task_is_refused(tmp_path):
    path = tmp_path / "labels.jsonl"
    train = [toy_example(0, 1)]
    generate_labels(
        toy_llm, "Answer.", train, toy_pool(), task_id="toy", grid=GRID, path=path, progress=False
    )
    with pytest.raises(LabelFileMismatch, match="task_id"):
        generate_labels(
            toy_llm,
            "Answer.",
            train,
            toy_pool(),
            task_id="other",
            grid=GRID,
            path=path,
            progress=False,
        )
    with pytest.raises(LabelFileMismatch, match="grid"):
        generate_labels(
            toy_llm,
            "Answer.",
            train,
            toy_pool(),
            task_id="toy",
            grid=(0, 1),
            path=path,
            progress=False,
        )


def test_bad_label_inputs_are_refused():
    train = [toy_example(0, 1)]
    with pytest.raises(ValueError, match="empty"):
        generate_labels(toy_llm, "x", train, [], task_id="toy", grid=GRID, progress=False)
    with pytest.raises(ValueError, match="only 3"):
        generate_labels(toy_llm, "x", train, toy_pool(3), task_id="toy", grid=GRID, progress=False)
    with pytest.raises(ValueError, match="start at 0"):
        generate_labels(toy_llm, "x", train, toy_pool(), task_id="toy", grid=(1, 2), progress=False)
    with pytest.raises(ValueError, match="task_id"):
        generate_labels(toy_llm, "x", train, toy_pool(), task_id="", grid=GRID, progress=False)


def test_labels_with_the_inference_selector_use_one_demo_set():
    from agents.dynaicl import DemoSelector

    train = [toy_example(i, n) for i, n in enumerate([0, 2, 3])]
    labels = generate_labels(
        toy_llm,
        "Answer.",
        train,
        toy_pool(),
        task_id="toy",
        grid=GRID,
        demo_sets=5,
        progress=False,
        selector=DemoSelector(toy_pool(), "similar"),
    )
    assert labels.labels(1.0) == [0, 2, 4]
    assert labels.records[0].trials == {k: 1 for k in GRID}
    assert labels.meta["demos"] == "selector:similar"
