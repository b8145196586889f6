"""Tests for admlc_tf.plots: figures are built without pyplot and written as PNG."""

import math
import os
import subprocess
import sys

import numpy as np
import pytest

from admlc_tf import plots
from admlc_tf.metrics import equal_error_rate
from tests.helpers import REPO

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"

HISTORY = [
    {"epoch": 1, "loss": 0.9, "sup_loss": 0.6, "adv_loss": 3.0, "critic_loss": 1.2,
     "critic_score_pred": 0.4, "critic_score_gt": 0.6, "val_mean_eer": 0.4},
    {"epoch": 2, "loss": 0.7, "sup_loss": 0.5, "adv_loss": 2.0, "critic_loss": 1.3,
     "critic_score_pred": 0.45, "critic_score_gt": 0.55, "val_mean_eer": 0.3},
]


def _is_png(path):
    return path.is_file() and path.read_bytes()[:8] == PNG_MAGIC


def _titles(fig):
    return [ax.get_title() for ax in fig.axes if ax.get_visible()]


class TestPlotTrainingCurves:
    def test_writes_png_with_all_panels(self, tmp_path):
        path = tmp_path / "sub" / "training.png"
        fig = plots.plot_training_curves(HISTORY, path=path)
        assert _is_png(path)
        assert _titles(fig) == ["Predictor losses", "Critic loss", "Critic scores", "Validation"]
        losses = fig.axes[0]
        assert [line.get_label() for line in losses.get_lines()] == [
            "supervised L_P", "adversarial -log s_pred"]
        np.testing.assert_allclose(losses.get_lines()[0].get_ydata(), [0.6, 0.5])
        np.testing.assert_allclose(losses.get_lines()[0].get_xdata(), [1, 2])
        scores = fig.axes[2]
        assert len(scores.get_lines()) == 2 and scores.get_ylim()[1] > 1.0
        assert all(ax.get_xlabel() == "epoch" for ax in fig.axes)

    def test_plain_baseline_has_no_critic_panels(self):
        history = [{"epoch": 1, "loss": 0.6, "sup_loss": 0.6}, {"epoch": 2, "loss": 0.5,
                                                                "sup_loss": 0.5}]
        fig = plots.plot_training_curves(history)
        assert _titles(fig) == ["Predictor losses"]
        assert len(fig.axes[0].get_lines()) == 1

    def test_empty_history_raises(self):
        with pytest.raises(ValueError, match="empty"):
            plots.plot_training_curves([])

    @pytest.mark.slow
    def test_needs_no_display_and_no_pyplot(self, tmp_path):
        # A bogus display and no backend choice: a GUI backend would fail; Agg renders the PNG.
        path = tmp_path / "training.png"
        code = ("import sys; from admlc_tf import plots; "
                f"plots.plot_training_curves({HISTORY!r}, path={str(path)!r}); "
                "assert 'matplotlib.pyplot' not in sys.modules")
        env = {k: v for k, v in os.environ.items() if k != "MPLBACKEND"}
        env["DISPLAY"] = ":99"
        subprocess.run([sys.executable, "-c", code], check=True, env=env, cwd=REPO, timeout=60)
        assert _is_png(path)


class TestPlotRocWithEer:
    def test_marks_the_eer_of_each_label(self, tmp_path):
        rng = np.random.default_rng(0)
        labels = (rng.random((40, 3)) < 0.4).astype(int)
        scores = labels + rng.normal(scale=0.8, size=labels.shape)
        path = tmp_path / "roc.png"
        fig = plots.plot_roc_with_eer(labels, scores, ["c", "m", "f"], path=path)
        assert _is_png(path)
        visible = [ax for ax in fig.axes if ax.get_visible()]
        assert len(visible) == 3
        for j, ax in enumerate(visible):
            eer = equal_error_rate(labels[:, j], scores[:, j])
            assert ax.get_title() == f"{'cmf'[j]}: EER {eer:.3f}"
            marker = [line for line in ax.get_lines() if line.get_marker() == "o"][0]
            np.testing.assert_allclose(marker.get_xydata(), [[eer, 1.0 - eer]])
        assert visible[0].get_xlabel() == "false positive rate"
        assert visible[0].get_ylabel() == "true positive rate"

    def test_hides_unused_cells_and_reports_single_class(self):
        labels = np.array([[1, 0, 0, 0, 1], [0, 0, 1, 1, 1], [1, 0, 0, 1, 1], [0, 0, 1, 0, 1]])
        scores = np.linspace(0, 1, 20).reshape(4, 5)
        fig = plots.plot_roc_with_eer(labels, scores, list("abcde"), ncols=4)
        assert len(fig.axes) == 8 and sum(ax.get_visible() for ax in fig.axes) == 5
        assert _titles(fig)[1] == "b: no EER" and _titles(fig)[4] == "e: no EER"

    def test_shape_mismatch_raises(self):
        with pytest.raises(ValueError, match="shape"):
            plots.plot_roc_with_eer(np.zeros((4, 2)), np.zeros((4, 2)), ["a", "b", "c"])


class TestPlotEerBars:
    def test_groups_labels_and_systems(self, tmp_path):
        results = {"CE": {"c": 0.2, "m": 0.1}, "AD-CE": {"c": 0.1, "m": None}}
        path = tmp_path / "bars.png"
        fig = plots.plot_eer_bars(results, path=path)
        assert _is_png(path)
        (ax,) = fig.axes
        assert [t.get_text() for t in ax.get_xticklabels()] == ["c", "m", "ave"]
        assert [t.get_text() for t in ax.get_legend().get_texts()] == ["CE", "AD-CE"]
        ce, ad = ax.containers
        np.testing.assert_allclose([b.get_height() for b in ce], [0.2, 0.1, 0.15])
        heights = [b.get_height() for b in ad]
        assert heights[0] == pytest.approx(0.1) and math.isnan(heights[1])
        assert heights[2] == pytest.approx(0.1)  # mean over the defined EERs only
        assert [t.get_text() for t in ax.texts] == ["n/a"]  # the missing bar is marked
        assert ax.get_ylabel().startswith("EER")

    def test_without_mean(self):
        fig = plots.plot_eer_bars({"CE": {"c": 0.2}}, show_mean=False)
        assert [t.get_text() for t in fig.axes[0].get_xticklabels()] == ["c"]

    def test_empty_raises(self):
        with pytest.raises(ValueError, match="empty"):
            plots.plot_eer_bars({})

    def test_unwritable_path_is_an_admlc_error(self, tmp_path):
        from admlc_tf.errors import AdmlcError

        blocker = tmp_path / "file"
        blocker.write_text("x")
        with pytest.raises(AdmlcError, match="cannot write"):
            plots.plot_eer_bars({"CE": {"c": 0.2}}, path=blocker / "bars.png")
