from __future__ import annotations

import numpy as np
import pytest

from ntl_spark import evaluate


def test_binary_metrics_on_a_known_case():
    y = np.array([1, 1, 0, 0, 0, 1, 0, 0])
    s = np.array([0.9, 0.8, 0.7, 0.2, 0.1, 0.3, 0.6, 0.05])
    m = evaluate.binary_metrics(y, s, threshold=0.5, k=3)
    # predicted positive: 0.9, 0.8, 0.7, 0.6 -> tp=2 fp=2 fn=1 tn=3
    assert m["precision"] == pytest.approx(0.5)
    assert m["recall"] == pytest.approx(2 / 3)
    assert m["tpr"] == m["recall"]
    assert m["fpr"] == pytest.approx(2 / 5)
    assert m["accuracy"] == pytest.approx(5 / 8)
    assert m["f1"] == pytest.approx(2 * 0.5 * (2 / 3) / (0.5 + 2 / 3))
    assert m["precision_at_k"] == pytest.approx(2 / 3)  # top 3: 0.9(1) 0.8(1) 0.7(0)
    assert m["roc_auc"] == pytest.approx(13 / 15)  # 13 of 15 (pos, neg) pairs ordered
    assert 0 < m["pr_auc"] <= 1


def test_perfect_ranking():
    y = np.array([0, 0, 1, 1])
    s = np.array([0.1, 0.2, 0.8, 0.9])
    m = evaluate.binary_metrics(y, s, 0.5, 2)
    assert m["roc_auc"] == 1.0 and m["pr_auc"] == 1.0 and m["precision_at_k"] == 1.0


def test_one_class_gives_nan_auc_not_an_error():
    m = evaluate.binary_metrics(np.zeros(4, int), np.linspace(0, 1, 4), 0.5, 2)
    assert np.isnan(m["roc_auc"]) and np.isnan(m["pr_auc"])


def test_bad_labels_raise():
    with pytest.raises(ValueError, match="labels must be 0 or 1"):
        evaluate.binary_metrics([0, 2], [0.1, 0.2], 0.5, 1)
    with pytest.raises(ValueError, match="differ in length"):
        evaluate.binary_metrics([0, 1], [0.1], 0.5, 1)


def test_plots_are_written(tmp_path):
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 200)
    s = np.clip(y * 0.3 + rng.random(200) * 0.7, 0, 1)
    p = evaluate.plot_curves({"a": (y, s), "b": (y, rng.random(200))}, tmp_path / "c.png")
    assert p.stat().st_size > 1000
    q = evaluate.plot_importance({"C1": 3.0, "C2": 1.0}, tmp_path / "i.png")
    assert q.stat().st_size > 1000
