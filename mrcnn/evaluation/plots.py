"""PNG figures of an evaluation: precision-recall curves and confusion matrices (headless, Agg canvas).

Shape shorthand:
    K: classes (rows of a confusion matrix), C: columns of a confusion matrix, R: recall points.
"""

import os

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure


def _save(fig, path):
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    FigureCanvasAgg(fig)
    fig.savefig(path, dpi=120, bbox_inches="tight")
    return path


def plot_pr_curves(pr_curves, path, title=None):
    """One precision-recall curve per class; pr_curves as in metrics["detection"]["pr_curves"].

    pr_curves: {"iou": str, "recall": [R], "precision": {class name: [R]}, "matching": str}. Returns the path.
    """
    fig = Figure(figsize=(6.5, 5))
    ax = fig.add_subplot(1, 1, 1)
    recall = np.asarray(pr_curves["recall"])
    for name, precision in sorted(pr_curves["precision"].items()):
        precision = np.asarray(precision, dtype=np.float64)
        reached = np.nonzero(precision > 0)[0]  # the curve ends at the last recall the class reached
        end = reached[-1] + 1 if reached.size else 1
        ax.plot(recall[:end], precision[:end], label=name, linewidth=1.5, drawstyle="steps-post")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("recall")
    ax.set_ylabel("interpolated precision")
    ax.set_title(title or f"Precision-recall at mask IoU {pr_curves['iou']}\n{pr_curves.get('matching', '')}",
                 fontsize=9)
    ax.grid(alpha=0.3)
    if pr_curves["precision"]:
        ax.legend(fontsize=8, loc="lower left")
    return _save(fig, path)


def plot_confusion_matrix(matrix, row_labels, column_labels, path, title="Confusion matrix", normalized=False):
    """A heat map of a [K, C] matrix with the value in every cell (rows: truth, columns: prediction)."""
    matrix = np.asarray(matrix, dtype=np.float64)
    if matrix.shape != (len(row_labels), len(column_labels)):
        raise ValueError(f"matrix is {matrix.shape} but there are {len(row_labels)} row and "
                         f"{len(column_labels)} column labels")
    size = 1.0 + 0.6 * max(len(column_labels), 4)
    fig = Figure(figsize=(size + 1.5, 0.6 * max(len(row_labels), 4) + 1.5))
    ax = fig.add_subplot(1, 1, 1)
    image = ax.imshow(matrix, cmap="Blues", vmin=0, vmax=1 if normalized else max(matrix.max(), 1))
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
    ax.set_xticks(range(len(column_labels)))
    ax.set_xticklabels(column_labels, rotation=45, ha="right", fontsize=8)
    ax.set_yticks(range(len(row_labels)))
    ax.set_yticklabels(row_labels, fontsize=8)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    ax.set_title(title, fontsize=10)
    threshold = (1 if normalized else max(matrix.max(), 1)) / 2
    for i in range(matrix.shape[0]):
        for j in range(matrix.shape[1]):
            text = f"{matrix[i, j]:.2f}" if normalized else f"{int(matrix[i, j])}"
            ax.text(j, i, text, ha="center", va="center", fontsize=7,
                    color="white" if matrix[i, j] > threshold else "black")
    return _save(fig, path)
