"""The rules baseline on tiny explicit rows."""

from __future__ import annotations

import numpy as np
import pytest
from pyspark.sql import SparkSession
from pyspark.sql import types as T

from ntl_spark import evaluate, rules

MONTHS = 18
SCHEMA = T.StructType([T.StructField("customer_id", T.StringType())]
                      + [T.StructField(f"C{i}", T.DoubleType()) for i in range(1, MONTHS + 1)])


def row(cid: str, recent: list[float | None], year_before: float) -> tuple:
    series = (recent + [100.0] * 12)[:12] + [year_before] * 6
    return (cid, *series)


def test_rule_ranks_zero_runs_then_drops(spark: SparkSession) -> None:
    rows = [
        row("flat", [100.0] * 6, 100.0),
        row("half", [50.0] * 6, 100.0),
        row("stopped", [0.0, 0.0, 0.0, 40.0, 90.0, 100.0], 100.0),  # a 3-month zero run
        row("two_zeros", [0.0, 0.0, 80.0, 80.0, 80.0, 80.0], 100.0),  # run too short: only its drop counts
        row("new", [60.0] * 6, None),  # nothing a year before: no drop known
        row("gaps", [None, 50.0, None, 50.0, 50.0, 50.0], 100.0),  # unbilled months are left out of the mean
    ]
    df = spark.createDataFrame([(r[0], *[None if v is None else float(v) for v in r[1:]]) for r in rows], SCHEMA)
    got = {r.customer_id: r for r in rules.rule_scores(df, 6, 1.0, 3).collect()}
    assert got["flat"].rule_score == pytest.approx(0.0)
    assert got["half"].rule_yoy_drop == pytest.approx(1 - 51 / 101)
    assert got["stopped"].rule_zero_run == 3 and got["stopped"].rule_score > 1.0
    assert got["two_zeros"].rule_zero_run == 2 and got["two_zeros"].rule_score < 1.0
    assert got["new"].rule_score == 0.0
    assert got["gaps"].rule_yoy_drop == pytest.approx(got["half"].rule_yoy_drop)
    order = sorted(got, key=lambda c: -got[c].rule_score)
    assert order[0] == "stopped" and set(order[-2:]) == {"flat", "new"}


def test_rule_names_missing_columns(spark: SparkSession) -> None:
    df = spark.createDataFrame([("a", 1.0)], "customer_id string, C1 double")
    with pytest.raises(ValueError, match=r"C2.*features.months >= 18"):
        rules.rule_scores(df, 6, 1.0, 3)
    with pytest.raises(ValueError, match="recent_months"):
        rules.rule_scores(df, 13, 1.0, 3)


def test_lift_over_rule() -> None:
    y = np.array([1, 1, 0, 0, 0, 0])
    model = np.array([0.9, 0.8, 0.1, 0.2, 0.3, 0.4])
    rule = np.array([0.1, 0.9, 0.8, 0.2, 0.3, 0.4])
    m = evaluate.lift_over_rule(y, model, rule, 2)
    assert m["rule_precision_at_k"] == 0.5 and m["lift_over_rule"] == pytest.approx(2.0)
    assert np.isnan(evaluate.lift_over_rule(y, model, -rule * 0 + np.arange(6), 2)["lift_over_rule"])
    with pytest.raises(ValueError, match="differ in length"):
        evaluate.lift_over_rule(y, model, rule[:3], 2)
