"""Figures of a run: training curves, per-label ROC curves with the EER point, EER bars.

Runs on the host. Every function builds a `matplotlib.figure.Figure` directly (no `pyplot`), so
nothing here selects or needs a GUI backend: a PNG is rendered with Agg when `path` is given,
on a machine without a display too, and no global figure state grows in long scripts. In a
notebook, `%matplotlib inline` (set in the notebook's Setup) displays a returned figure as the
value of a cell.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Mapping, Optional, Sequence

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator
from sklearn.metrics import roc_curve

from admlc_tf.files import replacing, write_error
from admlc_tf.metrics.eer import equal_error_rate

# Panels of `plot_training_curves`: (title, y label, [(history key, legend label)]).
_TRAINING_PANELS = (
    ("Predictor losses", "loss", (("sup_loss", "supervised L_P"),
                                  ("adv_loss", "adversarial -log s_pred"))),
    ("Critic loss", "loss", (("critic_loss", "critic (Eq. 4)"),)),
    ("Critic scores", "mean sigmoid(s)", (("critic_score_pred", "predicted pairs (x, y_hat)"),
                                          ("critic_score_gt", "ground-truth pairs (x, y)"))),
    ("Validation", "mean EER", (("val_mean_eer", "mean EER"),)),
)


def plot_training_curves(history: Sequence[Mapping[str, float]],
                         path: Optional[str | os.PathLike] = None) -> Figure:
    """Per-epoch training curves: both losses, the critic's scores and the validation EER.

    One panel per group whose keys appear in `history`: predictor losses (`sup_loss`,
    `adv_loss`), `critic_loss`, the mean critic scores on predicted and ground-truth pairs
    (`critic_score_pred`, `critic_score_gt`, in `[0, 1]`) and `val_mean_eer`. A plain baseline
    (no critic) gets the supervised-loss and EER panels only.

    Args:
      history: one dict per epoch, as returned by `Trainer.fit` (`results["history"]` of
        `admlc_tf.recipes.audio.run`); the x axis is each entry's `epoch` (else its position, from 1).
      path: where to write the figure as PNG (parent folders are created), or None.

    Returns:
      The figure; its axes are titled as the panels above.

    Raises:
      ValueError: `history` is empty or holds none of the keys above.
    """
    if not history:
        raise ValueError("history is empty: train at least one epoch")
    epochs = [entry.get("epoch", i + 1) for i, entry in enumerate(history)]
    panels = [(title, ylabel, [(key, label) for key, label in curves
                               if any(key in entry for entry in history)])
              for title, ylabel, curves in _TRAINING_PANELS]
    panels = [p for p in panels if p[2]]
    if not panels:
        raise ValueError(f"history holds none of the keys "
                         f"{[k for _, _, c in _TRAINING_PANELS for k, _ in c]}")
    fig = Figure(figsize=(4.0 * len(panels), 3.4), layout="constrained")
    axes = fig.subplots(1, len(panels), squeeze=False)[0]
    for ax, (title, ylabel, curves) in zip(axes, panels):
        for key, label in curves:
            values = [float(entry.get(key, math.nan)) for entry in history]
            ax.plot(epochs, values, marker="o" if len(epochs) < 15 else None, label=label)
        if title == "Critic scores":
            ax.set_ylim(-0.02, 1.02)
        ax.set_title(title)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlabel("epoch")
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3)
        ax.legend(fontsize="small")
    _save(fig, path)
    return fig


def plot_roc_with_eer(labels, scores, label_names: Sequence[str],
                      path: Optional[str | os.PathLike] = None, ncols: int = 4) -> Figure:
    """Per-label ROC curves, each with its equal-error point marked.

    One panel per label: the ROC curve of scikit-learn's `roc_curve` (the curve the DCASE 2016
    scorer walks), the line `fpr = 1 - tpr`, and the point `(eer, 1 - eer)` where they cross,
    with `eer` from `admlc_tf.metrics.equal_error_rate`. A label whose column has a single class
    has no curve; its panel says so.

    Args:
      labels: binary ground truth. shape = `[n, n_labels]`.
      scores: scores (probabilities or logits). shape = `[n, n_labels]`.
      label_names: one name per label column, e.g. `admlc_tf.data.layouts.chime_home.LABELS`.
      path: where to write the figure as PNG (parent folders are created), or None.
      ncols: panels per row.

    Returns:
      The figure; panel `j` is titled `"<name j>: EER 0.123"` (`"<name j>: no EER"` if undefined)
      and unused grid cells are hidden.

    Raises:
      ValueError: the shapes disagree, or as `equal_error_rate`.
    """
    labels, scores = np.asarray(labels), np.asarray(scores, dtype=np.float64)
    names = [str(n) for n in label_names]
    if labels.ndim != 2 or labels.shape != scores.shape or labels.shape[1] != len(names):
        raise ValueError(f"expected labels and scores of shape [n, {len(names)}], got "
                         f"{labels.shape} and {scores.shape}")
    ncols = max(1, min(ncols, len(names)))
    nrows = math.ceil(len(names) / ncols)
    fig = Figure(figsize=(2.8 * ncols, 2.9 * nrows), layout="constrained")
    grid = fig.subplots(nrows, ncols, squeeze=False, sharex=True, sharey=True)
    for j, ax in enumerate(grid.flat):
        if j >= len(names):
            ax.set_visible(False)
            continue
        ax.plot([0, 1], [1, 0], color="0.75", linewidth=0.8, linestyle="--")  # fpr = 1 - tpr
        ax.plot([0, 1], [0, 1], color="0.85", linewidth=0.8, linestyle=":")  # chance
        eer = equal_error_rate(labels[:, j], scores[:, j])
        if math.isnan(eer):
            ax.text(0.5, 0.5, "single class:\nno ROC curve", ha="center", va="center",
                    transform=ax.transAxes, fontsize="small")
            ax.set_title(f"{names[j]}: no EER")
        else:
            fpr, tpr, _ = roc_curve(labels[:, j].astype(np.int64), scores[:, j])
            ax.plot(fpr, tpr, linewidth=1.5)
            ax.plot([eer], [1.0 - eer], "o", color="C3", label=f"EER {eer:.3f}")
            ax.set_title(f"{names[j]}: EER {eer:.3f}")
        ax.set_xlim(-0.02, 1.02)
        ax.set_ylim(-0.02, 1.02)
        ax.set_aspect("equal")
        ax.grid(alpha=0.3)
    for column in grid.T:  # the lowest panel of each column, above any hidden cell
        bottom = [ax for ax in column if ax.get_visible()][-1]
        bottom.set_xlabel("false positive rate")
        bottom.tick_params(labelbottom=True)
    for ax in grid[:, 0]:
        ax.set_ylabel("true positive rate")
    _save(fig, path)
    return fig


def plot_eer_bars(results_by_system: Mapping[str, Mapping[str, Optional[float]]],
                  path: Optional[str | os.PathLike] = None, show_mean: bool = True,
                  title: str = "Per-label EER") -> Figure:
    """Grouped bars of per-label EER, one bar per system in each label group (Table 1 as a chart).

    Args:
      results_by_system: `{system: {label: eer}}`, e.g. `{"CE": results["eer"], ...}` from
        `admlc_tf.recipes.audio.run`; a None or nan EER (label with a single class) has no bar,
        only an "n/a" mark. The label order is the first system's, then labels only later
        systems have.
      path: where to write the figure as PNG (parent folders are created), or None.
      show_mean: add an `ave` group, each system's mean over its defined EERs (the `mean_eer` of
        `admlc_tf.metrics.reports.tagging_report`).
      title: the axes title.

    Returns:
      The figure, one axes: x tick labels are the label names (then `ave`), y is the EER, and
      the legend names the systems in the order given.

    Raises:
      ValueError: `results_by_system` is empty.
    """
    if not results_by_system:
        raise ValueError("results_by_system is empty: pass {system: {label: eer}}")
    names = []
    for by_label in results_by_system.values():
        names += [str(n) for n in by_label if str(n) not in names]
    groups = names + (["ave"] if show_mean else [])
    systems = list(results_by_system)
    width = 0.8 / len(systems)
    x = np.arange(len(groups))
    fig = Figure(figsize=(max(5.0, 0.75 * len(groups) * max(1.0, len(systems) / 2.5)), 3.6),
                 layout="constrained")
    ax = fig.subplots()
    for i, system in enumerate(systems):
        by_label = {str(k): v for k, v in results_by_system[system].items()}
        heights = [_as_float(by_label.get(n)) for n in names]
        if show_mean:
            defined = [h for h in heights if not math.isnan(h)]
            heights.append(float(np.mean(defined)) if defined else math.nan)
        positions = x + (i - (len(systems) - 1) / 2) * width
        ax.bar(positions, heights, width, label=str(system))
        for position, height in zip(positions, heights):
            if math.isnan(height):  # no EER: say so, rather than look like 0
                ax.text(position, 0.0, "n/a", rotation=90, ha="center", va="bottom",
                        fontsize="x-small", color="0.45")
    ax.set_xticks(x, groups)
    ax.set_xlabel("label")
    ax.set_ylabel("EER (lower is better)")
    ax.set_title(title)
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1.0))
    _save(fig, path)
    return fig


def _as_float(value) -> float:
    return math.nan if value is None else float(value)


def _save(fig: Figure, path: Optional[str | os.PathLike]) -> None:
    """Writes `fig` as PNG to `path` atomically (a temporary file, then a rename)."""
    if path is None:
        return
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with replacing(path) as tmp:
            fig.savefig(tmp, format="png", dpi=110)
    except OSError as e:
        raise write_error(f"the figure {path}", e, "choose a writable --plots folder") from None
