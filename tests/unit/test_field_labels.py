"""Labels from outcomes: arms on the training rows, inverse-probability weights, control-arm metrics."""

from __future__ import annotations

import dataclasses

import pandas as pd
import pytest
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from ntl_spark import features, train
from ntl_spark.config import Config
from ntl_spark.errors import DataError


def test_attach_arms_from_outcomes(spark: SparkSession) -> None:
    rows = spark.createDataFrame([("I1", 1), ("I2", 0), ("I3", 1)], "inspection_id string, label int")
    outcomes = spark.createDataFrame([("I1", "model", 1.0), ("I2", "control", 0.05), ("I9", "unsolicited", None)],
                                     "inspection_id string, arm string, selection_probability double")
    got = {r["inspection_id"]: (r["arm"], r["selection_probability"])
           for r in features.attach_arms(rows, outcomes).collect()}
    assert got == {"I1": ("model", 1.0), "I2": ("control", 0.05), "I3": (None, None)}
    none = features.attach_arms(rows, None)
    assert set(none.columns) >= {"arm", "selection_probability"} and none.count() == 3


def test_label_weights_inverse_probability(spark: SparkSession) -> None:
    df = spark.createDataFrame([("I1", 1.0), ("I2", 0.05), ("I3", None)],
                               "inspection_id string, selection_probability double")
    assert train.label_weights(df, "none") is df
    got = {r["inspection_id"]: r["weight"] for r in train.label_weights(df, "ipw").collect()}
    assert got == {"I1": 1.0, "I2": pytest.approx(20.0), "I3": 1.0}
    with pytest.raises(DataError, match="selection_probability"):
        train.label_weights(df.drop("selection_probability"), "ipw")


def test_control_arm_metrics_only_on_control_rows() -> None:
    scored = pd.DataFrame({
        "label": [1, 0, 1, 0, 1, 1],
        "score": [0.9, 0.8, 0.3, 0.1, 0.95, 0.7],
        "arm": ["control", "control", "control", "control", "model", "model"],
    })
    m = train.control_arm_metrics(scored, 0.5, 2)
    assert m["rows"] == 4 and m["positives"] == 2
    assert m["precision_at_k"] == pytest.approx(0.5)  # top 2 of the control rows: 0.9 (1), 0.8 (0)
    assert train.control_arm_metrics(scored.drop(columns="arm"), 0.5, 2) == {"rows": 0.0}
    one_class = train.control_arm_metrics(scored[scored["arm"] == "model"].assign(arm="control"), 0.5, 2)
    assert set(one_class) == {"rows", "positives"}


def test_fit_model_uses_the_weight_column(spark: SparkSession, spark_cfg: Config) -> None:
    rows = [(float(i % 10), 1 if i % 10 >= 7 else 0) for i in range(60)] + [(1.0, 1)] * 3
    df = spark.createDataFrame(rows, "x double, label int")
    tc = dataclasses.replace(spark_cfg.train, params={"n_estimators": 5, "max_depth": 2})
    plain = train.fit_model(spark, df.repartition(1), ["x"], tc)
    weighted_df = df.withColumn("weight", (df["x"] == 1.0).cast("double") * 50 + 1.0)  # x = 1 rows weigh 51
    weighted = train.fit_model(spark, weighted_df.repartition(1), ["x"], tc)
    probe = spark.createDataFrame([(1.0,)], "x double")
    p_plain = train.with_score(plain.transform(probe)).first()["score"]
    p_weighted = train.with_score(weighted.transform(probe)).first()["score"]
    assert p_weighted > p_plain + 0.05  # the heavy positive x = 1 labels pull its score up


def test_unlabelled_negatives_draw_only_uninspected_training_side_customers(spark: SparkSession) -> None:
    from ntl_spark import models

    split = models.CustomerSplit("holdout-1", 0.25)
    month = spark.createDataFrame([(f"C{i}", float(i), "NORTE") for i in range(2000)],
                                  "customer_id string, C1 double, region string")
    labelled = spark.createDataFrame([(f"C{i}", f"I{i}", 1, 5.0, "SUR", "model") for i in range(0, 2000, 10)],
                                     "customer_id string, inspection_id string, label int, C1 double, "
                                     "region string, arm string")
    labelled_train = split.split(labelled)[0]
    got = train.unlabelled_negatives(month, labelled_train, split, 300, 0.3, seed=7)
    assert got.columns == [*labelled.columns, "weight"]
    rows = got.collect()
    ids = {r["customer_id"] for r in rows}
    assert 200 <= len(rows) <= 400  # about 300 drawn from ~1,350 candidates
    assert not ids & {r["customer_id"] for r in labelled.collect()}  # never an inspected customer
    assert not ids & {r["customer_id"] for r in split.held_out(month).collect()}  # never a held-out one
    assert {(r["label"], r["weight"], r["inspection_id"], r["arm"]) for r in rows} == {(0, 0.3, None, None)}
    assert all(r["C1"] == float(r["customer_id"][1:]) and r["region"] == "NORTE" for r in rows)
    again = {r["customer_id"] for r in train.unlabelled_negatives(month, labelled_train, split, 300, 0.3, 7).collect()}
    assert again == ids  # seeded
    # labelled rows weighted already (train.weighting ipw): one weight column, so the union with them works
    weighted = labelled_train.withColumn("weight", F.lit(2.0))
    drawn = train.unlabelled_negatives(month, weighted, split, 300, 0.3, 7)
    assert drawn.columns.count("weight") == 1
    assert weighted.unionByName(drawn).where("weight = 0.3").count() == len(rows)
