"""The per-k accuracy controller on a toy task where demos help some inputs and hurt others."""

import json
import pickle

import numpy as np
import pytest

from agents.dynaicl import (
    AccuracyController,
    ControllerMismatch,
    DemoSelector,
    DynaICL,
    DynaICLPrompt,
    GainShrinkage,
    LabelSet,
    MetaController,
    allocate_accuracy_floor,
    allocate_budget,
    generate_labels,
    load_controller,
    run_plan,
    train_controller,
)
from tests.agents.toy_task import toy_example, toy_hurt_example, toy_llm, toy_pool

GRID = (0, 1, 2, 4)


def _labels(tmp_path=None):
    """Thirds: answered zero-shot and hurt by any demo, needs 4 demos, answered either way."""
    train = []
    for i in range(30):
        kind = i % 3
        train.append(
            toy_hurt_example(i, 1)
            if kind == 0
            else toy_example(i, 4)
            if kind == 1
            else toy_example(i, 0)
        )
    return generate_labels(
        toy_llm,
        "Answer.",
        train,
        toy_pool(),
        task_id="toy",
        grid=GRID,
        demo_sets=2,
        progress=False,
        path=None if tmp_path is None else tmp_path / "labels.jsonl",
    )


def test_learns_that_demos_hurt_some_inputs_from_a_label_file(tmp_path):
    _labels(tmp_path)
    labels = LabelSet.load(tmp_path / "labels.jsonl")
    controller = AccuracyController(GRID, "toy").fit_labels(labels)
    hurt, need, either = (
        toy_hurt_example(100, 1).input,
        toy_example(101, 4).input,
        toy_example(102, 0).input,
    )
    acc = controller.expected_accuracy([hurt, need, either])
    assert acc.shape == (3, len(GRID))
    assert acc[0, 0] > 0.5 > acc[0, 1] and acc[0, 3] < 0.5
    assert acc[1, 0] < 0.5 < acc[1, 3]
    assert acc[2].min() > 0.5
    assert controller.predict([hurt, need]) == [0, 4]


def test_budget_goes_to_inputs_demos_help_and_never_to_ones_they_hurt():
    labels = _labels()
    accuracy = DynaICL("Answer.", train_controller(labels), DemoSelector(toy_pool(), "random"))
    kstar = DynaICL(
        "Answer.", train_controller(labels, "k-star"), DemoSelector(toy_pool(), "random")
    )
    test = [toy_hurt_example(200 + i, 1) for i in range(4)] + [
        toy_example(210 + i, 4) for i in range(2)
    ]
    xs, targets = [e.input for e in test], [e.target for e in test]
    budget = 4 * len(xs)  # what uniform k=4 costs
    plan = accuracy.plan(xs, budget=budget)
    assert plan.allocation.ks == [0, 0, 0, 0, 4, 4]
    assert run_plan(toy_llm, plan, targets, workers=1)[0] == 1.0
    spent_on_hurt = kstar.plan(xs, budget=budget).allocation.ks[:4]
    assert max(spent_on_hurt) > 0  # the k* controller cannot tell that demos hurt
    floor = accuracy.plan(xs, accuracy_floor=0.8)
    assert floor.allocation.met and floor.allocation.ks == [0, 0, 0, 0, 4, 4]


def test_budget_allocation_skips_dips_and_harmful_demos():
    success = np.array([[0.9, 0.2, 0.3, 0.1], [0.1, 0.05, 0.9, 0.95]])
    costs = np.tile(np.array(GRID, dtype=float), (2, 1))
    assert allocate_budget(GRID, success, costs, 100).ks == [0, 4]
    assert allocate_budget(GRID, success, costs, 2).ks == [0, 2]
    assert allocate_budget(GRID, success, costs, 1).ks == [0, 0]


def test_accuracy_floor_picks_cheapest_reaching_k_or_records_the_fallback():
    success = np.array([[0.9, 0.2, 0.95, 0.1], [0.1, 0.6, 0.85, 0.95], [0.3, 0.5, 0.4, 0.5]])
    costs = np.tile(np.array(GRID, dtype=float), (3, 1))
    alloc = allocate_accuracy_floor(GRID, success, costs, 0.8)
    assert alloc.ks == [0, 2, 1]
    assert not alloc.met and "1 of 3 inputs" in alloc.note
    assert alloc.total_cost == 3
    assert allocate_accuracy_floor(GRID, success[:2], costs[:2], 0.8).met
    with pytest.raises(ValueError, match="floor"):
        allocate_accuracy_floor(GRID, success, costs, 1.5)


def test_save_load_and_files_of_another_kind_task_or_grid(tmp_path):
    labels = _labels()
    accuracy, kstar = train_controller(labels), train_controller(labels, "k-star", threshold=1.0)
    acc_path, kstar_path = tmp_path / "acc.json", tmp_path / "kstar.json"
    accuracy.save(acc_path)
    kstar.save(kstar_path)
    texts = labels.inputs()
    loaded = AccuracyController.load(acc_path, task_id="toy", grid=GRID)
    unseen = [*texts, "q999-need2", "demo3 x"]
    assert np.array_equal(loaded.expected_accuracy(unseen), accuracy.expected_accuracy(unseen))
    kstar_loaded = MetaController.load(kstar_path, task_id="toy")
    assert np.array_equal(kstar_loaded.predict_proba(unseen), kstar.predict_proba(unseen))
    assert isinstance(load_controller(acc_path, task_id="toy"), AccuracyController)
    assert isinstance(load_controller(kstar_path, task_id="toy", grid=GRID), MetaController)
    with pytest.raises(ControllerMismatch, match="holds a 'accuracy' controller"):
        MetaController.load(acc_path, task_id="toy")
    with pytest.raises(ControllerMismatch, match="holds a 'k-star' controller"):
        AccuracyController.load(kstar_path, task_id="toy")
    with pytest.raises(ControllerMismatch, match="trained for task 'toy', not 'other'"):
        load_controller(acc_path, task_id="other")
    with pytest.raises(ControllerMismatch, match="grid"):
        load_controller(acc_path, task_id="toy", grid=(0, 1, 2, 4, 8))
    junk = tmp_path / "junk.json"
    junk.write_bytes(b"not a controller")
    with pytest.raises(ControllerMismatch, match="not a DynaICL controller"):
        load_controller(junk, task_id="toy")


class _Planted:
    """Unpickling this would create the marker file: proof that loading ran code."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_a_planted_pickle_is_refused_without_running(tmp_path):
    marker = tmp_path / "ran"
    for name in ("planted.joblib", "planted.json"):
        path = tmp_path / name
        path.write_bytes(
            pickle.dumps({"format": "trace-engine/dynaicl-controller", "x": _Planted(marker)})
        )
        with pytest.raises(ControllerMismatch, match="are JSON"):
            load_controller(path, task_id="toy")
        with pytest.raises(ControllerMismatch, match="are JSON"):
            AccuracyController.load(path, task_id="toy")
    assert not marker.exists()
    pickle.loads(path.read_bytes())  # the planted file is live: unpickling it does run code
    assert marker.exists()


def test_saved_controllers_are_plain_json_and_damage_is_reported(tmp_path):
    path = tmp_path / "acc.json"
    train_controller(_labels()).save(path)
    saved = json.loads(path.read_text())
    assert saved["kind"] == "accuracy" and saved["version"] == 3
    del saved["models"]
    path.write_text(json.dumps(saved))
    with pytest.raises(ControllerMismatch, match="damaged controller file"):
        load_controller(path, task_id="toy")


def test_bad_training_data_and_untrained_use_are_refused():
    labels = _labels()
    with pytest.raises(ValueError, match="unknown controller kind"):
        train_controller(labels, "median")
    with pytest.raises(ValueError, match="labels are for task 'toy'"):
        AccuracyController(GRID, "other").fit_labels(labels)
    with pytest.raises(ValueError, match="grid"):
        AccuracyController((0, 1), "toy").fit_labels(labels)
    controller = AccuracyController(GRID, "toy")
    with pytest.raises(ValueError, match="must match"):
        controller.fit(["a", "b"], [{k: 1.0 for k in GRID}])
    with pytest.raises(ValueError, match=r"no value for k=\[4\]"):
        controller.fit(["a"], [{0: 1.0, 1: 1.0, 2: 0.0}])
    with pytest.raises(ValueError, match=r"in \[0, 1\]"):
        controller.fit(["a"], [{k: 2.0 for k in GRID}])
    with pytest.raises(ValueError, match="at least one trial"):
        controller.fit(["a"], [{k: 1.0 for k in GRID}], [{k: 0 for k in GRID}])
    with pytest.raises(RuntimeError, match="not trained"):
        controller.expected_accuracy(["a"])
    with pytest.raises(RuntimeError, match="untrained"):
        controller.save("never-written.joblib")


def test_a_k_with_one_outcome_gets_a_smoothed_constant():
    controller = AccuracyController(GRID, "toy").fit(
        ["a", "b", "c"],
        [
            {0: 1.0, 1: 1.0, 2: 0.0, 4: 1.0},
            {0: 1.0, 1: 0.0, 2: 0.0, 4: 1.0},
            {k: 1.0 for k in GRID},
        ],
    )
    row = controller.expected_accuracy(["zzz"])[0]
    assert row[0] == pytest.approx(4 / 5) and row[3] == pytest.approx(4 / 5)
    assert 0.0 < row[1] < 1.0 and 0.0 < row[2] < 1.0


def test_dynaicl_prompt_module_uses_predicted_accuracy():
    controller = train_controller(_labels())
    module = DynaICLPrompt(
        "Answer.", controller, DemoSelector(toy_pool(), "random"), threshold=0.5, llm=toy_llm
    )
    hurt, need = toy_hurt_example(300, 1), toy_example(301, 4)
    assert module(hurt.input).data.count("Input:") == 1
    assert module(need.input).data.count("Input:") == 5
    assert module.answer(hurt.input).data == hurt.target
    module.threshold.set(1.0)
    assert module(need.input).data.count("Input:") == 5  # none reaches 1.0: the most accurate k


def _noise_texts(rng, n):
    words = ["north", "south", "east", "west", "left", "right", "step", "turn", "walk", "stop"]
    return [" ".join(rng.choice(words, size=8)) for _ in range(n)]


def test_gains_the_held_out_folds_do_not_bear_out_are_shrunk_to_the_mean_gain():
    """Outcomes independent of the text: any per-input gain the models predict is noise, so
    every input is predicted the same gain; allocating on noise would promise too much."""
    spreads_before = []
    for seed in range(6):
        rng = np.random.default_rng(seed)
        texts = _noise_texts(rng, 120)
        accuracy = [{0: float(rng.random() < 0.5), 2: float(rng.random() < 0.65)} for _ in texts]
        controller = AccuracyController((0, 2), "noise").fit(texts, accuracy)
        test = _noise_texts(rng, 200)
        acc = controller.expected_accuracy(test)
        gains = acc[:, 1] - acc[:, 0]
        observed = np.mean([a[2] - a[0] for a in accuracy])
        assert gains.std() < 0.02
        assert abs(gains.mean() - observed) < 0.02
        unshrunk = controller._calibrated(test)
        spreads_before.append((unshrunk[:, 1] - unshrunk[:, 0]).std())
    assert max(spreads_before) > 0.05


def test_gains_that_come_true_on_held_out_folds_are_kept_input_by_input():
    """Demos help exactly the inputs that mention a gate: the predicted gain must say so."""
    rng = np.random.default_rng(1)
    texts = _noise_texts(rng, 120)
    texts = [t + (" gate" if i % 2 else "") for i, t in enumerate(texts)]
    accuracy = [{0: 0.0, 2: 1.0} if " gate" in t else {0: 1.0, 2: 1.0} for t in texts]
    accuracy = [{0: 0.0, 2: 0.0} if i % 6 == 1 else a for i, a in enumerate(accuracy)]
    controller = AccuracyController((0, 2), "gate").fit(texts, accuracy)
    gated = controller.expected_accuracy([t + " gate" for t in _noise_texts(rng, 50)])
    plain = controller.expected_accuracy(_noise_texts(rng, 50))
    assert controller._gains[1].slope > 0.5
    assert (gated[:, 1] - gated[:, 0]).min() > 0.2
    assert (plain[:, 1] - plain[:, 0]).max() < 0.15


def test_gain_shrinkage_fits_the_share_of_predicted_gain_that_came_true():
    predicted = np.array([0.0, 0.1, 0.2, 0.3])
    weights = np.ones(4)
    assert GainShrinkage.fit(predicted, predicted + 0.05, weights).slope == pytest.approx(1.0)
    flat = GainShrinkage.fit(predicted, np.array([0.2, 0.1, 0.2, 0.1]), weights)
    assert flat.slope == 0.0 and flat.mean == pytest.approx(0.15)
    assert flat(np.array([0.5]), np.array([0.9]))[0] == pytest.approx(0.65)
    assert GainShrinkage.from_json(flat.to_json()).to_json() == flat.to_json()
    with pytest.raises(ValueError, match="slope"):
        GainShrinkage(0.0, 0.0, 1.5)
