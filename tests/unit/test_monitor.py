"""Monitor: feature drift is measured on the champion's own numeric inputs."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest
from pyspark.sql import functions as F

from ntl_spark import models, monitor, schemas, tracking
from ntl_spark.encoding import CategoricalVocabulary
from tests.conftest import make_config

THEN, NOW = dt.date(2026, 1, 1), dt.date(2026, 2, 1)
DAY1, DAY2 = dt.date(2026, 1, 20), dt.date(2026, 2, 20)
REGIONS = ("NORTE", "SUR")


def month_rows(month: dt.date, c1_mean: float, seed: int, n: int = 400) -> list[tuple]:
    """One month of monthly_features: C1 centred on ``c1_mean``, contracted_kw and C2 the same every month."""
    rng = np.random.default_rng(seed)
    return [(f"K{i:04d}", month, REGIONS[i % 2], float(rng.normal(c1_mean, 1)), float(rng.normal(0, 1)),
             float(rng.normal(5, 1))) for i in range(n)]


@pytest.fixture(scope="module")
def lake(spark, tmp_path_factory):
    """monthly_features of two months (C1 moved far between them) and scores of versions 1 and 2 on both."""
    root = tmp_path_factory.mktemp("monitor")
    cfg = make_config(root, "train.raw_consumption=false")
    mf = spark.createDataFrame(month_rows(THEN, 0.0, 1) + month_rows(NOW, 4.0, 2),
                               "customer_id string, reference_month date, region string, C1 double, C2 double, "
                               "contracted_kw double")
    mf.write.format("delta").save(cfg.paths.table(schemas.MONTHLY_FEATURES))
    scores = [(f"K{i:04d}", "DAICE", v, day, month, float(i % 10) / 10) for v in ("1", "2")
              for day, month in ((DAY1, THEN), (DAY2, NOW)) for i in range(50)]
    spark.createDataFrame(scores, "customer_id string, model_name string, model_version string, scored_on date, "
                                  "reference_month date, score double") \
        .write.format("delta").save(cfg.paths.table(schemas.SCORES))
    return root, mf


def register(spark, cfg, numeric: list[str], mf) -> str:
    """A DAICE version trained on ``numeric`` + the encoded regions, registered with train's metadata."""
    import mlflow.xgboost
    import xgboost as xgb

    rows = mf.where(F.col("reference_month") == F.lit(THEN))
    vocab = CategoricalVocabulary.fit(rows, ["region"], max_levels=10, min_count=1)
    data = vocab.transform(rows).toPandas()
    columns = numeric + vocab.feature_columns
    label = (data["C2"] > 0).astype(int)
    booster = xgb.XGBClassifier(n_estimators=3, max_depth=1, n_jobs=1).fit(data[columns], label).get_booster()
    booster.feature_names = columns
    tracking.setup(cfg)
    with mlflow.start_run(run_name="DAICE-train"):
        info = mlflow.xgboost.log_model(booster, name="model", registered_model_name="DAICE",
                                        metadata=models.daice_metadata(columns, vocab, 36,
                                                                       models.CustomerSplit("s", 0.25)))
    return str(info.registered_model_version)


def drifted(result_rows) -> dict[str, bool]:
    return {r["subject"]: r["retrain"] for r in result_rows if r["check"] == "feature_drift"}


def feature_checks(spark, cfg, inputs=None) -> dict[str, bool]:
    scores = spark.read.format("delta").load(cfg.paths.table(schemas.SCORES)).where(F.col("model_version") == "1")
    checks = monitor._feature_checks(spark, cfg, scores.where(F.col("scored_on") == F.lit(DAY1)),
                                     scores.where(F.col("scored_on") == F.lit(DAY2)), {}, inputs)
    return {subject: retrain for check, subject, _v, _t, retrain, _d in checks if check == "feature_drift"}


def test_without_recorded_inputs_feature_drift_follows_train_raw_consumption(spark, lake):
    root, _ = lake
    # the model reads no raw consumption: C1's move is not a reason to retrain it
    off = feature_checks(spark, make_config(root, "train.raw_consumption=false"))
    assert off == {"contracted_kw": False}
    on = feature_checks(spark, make_config(root, "train.raw_consumption=true"))
    assert on == {"C1": True, "C2": False, "contracted_kw": False}
    # recorded inputs win over the config
    assert feature_checks(spark, make_config(root, "train.raw_consumption=false"), ["C1", "contracted_kw"]) == {
        "C1": True, "contracted_kw": False}


def test_the_monitor_compares_the_inputs_its_champion_records(spark, lake):
    root, mf = lake
    cfg = make_config(root, "train.raw_consumption=false")
    client = tracking.setup(cfg)
    with_c1 = register(spark, cfg, ["C1", "contracted_kw"], mf)
    without = register(spark, cfg, ["C2", "contracted_kw"], mf)
    ref = tracking.resolve(client, "DAICE", with_c1)
    assert models.recorded_numeric_inputs(ref) == ["C1", "contracted_kw"]  # the encoded regions left out
    monitoring = cfg.paths.table(schemas.MONITORING)

    # a champion trained on C1 (train.raw_consumption was true for it): C1's drift advises retraining it
    tracking.set_alias(client, "DAICE", cfg.model.champion, with_c1)
    result = monitor.run(spark, cfg)
    rows = spark.read.format("delta").load(monitoring).where(F.col("model_version") == with_c1).collect()
    assert drifted(rows) == {"C1": True, "contracted_kw": False}
    assert result["retrain"] and any(r.startswith("feature_drift C1:") for r in result["reasons"])

    # a champion that does not read C1 is not sent to retraining by it, whatever train.raw_consumption says now
    tracking.set_alias(client, "DAICE", cfg.model.champion, without)
    result = monitor.run(spark, make_config(root, "train.raw_consumption=true"))
    rows = spark.read.format("delta").load(monitoring).where(F.col("model_version") == without).collect()
    assert drifted(rows) == {"C2": False, "contracted_kw": False}
    assert not any(r.startswith("feature_drift") for r in result["reasons"])


def test_a_version_without_feature_columns_records_no_inputs(spark, tmp_path):
    import mlflow.xgboost
    import xgboost as xgb

    cfg = make_config(tmp_path)
    booster = xgb.XGBClassifier(n_estimators=2, max_depth=1, n_jobs=1).fit(
        np.arange(20, dtype=float).reshape(10, 2), np.arange(10) % 2).get_booster()
    client = tracking.setup(cfg)
    with mlflow.start_run(run_name="other"):
        info = mlflow.xgboost.log_model(booster, name="model", registered_model_name="other")
    ref = tracking.resolve(client, "other", str(info.registered_model_version))
    assert models.recorded_numeric_inputs(ref) is None
