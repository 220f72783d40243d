"""Outcomes matching, Wilson and lift intervals, field statistics."""

from __future__ import annotations

import datetime as dt
import math

import pytest
from pyspark.sql import DataFrame, SparkSession

from ntl_spark import fieldstats, outcomes, schemas

D = dt.date


# ------------------------------------------------------------- intervals
@pytest.mark.parametrize(("k", "n", "low", "high"), [
    # by hand: centre = (p + z²/2n) / (1 + z²/n), half = z·sqrt(p(1-p)/n + z²/4n²) / (1 + z²/n), z = 1.959964
    (5, 20, 0.111862, 0.468701),
    (0, 10, 0.0, 0.277533),
    (10, 10, 0.722467, 1.0),
    (9, 100, 0.048073, 0.162262),  # centre 0.105167, half 0.057095
])
def test_wilson_interval_against_hand_computed_values(k: int, n: int, low: float, high: float) -> None:
    lo, hi = fieldstats.wilson(k, n)
    assert lo == pytest.approx(low, abs=1e-6) and hi == pytest.approx(high, abs=1e-6)


def test_wilson_edge_cases() -> None:
    assert all(math.isnan(v) for v in fieldstats.wilson(0, 0))
    with pytest.raises(ValueError, match="k=11"):
        fieldstats.wilson(11, 10)


def test_lift_interval_katz() -> None:
    # 20/100 vs 5/100: lift 4, se = sqrt(1/20 - 1/100 + 1/5 - 1/100) = sqrt(0.23)
    lift, lo, hi = fieldstats.lift_interval(20, 100, 5, 100)
    se = math.sqrt(0.23)
    assert lift == pytest.approx(4.0)
    assert lo == pytest.approx(4.0 * math.exp(-1.959964 * se), rel=1e-5)
    assert hi == pytest.approx(4.0 * math.exp(1.959964 * se), rel=1e-5)
    assert lo == pytest.approx(1.5627, abs=1e-3)
    lift0, lo0, hi0 = fieldstats.lift_interval(3, 30, 0, 10)  # no hit in control: corrected, finite
    assert lift0 == pytest.approx((3.5 / 31) / (0.5 / 11)) and math.isfinite(hi0) and lo0 > 0
    assert all(math.isnan(v) for v in fieldstats.lift_interval(1, 10, 0, 0))


# ------------------------------------------------------------- matching
def _requests(spark: SparkSession) -> DataFrame:
    def req(cid: str, cust: str, created: dt.date, arm: str, rank: int) -> tuple[object, ...]:
        return (cid, created, cust, "NORTE", arm, rank, 0.9, 10.0, 1.0, "probability", 1.0 if arm == "model" else 0.1,
                20, 17, "DAICE", "3", "run-1", D(2026, 9, 1), {"scores": 1})
    return spark.createDataFrame([
        req("C1", "A", D(2026, 9, 2), "model", 1),
        req("C1", "B", D(2026, 9, 2), "control", 1),
        req("C1", "E", D(2026, 9, 2), "model", 2),
        req("C2", "A", D(2026, 10, 1), "model", 1),
    ], schemas.CAMPAIGNS_SCHEMA)


def _inspections(spark: SparkSession) -> DataFrame:
    return spark.createDataFrame([
        ("I1", "A", D(2026, 9, 20), "irregular", "bypass", 900.0, "C1"),   # by campaign id
        ("I2", "B", D(2026, 9, 25), "regular", None, None, None),          # by window: C1's control request
        ("I3", "D", D(2026, 9, 25), "irregular", "bypass", 50.0, None),    # never requested: unsolicited
        ("I4", "A", D(2026, 10, 5), "no_access", None, None, None),        # window: latest request C2
        ("I5", "E", D(2027, 3, 1), "regular", None, None, None),           # 180 days after C1: unsolicited
        ("I6", "B", D(2026, 9, 28), "irregular", None, 10.0, None),        # second visit for C1/B: unsolicited
    ], schemas.INSPECTIONS_SCHEMA)


def test_match_inspections_by_campaign_id_window_and_unsolicited(spark: SparkSession) -> None:
    customers = spark.createDataFrame(
        [(c, None, "conventional", "SUR" if c == "D" else "NORTE", "residential", 5.0, None, None, None,
          D(2020, 1, 1), "active") for c in "ABDE"], schemas.CUSTOMERS_SCHEMA)
    got = {r["inspection_id"]: r for r in
           outcomes.match_inspections(_inspections(spark), _requests(spark), customers, 120).collect()}
    assert len(got) == 6  # every inspection kept
    assert (got["I1"]["campaign_id"], got["I1"]["arm"], got["I1"]["matched_by"]) == ("C1", "model", "campaign_id")
    assert got["I1"]["irregular"] is True and got["I1"]["recovered_kwh"] == 900.0
    assert got["I1"]["model_version"] == "3" and got["I1"]["month"] == D(2026, 9, 1)
    assert (got["I2"]["campaign_id"], got["I2"]["arm"], got["I2"]["matched_by"]) == ("C1", "control", "window")
    assert got["I2"]["selection_probability"] == 0.1 and got["I2"]["irregular"] is False
    assert (got["I3"]["arm"], got["I3"]["campaign_id"], got["I3"]["region"]) == ("unsolicited", None, "SUR")
    assert (got["I4"]["campaign_id"], got["I4"]["no_access"], got["I4"]["irregular"]) == ("C2", True, None)
    assert got["I5"]["arm"] == "unsolicited"
    assert got["I6"]["arm"] == "unsolicited"  # a request answers one inspection: the first with access
    none = outcomes.match_inspections(_inspections(spark), None, customers, 120).collect()
    assert {r["arm"] for r in none} == {"unsolicited"}


def test_field_stats_hit_rates_lift_and_no_access(spark: SparkSession) -> None:
    rows = []
    month = D(2026, 9, 1)
    for i in range(40):  # model arm: 10 irregular of 40 labelled, 2 kWh each; plus 10 no access
        rows.append((f"M{i}", "NORTE", "model", i < 10, False, 2.0 if i < 10 else None))
    for i in range(10):
        rows.append((f"N{i}", "NORTE", "model", None, True, None))
    for i in range(20):  # control: 1 irregular of 20
        rows.append((f"K{i}", "SUR", "control", i < 1, False, None))
    df = spark.createDataFrame(
        [(cid, month, region, arm, irr, na, kwh, "DAICE", "3") for cid, region, arm, irr, na, kwh in rows],
        "inspection_id string, month date, region string, arm string, irregular boolean, no_access boolean, "
        "recovered_kwh double, model_name string, model_version string")
    stats = fieldstats.add_rates(fieldstats.field_counts(df))
    all_model = stats[(stats["region"] == "ALL") & (stats["arm"] == "model")].iloc[0]
    assert (all_model["inspections"], all_model["labelled"], all_model["irregular"]) == (50, 40, 10)
    assert all_model["hit_rate"] == pytest.approx(0.25)
    assert (all_model["hit_rate_low"], all_model["hit_rate_high"]) == pytest.approx(fieldstats.wilson(10, 40))
    assert all_model["no_access_share"] == pytest.approx(0.2)
    assert all_model["recovered_kwh_per_inspection"] == pytest.approx(20.0 / 40)
    assert all_model["lift"] == pytest.approx(0.25 / 0.05)
    assert (all_model["lift_low"], all_model["lift_high"]) == pytest.approx(fieldstats.lift_interval(10, 40, 1, 20)[1:])
    norte = stats[(stats["region"] == "NORTE") & (stats["arm"] == "model")].iloc[0]
    assert math.isnan(norte["lift"])  # no control arm in NORTE: no lift
