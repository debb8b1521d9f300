import numpy as np
import pytest

from agents.dynaicl import ControllerMismatch, LLMController, MetaController

GRID = (0, 1, 2, 4)


def _data():
    texts, labels = [], []
    for i in range(30):
        texts += [f"easy sum {i} plus {i + 1}", f"hard riddle zq{i} xor wv{i}"]
        labels += [0, 4]
    texts.append("impossible ######")
    labels.append(None)
    return texts, labels


def test_train_predict_save_load(tmp_path):
    texts, labels = _data()
    controller = MetaController(GRID, "toy").fit(texts, labels)
    assert controller.predict(["easy sum 99 plus 100", "hard riddle zq99 xor wv99"]) == [0, 4]
    proba = controller.predict_proba(["easy sum 3 plus 4"])
    assert proba.shape == (1, len(GRID) + 1) and proba.sum() == pytest.approx(1.0)
    curve = controller.sufficiency(["hard riddle zq5 xor wv5"])[0]
    assert np.all(np.diff(curve) >= -1e-12) and curve[0] < 0.5 < curve[-1]
    path = tmp_path / "controller.joblib"
    controller.save(path)
    loaded = MetaController.load(path, task_id="toy", grid=GRID)
    assert np.allclose(loaded.predict_proba(texts), controller.predict_proba(texts))


def test_controller_from_another_task_or_grid_is_refused(tmp_path):
    texts, labels = _data()
    path = tmp_path / "controller.joblib"
    MetaController(GRID, "toy").fit(texts, labels).save(path)
    with pytest.raises(ControllerMismatch, match="trained for task 'toy', not 'other'"):
        MetaController.load(path, task_id="other")
    with pytest.raises(ControllerMismatch, match="grid"):
        MetaController.load(path, task_id="toy", grid=(0, 1, 2, 4, 8))
    junk = tmp_path / "junk.joblib"
    junk.write_bytes(b"not a controller")
    with pytest.raises(ControllerMismatch, match="not a DynaICL controller"):
        MetaController.load(junk, task_id="toy")


def test_single_class_and_bad_labels():
    controller = MetaController(GRID, "toy").fit(["a", "b"], [2, 2])
    assert controller.predict(["zzz"]) == [2]
    with pytest.raises(ValueError, match="not in the grid"):
        MetaController(GRID, "toy").fit(["a"], [3])
    with pytest.raises(RuntimeError, match="not trained"):
        MetaController(GRID, "toy").predict(["a"])


def test_llm_controller_reads_constrained_answer():
    def scripted(messages):
        return '{"k": 2}' if "hard" in messages[-1]["content"] else '{"k": 0}'

    controller = LLMController(scripted, GRID, "toy task")
    assert controller.predict(["hard one", "easy one"]) == [2, 0]
    unparsable = LLMController(lambda m: "no idea", GRID, "toy task")
    assert unparsable.predict(["x"]) == [4]
