"""The combined ranking (ntl_spark.combine): each customer at the better of its two relative places."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ntl_spark import combine, models


def _family(spark, ids: list[str], scores: list[float], region: str = "NORTE"):
    pdf = pd.DataFrame({"customer_id": ids, "region": [region] * len(ids), "score": scores})
    return models.rank_scores(spark.createDataFrame(pdf), 2)


def _combined(spark, first, second) -> pd.DataFrame:
    return combine.rank_combined(first, second).toPandas().sort_values("rank").reset_index(drop=True)


def test_better_place_of_either_list_interleaves_the_two_heads(spark):
    # DAICE ranks ten customers, DeepDAICE five of them (smart meters): places are rank / ranked
    daice = _family(spark, [f"C{i}" for i in range(10)], [1.0 - i / 10 for i in range(10)])
    deep = _family(spark, ["C9", "C8", "C0", "C5", "C1"], [0.9, 0.8, 0.7, 0.6, 0.5])
    got = _combined(spark, daice, deep)
    # C9: DAICE 10/10, DeepDAICE 1/5 = 0.2; C8: 0.4 (DeepDAICE); C0: 0.1 (DAICE) and 0.6
    assert got.customer_id.tolist()[:4] == ["C0", "C1", "C9", "C2"]
    assert got["rank"].tolist() == list(range(1, 11))
    assert sorted(got.customer_id) == sorted(f"C{i}" for i in range(10))
    row = got.set_index("customer_id")
    assert row.loc["C9", combine.PLACE] == 0.2 and row.loc["C9", "source"] == 2
    assert row.loc["C9", "score"] == 0.9  # the probability of the family that placed it
    assert row.loc["C0", "score"] == 1.0 and row.loc["C0", "source"] == 1
    assert row.loc["C3", combine.OTHER] == 2.0  # ranked by DAICE only


def test_a_tie_goes_to_the_better_other_place_then_customer_id(spark):
    daice = _family(spark, ["A", "B", "C", "D"], [0.9, 0.8, 0.7, 0.6])
    deep = _family(spark, ["D", "C", "B", "A"], [0.9, 0.8, 0.7, 0.6])
    got = _combined(spark, daice, deep)
    # A and D both at 1/4 with the other at 4/4; B and C at 2/4 and 3/4: A before D, B before C
    assert got.customer_id.tolist() == ["A", "D", "B", "C"]


def test_region_rank_follows_the_combined_order(spark):
    rng = np.random.default_rng(5)
    ids = [f"C{i:03d}" for i in range(60)]
    a = pd.DataFrame({"customer_id": ids, "region": rng.choice(["NORTE", "SUR"], 60), "score": rng.random(60)})
    b = a.sample(25, random_state=1).assign(score=lambda d: rng.random(len(d)))
    got = _combined(spark, models.rank_scores(spark.createDataFrame(a), 3),
                    models.rank_scores(spark.createDataFrame(b), 2))
    for _, g in got.groupby("region"):
        assert g.sort_values("rank")["region_rank"].tolist() == list(range(1, len(g) + 1))
    places = got[combine.PLACE].to_numpy()
    assert (np.diff(places) >= 0).all()
