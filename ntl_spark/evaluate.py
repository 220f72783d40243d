"""Evaluation of a scored labelled set: metrics, curves and per-region tables.

In: labels (1 irregular, 0 regular) and scores (probability of irregularity),
as numpy arrays or a Spark DataFrame with ``label`` and ``score`` columns.
Out: a flat dict of metrics (f1, precision, recall, accuracy, PR-AUC, ROC-AUC,
FPR, TPR, precision at the campaign size), curve points and plots.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from sklearn import metrics as skm

METRIC_NAMES = (
    "f1", "precision", "recall", "accuracy", "pr_auc", "roc_auc", "fpr", "tpr",
    "precision_at_k", "recall_at_k", "positives", "n",
)


def precision_at_k(labels: np.ndarray, scores: np.ndarray, k: int) -> float:
    """Share of irregular customers among the ``k`` highest scores (ties broken by order)."""
    if len(labels) == 0:
        return float("nan")
    k = min(k, len(labels))
    top = np.argsort(-scores, kind="stable")[:k]
    return float(labels[top].mean())


def binary_metrics(labels: Sequence[int] | np.ndarray, scores: Sequence[float] | np.ndarray,
                   threshold: float, k: int) -> dict[str, float]:
    """All headline metrics for one labelled, scored set.

    Args:
        labels: 1 irregular, 0 regular.
        scores: probability of irregularity.
        threshold: score at or above which a customer is predicted irregular.
        k: campaign size for precision at k.

    Returns:
        Metric name -> value (NaN where undefined, e.g. AUC with one class).

    Raises:
        ValueError: lengths differ or labels are not 0/1.
    """
    y = np.asarray(labels, dtype=int)
    s = np.asarray(scores, dtype=float)
    if y.shape != s.shape:
        raise ValueError(f"labels ({y.shape}) and scores ({s.shape}) differ in length")
    if y.size and not np.isin(y, (0, 1)).all():
        raise ValueError("labels must be 0 or 1")
    pred = (s >= threshold).astype(int)
    tp = int(((pred == 1) & (y == 1)).sum())
    fp = int(((pred == 1) & (y == 0)).sum())
    fn = int(((pred == 0) & (y == 1)).sum())
    tn = int(((pred == 0) & (y == 0)).sum())
    two_classes = len(np.unique(y)) == 2
    out = {
        "precision": tp / (tp + fp) if tp + fp else 0.0,
        "recall": tp / (tp + fn) if tp + fn else 0.0,
        "accuracy": (tp + tn) / len(y) if len(y) else float("nan"),
        "fpr": fp / (fp + tn) if fp + tn else 0.0,
        "pr_auc": float(skm.average_precision_score(y, s)) if two_classes else float("nan"),
        "roc_auc": float(skm.roc_auc_score(y, s)) if two_classes else float("nan"),
        "precision_at_k": precision_at_k(y, s, k),
        "recall_at_k": float(y[np.argsort(-s, kind="stable")[: min(k, len(y))]].sum() / max(y.sum(), 1)),
        "positives": float(y.sum()),
        "n": float(len(y)),
    }
    out["tpr"] = out["recall"]
    p, r = out["precision"], out["recall"]
    out["f1"] = 2 * p * r / (p + r) if p + r else 0.0
    return {k_: float(out[k_]) for k_ in METRIC_NAMES}


def lift_over_rule(labels: Sequence[int] | np.ndarray, scores: Sequence[float] | np.ndarray,
                   rule_scores: Sequence[float] | np.ndarray, k: int) -> dict[str, float]:
    """The rules baseline on the same rows as a model, and the model's lift over it.

    Args:
        labels: 1 irregular, 0 regular.
        scores: the model's scores.
        rule_scores: the rule's scores for the same rows (``ntl_spark.rules``).
        k: campaign size.

    Returns:
        ``rule_precision_at_k``, ``rule_pr_auc`` and ``lift_over_rule`` (the
        model's precision at k over the rule's; NaN when the rule finds none).

    Raises:
        ValueError: lengths differ.
    """
    y = np.asarray(labels, dtype=int)
    s, r = np.asarray(scores, dtype=float), np.asarray(rule_scores, dtype=float)
    if not y.shape == s.shape == r.shape:
        raise ValueError(f"labels ({y.shape}), scores ({s.shape}) and rule scores ({r.shape}) differ in length")
    two_classes = len(np.unique(y)) == 2
    p_model, p_rule = precision_at_k(y, s, k), precision_at_k(y, r, k)
    return {
        "rule_precision_at_k": p_rule,
        "rule_pr_auc": float(skm.average_precision_score(y, r)) if two_classes else float("nan"),
        "lift_over_rule": p_model / p_rule if p_rule > 0 else float("nan"),
    }


def collect_labels_scores(df: DataFrame, label_col: str = "label", score_col: str = "score") -> tuple[np.ndarray, np.ndarray]:
    """Bring (label, score) pairs to the driver through Arrow (two numeric columns only)."""
    pdf: Any = df.select(F.col(label_col).cast("int").alias("y"), F.col(score_col).cast("double").alias("s")).toPandas()
    return pdf["y"].to_numpy(), pdf["s"].to_numpy()


def metrics_by_group(pdf: Any, group_col: str, threshold: float, k: int) -> list[dict[str, Any]]:
    """Metrics per value of ``group_col`` (e.g. region) of a pandas frame with label and score.

    The campaign size is scaled to each group's share of the rows.
    """
    rows = []
    total = len(pdf)
    for value, part in pdf.groupby(group_col, sort=True):
        k_g = max(1, round(k * len(part) / max(total, 1)))
        m = binary_metrics(part["label"].to_numpy(), part["score"].to_numpy(), threshold, k_g)
        rows.append({group_col: value, "k": k_g, **m})
    return rows


def curves(labels: np.ndarray, scores: np.ndarray) -> dict[str, np.ndarray]:
    """PR and ROC curve points."""
    p, r, _ = skm.precision_recall_curve(labels, scores)
    fpr, tpr, _ = skm.roc_curve(labels, scores)
    return {"precision": p, "recall": r, "fpr": fpr, "tpr": tpr}


def save_figure(fig: Any, path: Path | str, dpi: int) -> Path:
    """Lay out, write as PNG (creating the folder) and close a matplotlib figure."""
    import matplotlib.pyplot as plt

    fig.tight_layout()
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=dpi)
    plt.close(fig)
    return out


def plot_curves(series: dict[str, tuple[np.ndarray, np.ndarray]], path: Path | str, title: str = "") -> Path:
    """PR (left) and ROC (right) curves of one or more labelled score sets in one PNG.

    Args:
        series: name -> (labels, scores).
        path: PNG file to write.
        title: figure title.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax_pr, ax_roc) = plt.subplots(1, 2, figsize=(11, 4.5))
    for name, (y, s) in series.items():
        if len(np.unique(y)) < 2:
            continue
        c = curves(y, s)
        ap = skm.average_precision_score(y, s)
        auc = skm.roc_auc_score(y, s)
        ax_pr.plot(c["recall"], c["precision"], label=f"{name} (AP {ap:.3f})")
        ax_roc.plot(c["fpr"], c["tpr"], label=f"{name} (AUC {auc:.3f})")
    base = None
    for _, (y, _s) in series.items():
        base = float(np.mean(y)) if len(y) else None
        break
    if base is not None:
        ax_pr.axhline(base, color="grey", linestyle=":", label=f"base rate {base:.3f}")
    ax_roc.plot([0, 1], [0, 1], color="grey", linestyle=":")
    ax_pr.set(xlabel="recall", ylabel="precision", title="Precision-recall")
    ax_roc.set(xlabel="false positive rate", ylabel="true positive rate", title="ROC")
    ax_pr.legend(fontsize=8)
    ax_roc.legend(fontsize=8)
    if title:
        fig.suptitle(title)
    return save_figure(fig, path, dpi=110)


def plot_importance(importance: dict[str, float], path: Path | str, top: int = 25) -> Path:
    """Horizontal bar chart of the ``top`` most important features."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    items = sorted(importance.items(), key=lambda kv: kv[1], reverse=True)[:top]
    fig, ax = plt.subplots(figsize=(7, 0.28 * len(items) + 1))
    ax.barh([k for k, _ in reversed(items)], [v for _, v in reversed(items)])
    ax.set(xlabel="total gain", title="Feature importance")
    return save_figure(fig, path, dpi=110)
