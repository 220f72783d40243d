"""The tune job on a tiny training set: 3 trials, each an MLflow child run, best parameters where train reads them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from ntl_spark import schemas, tracking, train, tune
from ntl_spark.errors import ConfigError
from tests.conftest import make_config

MONTHS = 3


def training_set(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    cols = schemas.numeric_feature_columns(MONTHS)
    df = pd.DataFrame(rng.normal(size=(n, len(cols))), columns=cols)
    df["label"] = ((df["ratio_3_12"] + rng.normal(scale=0.7, size=n)) < -0.8).astype(int)
    df["C1"] = np.where(rng.random(n) < 0.1, np.nan, df["C1"])  # gaps stay missing
    for c, values in (("region", ["NORTE", "SUR"]), ("tariff", ["residential", "general"]),
                      ("meter_type", ["smart", "conventional"]), ("activity", ["household", "retail"])):
        df[c] = rng.choice(values, n)
    df.insert(0, "customer_id", [f"C{i:05d}" for i in range(n)])
    df.insert(0, "inspection_id", [f"I{i:05d}" for i in range(n)])
    return df


def test_tune_logs_trials_and_train_picks_up_the_best(spark, tmp_path):
    cfg = make_config(tmp_path, f"features.months={MONTHS}", "tune.trials=3", "tune.startup_trials=1",
                      "tune.step_rounds=5", "tune.max_rounds=15", "train.campaign_size=40")
    spark.createDataFrame(training_set(500, 3)).write.format("delta").save(cfg.paths.table(schemas.TRAINING_SET))
    out = tune.run(spark, cfg)
    assert out["trials"] == 3 and out["complete"] + out["pruned"] == 3 and out["complete"] >= 1
    # no reference_month to cut at: the random customer split judges, and the run says why
    assert out["split_used"] == "random" and out["cutoff"] is None
    assert "time split unavailable (training_set has no reference_month column)" in out["split_reason"]
    assert 0.0 < out["best_value"] <= 1.0  # the signal column makes the top of the ranking better than chance
    written = yaml.safe_load(Path(out["output"]).read_text())["train"]["params"]
    assert written == out["best_params"] and {"n_estimators", "max_depth", "learning_rate"} <= set(written)
    assert written["n_estimators"] in (5, 10, 15)

    client = tracking.setup(cfg)
    parent = client.get_run(out["run_id"])
    assert parent.data.tags["tune.best.max_depth"] == str(written["max_depth"])
    logged = parent.data.params
    assert logged["tune.split"] == "time" and logged["tune.split_used"] == "random"
    assert logged["tune.split_reason"] == out["split_reason"] == parent.data.tags["tune.split_reason"]
    assert logged["tune.cutoff"] == "-" and logged["n_train_unlabelled"] == "0"
    assert int(logged["n_train"]) + int(logged["n_validation"]) == 500
    children = client.search_runs([parent.info.experiment_id],
                                  filter_string=f"tags.mlflow.parentRunId = '{out['run_id']}'")
    assert len(children) == 3
    assert {c.data.tags.get("tune.state") for c in children} <= {"complete", "pruned"}
    artifacts = {a.path for a in client.list_artifacts(out["run_id"], "tune")}
    assert {"tune/best_params.json", "tune/optimization_history.png", "tune/trials.json"} <= artifacts

    # train takes the tuned parameters over train.params, and names a file that is not there
    tuned = train.with_tuned_params(make_config(tmp_path, f"train.params_from={out['output']}").train)
    assert tuned.params["max_depth"] == written["max_depth"] and "subsample" in tuned.params
    with pytest.raises(ConfigError, match="train.params_from.*does not exist"):
        train.with_tuned_params(make_config(tmp_path, f"train.params_from={tmp_path}/nope.yaml").train)


def test_time_based_validation_trains_before_the_cut_off(spark):
    import datetime as dt

    from ntl_spark import fitting

    cfg = make_config(Path("/tmp"), f"features.months={MONTHS}", "train.campaign_size=20",
                      "train.params.n_estimators=10")
    df = training_set(400, 5)
    months = [dt.date(2025, 1, 1) + dt.timedelta(days=31 * i) for i in range(12)]
    df["reference_month"] = [dt.date(m.year, m.month, 1) for m in np.resize(months, len(df))]
    recipe = {"model": fitting.Recipe(cfg.train, tuple(schemas.numeric_feature_columns(MONTHS)))}
    timed = fitting.validate_by_time(spark, spark.createDataFrame(df), 3, recipe, cfg.rules)
    assert timed.judged and timed.split is not None and timed.split.cutoff == dt.date(2025, 10, 1)
    out = timed.metrics("model", cfg.train.threshold, cfg.train.campaign_size)
    late = df[df.reference_month >= dt.date(2025, 10, 1)]
    assert out["n"] == len(late) and out["positives"] == late.label.sum()
    assert sorted(timed.late.inspection_id) == sorted(late.inspection_id)
    assert out["n_train"] == len(df) - len(late) and out["n_unlabelled"] == 0
    assert timed.describe().endswith("labelled inspections only (no recipe draws unlabelled negatives)")
    assert 0 <= out["precision_at_k"] <= 1 and "lift_over_rule" not in out  # 3 months: no year-before series
    # one side without both classes: nothing to report, no failure, and the reason says why
    flat = fitting.validate_by_time(spark, spark.createDataFrame(df.assign(label=0)), 3, recipe, cfg.rules)
    assert not flat.judged and "all regular" in (flat.problem or "") and flat.late.empty
    with pytest.raises(ValueError, match="no scores"):
        flat.metrics("model", 0.5, 20)


def test_tune_judges_on_the_inspections_after_the_cut_off(spark, tmp_path):
    import datetime as dt

    months = [dt.date(2025, m, 1) for m in range(1, 7)]
    cfg = make_config(tmp_path, f"features.months={MONTHS}", "tune.trials=2", "tune.startup_trials=1",
                      "tune.step_rounds=5", "tune.max_rounds=10", "train.campaign_size=200",
                      "train.time_validation_months=2", "train.unlabelled_share=1.0", "train.unlabelled_weight=0.3",
                      "train.unlabelled_months=[0, 2]")
    df = training_set(300, 7)
    df["reference_month"] = [months[i % len(months)] for i in range(len(df))]
    spark.createDataFrame(df).write.format("delta").save(cfg.paths.table(schemas.TRAINING_SET))
    # never-inspected customers at every month, the months after the cut-off included; and an inspected one
    population = training_set(80, 8).drop(columns=["label", "inspection_id"])
    population["customer_id"] = [f"U{i:05d}" for i in range(len(population))]
    population.loc[0, "customer_id"] = df.customer_id[0]
    features = pd.concat([population.assign(reference_month=m) for m in months], ignore_index=True)
    spark.createDataFrame(features).write.format("delta").save(cfg.paths.table(schemas.MONTHLY_FEATURES))

    out = tune.run(spark, cfg)
    cutoff = dt.date(2025, 5, 1)
    late = df[df.reference_month >= cutoff]
    assert out["split_used"] == "time" and out["cutoff"] == cutoff
    assert out["split_reason"].startswith("cut-off 2025-05-01: ")
    # the trials are judged on exactly the late inspections and train on the early ones plus negatives
    assert out["n_validation"] == len(late) == 100
    assert out["n_train_unlabelled"] > 0 and out["n_train"] == len(df) - len(late) + out["n_train_unlabelled"]
    # share 1.0 asks for 200 negatives, more than the pool holds at the two months drawn (the latest before the
    # cut-off and 2 months before it): every never-inspected customer at both, none at a later month
    assert out["n_train_unlabelled"] == 2 * (len(population) - 1)

    parent = tracking.setup(cfg).get_run(out["run_id"])
    logged = parent.data.params
    assert logged["tune.split_used"] == parent.data.tags["tune.split_used"] == "time"
    assert logged["tune.cutoff"] == "2025-05-01" and logged["n_validation"] == str(len(late))
    assert logged["n_validation_positive"] == str(int(late.label.sum()))
    assert logged["campaign_size_validation"] == str(len(late))  # min(campaign size, late rows), as train's time_*
    assert logged["tune.negatives"] == "never-inspected negatives from monthly_features 2025-02-01, 2025-04-01"
    assert logged["n_train_unlabelled"] == str(out["n_train_unlabelled"])


def test_tune_split_is_time_or_random(tmp_path):
    assert make_config(tmp_path).tune.split == "time" and make_config(tmp_path, "tune.split=random").tune.split == "random"
    with pytest.raises(ConfigError, match="tune.split.*must be time or random"):
        make_config(tmp_path, "tune.split=weekly")


def test_trial_rows_come_in_key_order_whatever_the_partitioning(spark):
    rows = [(f"C{i % 7:02d}", f"2026-0{1 + i % 3}-01", None if i % 4 == 0 else f"I{i:03d}", i % 2, float(i))
            for i in range(60)]
    df = spark.createDataFrame(rows, "customer_id string, reference_month string, inspection_id string, "
                                     "label int, x double")
    one = tune._in_key_order(df.repartition(1), ["label", "x"])
    many = tune._in_key_order(df.repartition(5, "x").sortWithinPartitions(df.x.desc()), ["label", "x"])
    pd.testing.assert_frame_equal(one, many)
    keys = list(zip(one.customer_id, one.reference_month, one.inspection_id.fillna(""), strict=True))
    assert keys == sorted(keys)  # never-inspected rows (no inspection) first within a customer-month
    assert list(one.columns) == ["customer_id", "reference_month", "inspection_id", "label", "x"]
