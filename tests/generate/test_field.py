"""Campaign requests answered from the generator's truth."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from ntl_spark.generate import field

D = dt.date


def _truth() -> pd.DataFrame:
    return pd.DataFrame({
        "customer_id": ["A", "B", "C"],
        "attack": ["h2", "h1", "fdi1"],
        "fraud_start": [D(2025, 1, 1), D(2026, 1, 1), D(2026, 10, 1)],
        "fraud_end": [None, D(2026, 5, 1), None],  # B was caught in May; C starts after the visit
    })


def _requests(n: int = 4) -> pd.DataFrame:
    return pd.DataFrame({"campaign_id": ["C1"] * n, "customer_id": ["A", "B", "C", "D"][:n]})


def test_truth_answers_without_noise() -> None:
    got = field.answer_requests(_requests(), _truth(), D(2026, 9, 15), no_access_rate=0.0, label_noise=0.0, seed=1,
                                monthly_kwh={"A": 100.0})
    assert list(got["outcome"]) == ["irregular", "regular", "regular", "regular"]
    a = got.iloc[0]
    assert a["irregularity"] in ("bypass", "direct_connection") and a["campaign_id"] == "C1"
    # 20 months of fraud before the visit, capped at 24: about 20 x 100 kWh x 0.4, times a lognormal factor
    assert 400 < a["recovered_kwh"] < 2000
    assert got["recovered_kwh"].iloc[1:].isna().all()
    assert list(got["inspection_id"]) == [f"C1-{i:06d}" for i in range(4)]


def test_no_access_noise_and_reproducibility() -> None:
    reqs = pd.DataFrame({"campaign_id": ["C1"] * 400, "customer_id": [f"X{i:03d}" for i in range(400)]})
    nobody = field.answer_requests(reqs, _truth(), D(2026, 9, 15), no_access_rate=1.0, label_noise=0.0, seed=1)
    assert set(nobody["outcome"]) == {"no_access"} and nobody["irregularity"].isna().all()
    flipped = field.answer_requests(_requests(), _truth(), D(2026, 9, 15), no_access_rate=0.0, label_noise=1.0,
                                    seed=1)
    assert list(flipped["outcome"]) == ["regular", "irregular", "irregular", "irregular"]
    assert set(flipped["irregularity"].iloc[1:]) <= {"meter_fault", "billing_error"}
    some = field.answer_requests(reqs, _truth(), D(2026, 9, 15), no_access_rate=0.1, label_noise=0.05, seed=7)
    assert 0.05 < (some["outcome"] == "no_access").mean() < 0.16
    assert 0.02 < (some["outcome"] == "irregular").mean() < 0.09  # honest customers flipped by the noise
    again = field.answer_requests(reqs, _truth(), D(2026, 9, 15), no_access_rate=0.1, label_noise=0.05, seed=7)
    pd.testing.assert_frame_equal(some, again)
    with pytest.raises(ValueError, match="label_noise"):
        field.answer_requests(reqs, _truth(), D(2026, 9, 15), no_access_rate=0.1, label_noise=1.5, seed=7)
