from __future__ import annotations

import json

import pytest
from pyspark.sql import types as T

from ntl_spark.encoding import CategoricalVocabulary, safe_name
from ntl_spark.errors import DataError

SCHEMA = T.StructType([
    T.StructField("id", T.StringType(), False),
    T.StructField("region", T.StringType(), True),
    T.StructField("tariff", T.StringType(), True),
])


def frame(spark, rows):
    return spark.createDataFrame(rows, SCHEMA)


def rows_of(df):
    return {r["id"]: r.asDict() for r in df.collect()}


@pytest.fixture(scope="module")
def train(spark):
    # region: SUR x3, NORTE x2, ESTE x2, OESTE x1; tariff: a x4, b x4 (tie), null x0
    return frame(spark, [
        ("1", "SUR", "a"), ("2", "SUR", "a"), ("3", "SUR", "b"), ("4", "NORTE", "b"),
        ("5", "NORTE", "a"), ("6", "ESTE", "b"), ("7", "ESTE", "a"), ("8", "OESTE", "b"),
    ])


def test_levels_most_frequent_first_ties_by_name(train):
    vocab = CategoricalVocabulary.fit(train, ["region", "tariff"], max_levels=50, min_count=1)
    assert vocab.levels("region").levels == ("SUR", "ESTE", "NORTE", "OESTE")
    assert vocab.levels("region").counts == (3, 2, 2, 1)
    assert vocab.levels("tariff").levels == ("a", "b")
    assert vocab.feature_columns == [
        "region_SUR", "region_ESTE", "region_NORTE", "region_OESTE", "region__other",
        "tariff_a", "tariff_b", "tariff__other",
    ]


def test_max_levels_and_min_count_send_the_rest_to_other(spark, train):
    capped = CategoricalVocabulary.fit(train, ["region"], max_levels=2, min_count=1)
    assert capped.levels("region").levels == ("SUR", "ESTE")
    rare = CategoricalVocabulary.fit(train, ["region"], max_levels=50, min_count=2)
    assert rare.levels("region").levels == ("SUR", "ESTE", "NORTE")
    got = rows_of(capped.transform(train))
    assert got["4"]["region__other"] == 1.0 and got["4"]["region_SUR"] == got["4"]["region_ESTE"] == 0.0
    assert got["1"]["region_SUR"] == 1.0 and got["1"]["region__other"] == 0.0
    assert rows_of(rare.transform(train))["8"]["region__other"] == 1.0  # OESTE: 1 row < min_count


def test_unseen_value_is_other_and_null_is_all_zeros(spark, train):
    vocab = CategoricalVocabulary.fit(train, ["region", "tariff"], max_levels=50, min_count=1)
    scoring = frame(spark, [("u", "LITORAL", "a"), ("n", None, None), ("s", "SUR", "b")])
    out = vocab.transform(scoring)
    assert out.columns == [*scoring.columns, *vocab.feature_columns]  # raw columns kept, one column per output
    assert all(out.schema[c].dataType == T.DoubleType() for c in vocab.feature_columns)
    got = rows_of(out)
    region = vocab.levels("region").outputs
    assert [got["u"][c] for c in region] == [0.0, 0.0, 0.0, 0.0, 1.0]
    assert [got["n"][c] for c in vocab.feature_columns] == [0.0] * len(vocab.feature_columns)
    assert [got["s"][c] for c in region] == [1.0, 0.0, 0.0, 0.0, 0.0]
    assert got["s"]["tariff_b"] == 1.0


def test_null_is_not_a_level(spark):
    df = frame(spark, [("1", None, "a"), ("2", None, "a"), ("3", "SUR", "a")])
    vocab = CategoricalVocabulary.fit(df, ["region"], max_levels=50, min_count=1)
    assert vocab.levels("region").levels == ("SUR",)


def test_names_are_safe_and_collisions_get_deterministic_suffixes(spark):
    # "A-B" and "A B" make the same name; "_other" would make region__other; "A_B_2" would make the suffix name
    values = ["A-B"] * 4 + ["A B"] * 3 + ["_other"] * 2 + ["A_B_2"] * 1 + ["Río [x]<1"] * 1
    df = frame(spark, [(str(i), v, "a") for i, v in enumerate(values)])
    vocab = CategoricalVocabulary.fit(df, ["region"], max_levels=50, min_count=1)
    c = vocab.levels("region")
    assert c.levels == ("A-B", "A B", "_other", "A_B_2", "Río [x]<1")
    assert c.features == ("region_A_B", "region_A_B_2", "region__other_2", "region_A_B_2_2", "region_R_o__x__1")
    assert c.other == "region__other"
    assert all(safe_name(n) == n for n in vocab.feature_columns)
    assert len(set(vocab.feature_columns)) == len(vocab.feature_columns)
    got = rows_of(vocab.transform(df))
    assert got["4"]["region_A_B_2"] == 1.0 and got["4"]["region_A_B"] == 0.0  # "A B"
    assert got["7"]["region__other_2"] == 1.0 and got["7"]["region__other"] == 0.0  # the value "_other"
    assert safe_name("Río [x]<1") == "R_o__x__1"


def test_round_trip_through_json(spark, train):
    vocab = CategoricalVocabulary.fit(train, ["region", "tariff"], max_levels=3, min_count=1)
    back = CategoricalVocabulary.from_dict(json.loads(json.dumps(vocab.to_dict())))
    assert back == vocab
    assert back.feature_columns == vocab.feature_columns
    scoring = frame(spark, [("x", "NORTE", "c"), ("y", "OESTE", None)])
    assert rows_of(back.transform(scoring)) == rows_of(vocab.transform(scoring))
    with pytest.raises(ValueError, match="not a categorical vocabulary"):
        CategoricalVocabulary.from_dict({"format": 1, "columns": [{"column": "region"}]})
    with pytest.raises(ValueError, match="format"):
        CategoricalVocabulary.from_dict({**vocab.to_dict(), "format": 99})


def test_bad_input_is_named(spark, train):
    with pytest.raises(DataError, match=r"\['zone'\]"):
        CategoricalVocabulary.fit(train, ["zone"], max_levels=5, min_count=1)
    with pytest.raises(ValueError, match="must be >= 1"):
        CategoricalVocabulary.fit(train, ["region"], max_levels=0, min_count=1)
    vocab = CategoricalVocabulary.fit(train, ["region"], max_levels=5, min_count=1)
    with pytest.raises(DataError, match=r"\['region'\]"):
        vocab.transform(train.drop("region"))
    with pytest.raises(DataError, match="region_SUR"):
        vocab.transform(vocab.transform(train))  # already encoded: a second encoding would duplicate columns
