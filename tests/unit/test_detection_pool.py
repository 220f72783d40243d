"""benchmarks/detection.py: how the seeds' figures are pooled into the one the targets are judged on."""

from __future__ import annotations

from types import ModuleType

import numpy as np
import pytest

from tests import bench_modules


@pytest.fixture(scope="module")
def detection() -> ModuleType:
    return bench_modules.load("detection.py", "bench_detection")


def _run(p1: float, p3: float, pr: float, n: int, top1: int, kinds: dict[str, int],
         found: dict[str, list[int]], smart: dict | None = None) -> dict:
    res = {"M": {"precision_top1pct": p1, "precision_top3pct": p3, "pr_auc": pr}}
    return {"customers_scored": n, "positives": n // 50, "results": res, "smart": smart,
            "diagnostics": {"M": {"top1pct": top1, "honest_top1pct_by_kind": kinds, "found_top3pct_by_attack": found}}}


def test_precision_pools_hits_over_places_and_pr_auc_is_the_mean(detection):
    # 1,000 customers: top 1 % = 10 places, top 3 % = 30; 150 customers: ceil(1.5) = 2 and ceil(4.5) = 5
    pooled = detection.pool([
        ({"M": {"precision_top1pct": 0.5, "precision_top3pct": 0.2, "pr_auc": 0.4}}, 1000),
        ({"M": {"precision_top1pct": 1.0, "precision_top3pct": 0.4, "pr_auc": 0.2}}, 150),
    ])["M"]
    assert pooled["precision_top1pct"] == pytest.approx((5 + 2) / 12)
    assert pooled["precision_top3pct"] == pytest.approx((6 + 2) / 35)
    assert pooled["pr_auc"] == pytest.approx(0.3)


def test_pooled_sums_counts_and_the_diagnostics_of_every_seed(detection):
    smart = {"customers": 300, "positives": 3,
             "results": {"M": {"precision_top1pct": 1 / 3, "precision_top3pct": 0.0, "pr_auc": 0.1}}}
    a = _run(0.5, 0.2, 0.4, 1000, 10, {"solar": 3, "move_out": 2}, {"hookup": [1, 4]}, smart)
    b = _run(0.0, 0.1, 0.2, 1000, 10, {"solar": 1, "efficiency": 5}, {"hookup": [0, 2], "night": [1, 1]}, smart)
    out = detection.pooled([a, b])
    assert out["customers_scored"] == 2000 and out["positives"] == 40 and out["base_rate"] == pytest.approx(0.02)
    assert out["results"]["M"]["precision_top1pct"] == pytest.approx(0.25)
    diag = out["diagnostics"]["M"]
    assert diag["top1pct"] == 20
    assert diag["honest_top1pct_by_kind"] == {"efficiency": 5, "solar": 4, "move_out": 2}
    assert list(diag["honest_top1pct_by_kind"]) == ["efficiency", "solar", "move_out"]  # most first
    assert diag["found_top3pct_by_attack"] == {"hookup": [1, 6], "night": [1, 1]}
    assert out["smart"]["customers"] == 600 and out["smart"]["base_rate"] == pytest.approx(0.01)
    assert np.isclose(out["smart"]["results"]["M"]["precision_top1pct"], 1 / 3)
    # a seed without a smart-meter table: no pooled smart-meter table (it would judge other customers)
    assert detection.pooled([a, _run(0.0, 0.1, 0.2, 1000, 10, {}, {})])["smart"] is None


def test_reuse_needs_the_folder_of_an_earlier_run(detection, tmp_path, capsys):
    """--reuse retrains DeepDAICE on an earlier run's lakes: without --root, or on a folder with no lake, it says so
    before any work."""
    with pytest.raises(SystemExit) as stop:
        detection.main(["--reuse", "--seed", "1", "--dry"])
    assert stop.value.code == 2 and "--reuse needs --root" in capsys.readouterr().err
    with pytest.raises(SystemExit, match="holds no lake of an earlier run"):
        detection.main(["--reuse", "--root", str(tmp_path), "--seed", "1", "--dry"])
