"""The time split and recipes shared by train's time-based validation and the model gate."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd
import pytest

from ntl_spark import fitting, models
from ntl_spark.encoding import CategoricalVocabulary
from ntl_spark.errors import ConfigError
from tests.conftest import make_config


def test_time_split_cut_off_counts_back_from_the_last_month():
    split = models.TimeSplit(dt.date(2026, 9, 1), 6)
    assert split.cutoff == dt.date(2026, 4, 1)  # April .. September: the last 6 months judge
    assert models.TimeSplit(dt.date(2026, 9, 1), 1).cutoff == dt.date(2026, 9, 1)
    assert models.TimeSplit(dt.date(2026, 2, 1), 14).cutoff == dt.date(2025, 1, 1)  # across a year
    assert models.add_months(dt.date(2026, 3, 31), -1) == dt.date(2026, 2, 28)  # as Spark's add_months
    with pytest.raises(ValueError, match="months >= 1"):
        models.TimeSplit(dt.date(2026, 9, 1), 0)


def test_time_split_rows_before_and_after_the_cut_off(spark):
    months = [dt.date(2026, m, 1) for m in range(1, 10)]
    df = spark.createDataFrame(pd.DataFrame({"customer_id": [f"C{i}" for i in range(9)], "reference_month": months,
                                             "label": [0, 1] * 4 + [1]}))
    split = models.TimeSplit.ending(df, 3)
    assert split == models.TimeSplit(dt.date(2026, 9, 1), 3)
    early, late = split.split(df)
    assert {r[0] for r in late.select("reference_month").collect()} == set(months[-3:])
    assert early.count() == 6
    assert fitting.time_counts(split, df) == fitting.TimeCounts(6, 3, 3, 2, 3)
    assert models.TimeSplit.ending(df.limit(0), 3) is None


@pytest.mark.parametrize(("counts", "problem"), [
    (fitting.TimeCounts(100, 10, 40, 5, 30), None),
    (fitting.TimeCounts(100, 10, 0, 0, 0), "no inspections on or after the cut-off"),
    (fitting.TimeCounts(0, 0, 40, 5, 30), "no inspections before the cut-off"),
    (fitting.TimeCounts(100, 10, 40, 0, 30), "the 40 inspections on or after the cut-off are all regular"),
    (fitting.TimeCounts(100, 100, 40, 5, 30), "the 100 inspections before the cut-off are all irregular"),
    (fitting.TimeCounts(100, 10, 40, 5, 9), "only 9 customers inspected on or after the cut-off (fewer than 10)"),
])
def test_time_counts_say_why_a_split_cannot_judge(counts, problem):
    assert counts.problem(min_customers=10) == problem


def test_recipe_is_read_back_from_the_training_run(spark):
    tc = make_config(Path("/tmp")).train
    vocab = CategoricalVocabulary.fit(spark.createDataFrame(pd.DataFrame({"region": ["NORTE", "SUR"] * 10})),
                                      ["region"], 10, 1)
    model = models.Daice(None, ["f0", "f1", *vocab.feature_columns], vocab, "DAICE", "3", None)
    run = {"xgb.n_estimators": "5", "xgb.max_depth": "2", "xgb.learning_rate": "0.3", "seed": "11",
           "weighting": "none", "unlabelled_share": "2.0", "unlabelled_weight": "0.5", "unlabelled_months": "[0, 12]", "threshold": "0.5"}
    recipe = fitting.recipe_of(tc, run, model)
    assert recipe.train.params == {"n_estimators": 5, "max_depth": 2, "learning_rate": 0.3}
    assert (recipe.train.seed, recipe.train.unlabelled_share, recipe.train.unlabelled_weight) == (11, 2.0, 0.5)
    assert recipe.train.unlabelled_months == [0, 12] and "months [0, 12]" in recipe.describe()
    assert recipe.numeric == ("f0", "f1") and recipe.train.categorical.columns == ["region"]
    assert recipe.from_config == ()
    # a run that recorded less: the rest from the configuration, and named
    old = fitting.recipe_of(tc, {"seed": "11"}, model)
    assert old.train.params == tc.params and old.from_config == (
        "train.params", "train.weighting", "train.unlabelled_share", "train.unlabelled_weight",
        "train.unlabelled_months")
    # a run from before the months were logged drew its negatives at the latest month only
    before = fitting.recipe_of(tc, {k: v for k, v in run.items() if k != "unlabelled_months"}, model)
    assert before.train.unlabelled_months == [0] and before.from_config == ()
    assert "from the config: train.params" in old.describe()
    assert recipe.same_fit(fitting.recipe_of(tc, run, model)) and not recipe.same_fit(old)
    with pytest.raises(ConfigError, match="DAICE v3.*weighting"):
        fitting.recipe_of(tc, {**run, "weighting": "sometimes"}, model)


def test_unlabelled_months_are_the_offsets_the_table_holds():
    held = [dt.date(2025, 3, 1), dt.date(2025, 9, 1), dt.date(2026, 9, 1)]
    assert fitting.unlabelled_months(held, dt.date(2026, 9, 1), [0, 6, 12, 18]) == [
        dt.date(2025, 3, 1), dt.date(2025, 9, 1), dt.date(2026, 9, 1)]
    assert fitting.unlabelled_months(held, dt.date(2026, 9, 1), [6]) == []
    assert fitting.unlabelled_months(held, dt.date(2025, 9, 1), [0, 6]) == [dt.date(2025, 3, 1), dt.date(2025, 9, 1)]
