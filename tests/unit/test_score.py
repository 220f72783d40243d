from __future__ import annotations

import numpy as np

from ntl_spark import models, score


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
