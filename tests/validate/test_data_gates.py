"""Data gates: each check trips on a crafted bad input and passes on good data."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pytest
from pyspark.sql import functions as F

from ntl_spark import ingest, schemas
from ntl_spark.config import ConfigError, RuleConf
from ntl_spark.errors import DataError
from ntl_spark.validate import data as validate_data
from ntl_spark.validate import drift, rules, stats
from tests.conftest import make_config

D = dt.date


def bills(spark, rows):
    return spark.createDataFrame(rows, schemas.BILLS_SCHEMA)


GOOD_BILLS = [("A", D(2026, 1, 1), 120.0, 31, "actual"), ("A", D(2026, 2, 1), 110.0, 28, "actual"),
              ("B", D(2026, 1, 1), 0.0, 30, "estimated"), ("B", D(2026, 2, 1), None, 29, "actual")]


# ---------------------------------------------------------------- schema gate
def test_renamed_column_is_named_as_missing_and_unexpected(spark):
    df = bills(spark, GOOD_BILLS).withColumnRenamed("kwh", "KWH_FACT")
    with pytest.raises(DataError, match=r"\['kwh'\] missing.*\['KWH_FACT'\].*ingest.rename.bills"):
        ingest.check_schema(df, schemas.BILLS_SCHEMA, schemas.BILLS)


def test_schema_gate_passes_the_contract(spark):
    ingest.check_schema(bills(spark, GOOD_BILLS), schemas.BILLS_SCHEMA, schemas.BILLS)


def test_one_bad_source_stops_ingest_before_any_table_is_written(spark, tmp_path):
    cfg = make_config(tmp_path, "ingest.tables=[customers,bills]")
    customers = spark.createDataFrame(
        [("C1", None, "conventional", "NORTE", "residential", 3.0, "x", None, None, D(2020, 1, 1), "active")],
        schemas.CUSTOMERS_SCHEMA,
    )
    customers.write.parquet(f"{cfg.raw_dir}/customers")
    bad = bills(spark, GOOD_BILLS).withColumn("kwh", F.col("kwh").cast("string"))  # retyped upstream
    bad.write.parquet(f"{cfg.raw_dir}/bills")
    with pytest.raises(DataError, match=r"bills: column 'kwh' has type string, expected double"):
        ingest.run(spark, cfg)
    assert not Path(cfg.paths.table("customers")).exists()


# ---------------------------------------------------------------------- rules
RULES = [
    RuleConf(name="kwh_non_negative", table="bills", check="kwh >= 0", level="block"),
    RuleConf(name="days_in_range", table="bills", check="days BETWEEN 28 AND 35", level="warn"),
    RuleConf(name="one_bill", table="bills", unique=["customer_id", "period"], level="block"),
    RuleConf(name="intervals_per_day", table="readings", group_by=["meter_id", "to_date(ts)"],
             check="count(*) <= 2", level="block"),
    RuleConf(name="absent_table", table="events", check="code IS NOT NULL"),
]


def readings(spark, per_day):
    t0 = dt.datetime(2026, 1, 1)
    rows = [("M1", t0 + dt.timedelta(hours=h), 0.5) for h in range(per_day)]
    return spark.createDataFrame(rows, schemas.READINGS_SCHEMA)


def test_rules_pass_on_good_data(spark):
    results = rules.evaluate_rules({"bills": bills(spark, GOOD_BILLS), "readings": readings(spark, 2)}, RULES)
    assert [r.status for r in results] == ["ok", "ok", "ok", "ok", "skipped"]
    assert results[0].checked == 4  # a null kWh passes, as in a SQL CHECK constraint
    rules.enforce(results)


def test_rules_count_offending_rows_and_block_naming_the_rule(spark):
    bad = GOOD_BILLS + [("C", D(2026, 1, 1), -5.0, 31, "actual"), ("C", D(2026, 1, 1), 7.0, 40, "actual")]
    results = {r.rule: r for r in rules.evaluate_rules(
        {"bills": bills(spark, bad), "readings": readings(spark, 3)}, RULES)}
    assert (results["kwh_non_negative"].offending, results["kwh_non_negative"].status) == (1, "block")
    assert (results["days_in_range"].offending, results["days_in_range"].status) == (1, "warn")
    assert (results["one_bill"].offending, results["one_bill"].status) == (2, "block")
    assert (results["intervals_per_day"].offending, results["intervals_per_day"].checked) == (1, 1)
    with pytest.raises(DataError, match=r"kwh_non_negative \(bills: kwh >= 0\): 1 of 6 rows") as e:
        rules.enforce(list(results.values()))
    assert "days_in_range" not in str(e.value)  # warn level does not stop the job


def test_warn_rule_alone_does_not_stop_and_max_share_tolerates(spark):
    bad = GOOD_BILLS + [("C", D(2026, 1, 1), 7.0, 40, "actual")]
    tolerant = RuleConf(name="days", table="bills", check="days BETWEEN 28 AND 35", level="block", max_share=0.25)
    (r,) = rules.evaluate_rules({"bills": bills(spark, bad)}, [tolerant])
    assert (r.offending, r.status) == (1, "ok")
    rules.enforce([r])


def test_rule_with_bad_sql_names_the_rule(spark):
    rule = RuleConf(name="typo", table="bills", check="kwhh >= 0", level="block")
    with pytest.raises(ValueError, match="rule 'typo'"):
        rules.evaluate_rules({"bills": bills(spark, GOOD_BILLS)}, [rule])


def test_rule_config_is_checked_at_load(tmp_path):
    with pytest.raises(ConfigError, match=r"validation.rules\[0\].level"):
        make_config(tmp_path, "validation.rules=[{name: r, table: bills, check: 'kwh >= 0', level: stop}]")
    with pytest.raises(ConfigError, match="exactly one of check or unique"):
        make_config(tmp_path, "validation.rules=[{name: r, table: bills}]")


# ---------------------------------------------------------------------- drift
def frame(spark, values, column="x"):
    return spark.createDataFrame([(float(v) if v is not None else None,) for v in values], f"{column} double")


def test_psi_is_small_for_the_same_distribution_and_blocks_a_shift(spark):
    rng = np.random.default_rng(0)
    ref = frame(spark, rng.normal(0, 1, 2000))
    same = frame(spark, rng.normal(0, 1, 2000))
    shifted = frame(spark, rng.normal(1.5, 1, 2000))
    found = {d.compared: d for d in drift.feature_drift(ref, {"same": same, "shifted": shifted}, ["x"], 10, 0.1, 0.25)}
    assert found["same"].psi < 0.05 and found["same"].level == "ok"
    assert found["shifted"].psi > 0.25 and found["shifted"].level == "block"
    assert len(found["same"].reference) == 11  # 9 interior edges -> 10 bins + missing


def test_psi_sees_a_column_that_starts_arriving_empty(spark):
    ref = frame(spark, list(range(100)))
    emptied = frame(spark, list(range(50)) + [None] * 50)
    (d,) = drift.feature_drift(ref, {"scoring": emptied}, ["x"], 5, 0.1, 0.25)
    assert d.level == "block" and d.current[-1] == pytest.approx(0.5)


def test_array_drift_matches_the_binned_definition():
    rng = np.random.default_rng(1)
    a = rng.uniform(size=5000)
    assert drift.array_drift(a, rng.uniform(size=5000), 10, 0.1, 0.5).level == "ok"
    assert drift.array_drift(a, rng.uniform(size=5000) ** 4, 10, 0.1, 0.5).level == "block"


def model_rows(spark, months: int, n: int = 400, shift: float = 0.0, seed: int = 0):
    """Rows holding every numeric input (C1..C<months> included); C1 moved by ``shift``."""
    cols = schemas.numeric_feature_columns(months, raw_consumption=True)
    rng = np.random.default_rng(seed)
    data = rng.normal(0, 1, (n, len(cols)))
    data[:, cols.index("C1")] += shift
    rows = [(f"K{seed}-{i:04d}", *map(float, r)) for i, r in enumerate(data)]
    return spark.createDataFrame(rows, ", ".join(["customer_id string", *[f"`{c}` double" for c in cols]]))


def test_drift_columns_are_the_inputs_the_model_reads(spark, tmp_path):
    off = make_config(tmp_path, "train.raw_consumption=false")
    on = make_config(tmp_path, "train.raw_consumption=true")
    df = model_rows(spark, off.features.months, n=2)
    # without the raw consumptions the model does not read C1..C36, so they do not drift for it
    assert drift.drift_columns(off, df) == schemas.numeric_feature_columns(off.features.months, False)
    assert "C1" not in drift.drift_columns(off, df) and "contracted_kw" in drift.drift_columns(off, df)
    assert drift.drift_columns(on, df) == schemas.numeric_feature_columns(on.features.months, True)
    # a model's recorded inputs win over train.raw_consumption; a column a frame lacks is left out
    assert drift.drift_columns(off, df, inputs=["C1", "contracted_kw", "not_there"]) == ["C1", "contracted_kw"]
    assert drift.drift_columns(off, df, df.drop("C1"), inputs=["C1", "contracted_kw"]) == ["contracted_kw"]
    # validation.drift.features (less exclude) wins over both
    picked = make_config(tmp_path, "train.raw_consumption=false", "validation.drift.features=[C2, slope_12]",
                         "validation.drift.exclude=[slope_12]")
    assert drift.drift_columns(picked, df, inputs=["C1"]) == ["C2"]


def test_data_gate_drift_skips_the_raw_consumptions_the_model_does_not_read(spark, tmp_path):
    training = model_rows(spark, 36, seed=1)
    scoring = model_rows(spark, 36, shift=3.0, seed=2)  # C1 moved far: a block-level PSI if compared
    for raw in (False, True):
        cfg = make_config(tmp_path, f"train.raw_consumption={str(raw).lower()}", "features.months=36")
        found, _ = validate_data.check_drift(cfg, training, scoring)
        on_scoring = {d.column: d for d in found if d.compared == validate_data.SCORING}
        assert set(on_scoring) == set(schemas.numeric_feature_columns(36, raw))
        assert ("C1" in on_scoring) is raw
    assert on_scoring["C1"].level == "block"


# ---------------------------------------------------------------------- stats
def test_column_stats_counts_nulls_quantiles_histogram_and_top_values(spark):
    df = bills(spark, GOOD_BILLS)
    got = {r["column"]: r for r in stats.column_stats(df, bins=4).collect()}
    kwh = got["kwh"]
    assert (kwh["count"], kwh["nulls"], kwh["min"], kwh["max"]) == (4, 1, 0.0, 120.0)
    assert sum(kwh["hist_counts"]) == 3 and len(kwh["hist_edges"]) == 5
    assert kwh["quantiles"][3] == 110.0
    assert got["customer_id"]["distinct"] == 2
    assert [(t["value"], t["count"]) for t in got["read_type"]["top_values"]] == [("actual", 3), ("estimated", 1)]
    assert got["period"]["min_text"] == "2026-01-01"


def test_stats_of_two_runs_can_be_compared(spark, tmp_path):
    path = str(tmp_path / "data_stats")
    now = dt.datetime(2026, 1, 1)
    stats.append(stats.with_keys(stats.column_stats(bills(spark, GOOD_BILLS)), "r1", "bills", 0, now), path)
    later = GOOD_BILLS + [("C", D(2026, 1, 1), 1000.0, 30, "actual")]
    stats.append(stats.with_keys(stats.column_stats(bills(spark, later)), "r2", "bills", 1, now + dt.timedelta(1)),
                 path)
    table = spark.read.format("delta").load(path)
    assert stats.previous_run(spark, path, "r2") == "r1"
    kwh = stats.compare(table, "r1", "r2").where("column = 'kwh'").first()
    assert (kwh["version_a"], kwh["version_b"], kwh["count_a"], kwh["count_b"]) == (0, 1, 4, 5)
    assert kwh["count_change"] == pytest.approx(0.25)
    assert kwh["mean_b"] > kwh["mean_a"]
