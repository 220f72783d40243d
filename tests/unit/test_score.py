from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from ntl_spark import models, schemas, score
from ntl_spark.encoding import CategoricalVocabulary


def test_top_contributions_picks_largest_positive_pushes():
    contribs = np.array([[0.1, 2.0, -1.0, 0.5, 9.9], [-0.2, -0.1, 0.3, 0.0, 9.9]])  # last column = bias
    out = score.top_contributions(contribs, ["a", "b", "c", "d"], 2)
    assert [f["feature"] for f in out[0]] == ["b", "d"]
    assert [f["feature"] for f in out[1]] == ["c", "d"]
    assert out[0][0]["contribution"] == 2.0
    assert score.top_contributions(contribs, ["a", "b", "c", "d"], 0) == [[], []]


def test_rank_scores_unique_overall_and_within_region(spark):
    rows = [("A", "NORTE", 0.9), ("B", "SUR", 0.9), ("C", "NORTE", 0.1), ("D", "SUR", 0.5)]
    df = spark.createDataFrame(rows, "customer_id string, region string, score double")
    got = {r.customer_id: (r["rank"], r.region_rank) for r in models.rank_scores(df).collect()}
    # tie on 0.9 broken by customer_id
    assert got == {"A": (1, 1), "B": (2, 1), "D": (3, 2), "C": (4, 2)}


def test_a_region_never_seen_in_training_is_scored_as_other(spark):
    import xgboost as xgb

    # NORTE and SUR are regular; two rare regions (under min_count) are irregular and
    # train the model on region__other
    rows = [(f"N{i}", "NORTE", 10.0 + i % 3, 0) for i in range(20)] + [(f"S{i}", "SUR", 10.0 + i % 3, 0) for i in range(20)]
    rows += [(f"E{i}", "ESTE", 10.0 + i % 3, 1) for i in range(3)] + [(f"O{i}", "OESTE", 10.0 + i % 3, 1) for i in range(3)]
    train = spark.createDataFrame(rows, "customer_id string, region string, mean_12 double, label int")
    vocab = CategoricalVocabulary.fit(train, ["region"], max_levels=50, min_count=5)
    assert vocab.levels("region").levels == ("NORTE", "SUR")
    cols = ["mean_12", *vocab.feature_columns]
    enc = vocab.transform(train).toPandas()
    params = {"objective": "binary:logistic", "max_depth": 2, "eta": 0.5, "min_child_weight": 0.1, "nthread": 1}
    booster = xgb.train(params, xgb.DMatrix(enc[cols], label=enc["label"], feature_names=cols), num_boost_round=20)
    model = models.Daice(booster, cols, vocab, "DAICE", "1", None)

    scoring = spark.createDataFrame(
        [("new", "LITORAL", 11.0), ("known", "NORTE", 11.0), ("missing", None, 11.0)],
        "customer_id string, region string, mean_12 double",
    )
    inputs = models.model_inputs(scoring, model, schemas.MONTHLY_FEATURES)
    encoded = {r.customer_id: r for r in inputs.collect()}
    assert encoded["new"]["region__other"] == 1.0
    assert encoded["new"]["region_NORTE"] == encoded["new"]["region_SUR"] == 0.0
    assert encoded["missing"]["region__other"] == 0.0

    model_bytes = spark.sparkContext.broadcast(bytes(booster.save_raw("ubj")))
    try:
        # region is never null in scores (the contract): the missing-region row stops at the encoding check above
        scored = score.predict_frame(inputs.where("region IS NOT NULL"), model_bytes, cols, 2)
        got = {r.customer_id: r for r in scored.collect()}
    finally:
        model_bytes.unpersist()
    assert not math.isnan(got["new"].score)
    # scored like the rare regions it was trained with, not like an all-zero (missing) region
    assert got["new"].score > 0.5 > got["known"].score
    assert got["new"].region == "LITORAL"
    assert "region__other" in [f.feature for f in got["new"].top_features]
    native = booster.inplace_predict(pd.DataFrame([[11.0, 0.0, 0.0, 1.0]], columns=cols).to_numpy(), missing=np.nan)
    assert got["new"].score == pytest.approx(float(native[0]), abs=1e-6)


def test_score_takes_the_champion_and_says_who_sets_it_when_there_is_none(tmp_path):
    from ntl_spark import tracking
    from ntl_spark.errors import ConfigError, MissingInputError
    from tests.conftest import make_config

    cfg = make_config(tmp_path)
    client = tracking.setup(cfg)
    with pytest.raises(MissingInputError, match=r"no champion yet \(alias 'champion'\).*validate_model.*promote"):
        score.model_to_score(client, cfg)  # nothing registered
    client.create_registered_model("DAICE")
    for _ in range(2):
        client.create_model_version("DAICE", str(tmp_path / "model"))
    tracking.set_alias(client, "DAICE", "candidate", "2")
    with pytest.raises(MissingInputError, match="validate_model"):
        score.model_to_score(client, cfg)  # a challenger, but no champion: it is not scored
    tracking.set_alias(client, "DAICE", "champion", "1")
    ref, used = score.model_to_score(client, cfg)
    assert (ref.version, used) == ("1", "champion")
    manual = make_config(tmp_path, "score.model_ref=2")
    assert score.model_to_score(client, manual)[0].version == "2"
    assert score.model_to_score(client, make_config(tmp_path, "score.model_ref=candidate"))[0].version == "2"
    with pytest.raises(ConfigError, match="'7'"):
        score.model_to_score(client, make_config(tmp_path, "score.model_ref=7"))
