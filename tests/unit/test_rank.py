"""The distributed ranking (models.rank_scores) and contributions for the head only (score.explain_head)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ntl_spark import models, score


def _scores(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    ids = rng.permutation(n)
    return pd.DataFrame({
        "customer_id": [f"C{i:05d}" for i in ids],
        "region": rng.choice(["NORTE", "SUR", "ESTE", "OESTE"], n),
        # many ties: the order between them is customer_id ascending
        "score": rng.integers(0, 40, n) / 40.0,
    })


def _expected(pdf: pd.DataFrame) -> pd.DataFrame:
    out = pdf.sort_values(["score", "customer_id"], ascending=[False, True]).reset_index(drop=True)
    out["rank"] = np.arange(1, len(out) + 1)
    out["region_rank"] = out.groupby("region").cumcount() + 1
    return out


def test_rank_equals_a_pandas_sort_with_ties_by_customer_id(spark):
    pdf = _scores(3000, 7)
    df = spark.createDataFrame(pdf).repartition(5)
    for partitions in (1, 4, 7):
        got = models.rank_scores(df, partitions).toPandas().sort_values("rank").reset_index(drop=True)
        want = _expected(pdf)
        assert got.columns.tolist() == ["customer_id", "region", "score", "rank", "region_rank"]
        assert got["rank"].tolist() == list(range(1, len(pdf) + 1))
        pd.testing.assert_frame_equal(got[want.columns].astype({"rank": "int64", "region_rank": "int64"}),
                                      want.astype({"rank": "int64", "region_rank": "int64"}))


def test_global_rank_is_not_a_single_partition_window(spark):
    df = spark.createDataFrame(_scores(200, 3))
    plan = models.rank_scores(df, 4)._jdf.queryExecution().executedPlan().toString()
    assert "SinglePartition" not in plan
    assert "rangepartitioning" in plan.lower()


def test_empty_scores_rank_to_nothing(spark):
    df = spark.createDataFrame([], "customer_id string, region string, score double")
    assert models.rank_scores(df, 3).collect() == []


def test_contributions_only_for_the_head(spark):
    import xgboost as xgb

    rng = np.random.default_rng(11)
    n = 300
    cols = ["a", "b", "c"]
    x = rng.normal(size=(n, 3))
    y = (x[:, 0] + 0.5 * x[:, 1] + rng.normal(scale=0.5, size=n) > 0).astype(int)
    booster = xgb.train({"objective": "binary:logistic", "max_depth": 3, "nthread": 1},
                        xgb.DMatrix(x, label=y, feature_names=cols), num_boost_round=10)
    pdf = pd.DataFrame(x, columns=cols)
    pdf.insert(0, "customer_id", [f"C{i:04d}" for i in range(n)])
    pdf.insert(1, "region", np.where(np.arange(n) % 3 == 0, "NORTE", "SUR"))
    feats = spark.createDataFrame(pdf)
    model_bytes = spark.sparkContext.broadcast(bytes(booster.save_raw("ubj")))
    ranked = models.rank_scores(score.predict_frame(feats, model_bytes, cols, 0), 3)
    out = score.explain_head(ranked, feats, model_bytes, cols, 2, 10, 4).toPandas()
    assert out.columns.tolist() == ranked.columns

    head = (out["rank"] <= 10) | (out["region_rank"] <= 4)
    assert head.sum() >= 10 and (~head).sum() > 0
    assert out.loc[~head, "top_features"].isna().all()
    contribs = booster.predict(xgb.DMatrix(x, feature_names=cols), pred_contribs=True)
    want = dict(zip(pdf["customer_id"], score.top_contributions(contribs, cols, 2), strict=True))
    for _, r in out[head].iterrows():
        got = [(f["feature"], f["contribution"]) for f in r["top_features"]]
        assert [f for f, _ in got] == [w["feature"] for w in want[r["customer_id"]]]
        np.testing.assert_allclose([c for _, c in got], [w["contribution"] for w in want[r["customer_id"]]],
                                   rtol=1e-5, atol=1e-6)
    # nothing to explain: every row null, same columns
    none = score.explain_head(ranked, feats, model_bytes, cols, 0, 10, 4).toPandas()
    assert none["top_features"].isna().all() and none.columns.tolist() == ranked.columns
    model_bytes.unpersist()
