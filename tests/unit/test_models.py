"""models.CustomerSplit: the held-out customers depend on salt and fraction only."""

from __future__ import annotations

import random

import pytest
from pyspark.sql import functions as F
from pyspark.sql import types as T

from ntl_spark import models
from tests.conftest import make_config

SCHEMA = T.StructType([T.StructField("customer_id", T.StringType(), False),
                       T.StructField("inspection_id", T.StringType(), False)])


@pytest.fixture(scope="module")
def rows(spark):
    """4000 customers, one to three inspections each, in shuffled order."""
    pairs = [(f"C{c:05d}", f"I{c:05d}-{i}") for c in range(4000) for i in range(1 + c % 3)]
    random.Random(5).shuffle(pairs)
    return spark.createDataFrame(pairs, SCHEMA)


def held_out_customers(df, split: models.CustomerSplit) -> set[str]:
    return {r[0] for r in split.held_out(df).select("customer_id").distinct().collect()}


def test_split_ignores_the_seed_and_the_partitioning(rows, tmp_path):
    # two configurations that differ only in train.seed hold out the same customers
    a, b = (make_config(tmp_path, f"train.seed={seed}").train for seed in (1, 99))
    assert a.seed != b.seed
    split_a = models.CustomerSplit(a.split_salt, a.test_fraction)
    split_b = models.CustomerSplit(b.split_salt, b.test_fraction)
    one = held_out_customers(rows.repartition(1), split_a)
    many = held_out_customers(rows.repartition(7, "inspection_id").orderBy(F.rand(3)), split_b)
    assert one == many and one


def test_salt_changes_the_split_and_the_fraction_is_respected(rows):
    customers = 4000
    first = models.CustomerSplit("holdout-1", 0.25)
    other = models.CustomerSplit("holdout-2", 0.25)
    a, b = held_out_customers(rows, first), held_out_customers(rows, other)
    assert a != b
    # independent hashes: the overlap is about fraction^2 of the customers
    assert abs(len(a & b) / customers - 0.25 ** 2) < 0.02
    for fraction in (0.1, 0.25, 0.5):
        share = len(held_out_customers(rows, models.CustomerSplit("holdout-1", fraction))) / customers
        assert abs(share - fraction) < 0.025, (fraction, share)
    # a customer's rows are all on one side
    train, test = first.split(rows)
    assert train.count() + test.count() == rows.count()
    assert not train.select("customer_id").intersect(test.select("customer_id")).count()


def test_split_values_are_pinned_and_round_trip(spark):
    # the split is saved with models: the same salt must keep selecting the same customers
    df = spark.createDataFrame([(f"C{i:04d}", "x") for i in range(40)], SCHEMA)
    split = models.CustomerSplit("holdout-1", 0.25)
    assert sorted(held_out_customers(df, split)) == PINNED
    assert models.CustomerSplit.from_dict(split.to_dict()) == split
    assert "xxhash64('holdout-1', customer_id) mod 10000 < 2500" in split.describe()
    # versions trained before the salt was recorded split by xxhash64(customer_id, seed)
    seeded = models.CustomerSplit("7", 0.25, models.SEEDED)
    old = df.where(F.pmod(F.xxhash64(F.col("customer_id"), F.lit(7)), F.lit(10_000)) < F.lit(2500))
    assert held_out_customers(df, seeded) == {r[0] for r in old.collect()}
    for bad in ({"salt": "x"}, {"salt": "x", "fraction": 1.5}, {"salt": "x", "fraction": 0.2, "buckets": 100},
                {"salt": "x", "fraction": 0.2, "method": "random"}):
        with pytest.raises(ValueError):
            models.CustomerSplit.from_dict(bad)


PINNED = ['C0004', 'C0008', 'C0013', 'C0025', 'C0029', 'C0031', 'C0032', 'C0034', 'C0035', 'C0037', 'C0038']


def test_deepdaice_splits_customers_with_the_same_function(tmp_path):
    from ntl_spark import deep

    cfg = make_config(tmp_path, f"deep.test_fraction={make_config(tmp_path).train.test_fraction}")
    test, validation = deep.deep_splits(cfg.deep)
    # same salt and fraction as DAICE by default: the same held-out customers
    assert test == models.CustomerSplit(cfg.train.split_salt, cfg.train.test_fraction)
    assert validation.salt != test.salt and validation.fraction == cfg.deep.validation_fraction
    # a seed changes nothing; both splits are kept with the model
    assert deep.deep_splits(make_config(tmp_path, "deep.seed=123", f"deep.test_fraction={test.fraction}").deep) \
        == (test, validation)
    meta = deep.model_metadata(deep.Shape(7, 24, ()), cfg.deep, 0)
    assert models.CustomerSplit.from_dict(meta["split"]) == test
    assert models.CustomerSplit.from_dict(meta["validation_split"]) == validation
