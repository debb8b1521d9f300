"""The run's plot says what happened: scores on their own range, the minibatch labelled
for what it is, failed steps marked, tokens when nothing cost money."""

from workflows.training_report import history_figure, plot_history


def record(step, train=None, val=None, error=None, tokens=0, cost=0.0):
    return {
        "step": step,
        "train_score": train,
        "val_score": val,
        "error": error,
        "cum_tokens": tokens,
        "cum_cost": cost,
    }


def labels(ax):
    return [text.get_text() for text in ax.get_legend().get_texts()]


def test_scores_keep_their_range_and_failed_steps_are_marked():
    history = [record(0, val=0.0), record(1, 0.0, 0.0, error="401"), record(2, 0.0, 0.0)]
    score_ax, cost_ax = history_figure(history).axes[:2]
    low, high = score_ax.get_ylim()
    assert low <= 0.0 and 1.0 <= high < 1.1  # a flat 0.00 is not drawn as the whole range
    assert "failed step" in labels(score_ax)
    assert "step's minibatch (before the step)" in labels(score_ax)
    assert "validation (after the step)" in labels(score_ax)


def test_free_runs_show_tokens_and_paid_runs_show_dollars(tmp_path):
    free = [record(0), record(1, 0.5, 0.5, tokens=300)]
    axes = history_figure(free).axes
    assert len(axes) == 2 and "tokens" in axes[1].get_ylabel()
    paid = [record(0), record(1, 0.5, 0.5, tokens=300, cost=0.01)]
    axes = history_figure(paid).axes
    assert "USD" in axes[1].get_ylabel() and "tokens" in axes[2].get_ylabel()
    path = plot_history(paid, tmp_path / "p.png")
    assert path.read_bytes().startswith(b"\x89PNG")
