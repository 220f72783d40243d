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
    # runs recorded before the smart-meter diagnostics: the pooled smart table has none either
    assert "diagnostics" not in out["smart"]
    with_diag = [dict(r, smart=dict(smart, diagnostics=r["diagnostics"])) for r in (a, b)]
    assert detection.pooled(with_diag)["smart"]["diagnostics"] == out["diagnostics"]


def test_who_is_on_top_names_the_honest_kinds_and_the_thefts_found(detection):
    """Honest customers in a ranking's top 1 % by look-alike kind, stealing ones in its top 3 % by theft kind."""
    import pandas as pd

    n = 200  # top 1 % = 2 places, top 3 % = 6
    ids = [f"C{i}" for i in range(n)]
    score = np.linspace(1.0, 0.0, n)  # C0 first
    y = np.zeros(n, int)
    y[[1, 4, 50]] = 1  # thieves at places 2, 5 and 51
    frame = pd.DataFrame({"customer_id": ids, "y": y, "a": score, "b": score[::-1]})
    look = pd.DataFrame({"customer_id": ["C0", "C199"], "kind": ["solar", "move_out"]})
    fraud = pd.DataFrame({"customer_id": ["C1", "C4", "C50"], "attack": ["night", "hookup", "night"]})
    out = detection.who_is_on_top(frame, {"A": "a", "B": "b"}, look, fraud)
    assert out["A"] == {"top1pct": 2, "honest_top1pct_by_kind": {"solar": 1},
                        "found_top3pct_by_attack": {"hookup": [1, 1], "night": [1, 2]}}
    # ranked backwards: C199 (move-out) and C198 (no look-alike) on top, no thief in the top 3 %
    assert out["B"] == {"top1pct": 2, "honest_top1pct_by_kind": {"move_out": 1, "other honest": 1},
                        "found_top3pct_by_attack": {"hookup": [0, 1], "night": [0, 2]}}
    text = detection.diagnostics_text(out, ("A", "B"), " of smart meters")
    assert "top 1% of smart meters: A 50% ({'solar': 1})" in text and "B: {'hookup': 0.0, 'night': 0.0}" in text


def test_reuse_needs_the_folder_of_an_earlier_run(detection, tmp_path, capsys):
    """--reuse retrains DeepDAICE on an earlier run's lakes: without --root, or on a folder with no lake, it says so
    before any work."""
    with pytest.raises(SystemExit) as stop:
        detection.main(["--reuse", "--seed", "1", "--dry"])
    assert stop.value.code == 2 and "--reuse needs --root" in capsys.readouterr().err
    with pytest.raises(SystemExit, match="holds no lake of an earlier run"):
        detection.main(["--reuse", "--root", str(tmp_path), "--seed", "1", "--dry"])
