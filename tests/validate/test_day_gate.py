"""The data gate day by day: after a real ingest replaces some days of readings, only those days are
checked again, and the rules and statistics equal a recompute of the whole table."""

from __future__ import annotations

import datetime as dt

import pytest
from pyspark.sql import functions as F

from ntl_spark import ingest, lakehouse, schemas
from ntl_spark.config import ConfigError, RuleConf, apply_overrides
from ntl_spark.validate import data, days, rules, stats
from tests.conftest import make_config
from tests.deep.deep_helpers import local_frame

D0 = dt.date(2026, 6, 1)
DAYS = [D0 + dt.timedelta(days=k) for k in range(5)]
METERS = 3
RULES = ("validation.rules=["
         "{name: intervals, table: readings, group_by: [meter_id, 'to_date(ts)'], check: 'count(*) <= 96', "
         "level: block, day: 'to_date(ts)'},"
         "{name: complete, table: readings, group_by: [meter_id, 'to_date(ts)'], check: 'count(kwh) >= 0.9 * 96', "
         "level: warn, max_share: 0.05, day: 'to_date(ts)'},"
         "{name: small, table: readings, check: 'kwh < 5', level: warn, day: 'to_date(ts)'},"
         "{name: one_reading, table: readings, unique: [meter_id, ts], level: block}]")


def _ts(day: dt.date, slot: int) -> dt.datetime:
    return dt.datetime.combine(day, dt.time()) + dt.timedelta(minutes=15 * slot)


def _day(day: dt.date, kwh, meters=range(METERS)) -> list[tuple]:
    """96 readings of each meter on ``day``: kwh(meter, slot), a reading left out where it gives ``...``."""
    return [(f"M{i}", _ts(day, s), v) for i in meters for s in range(96) if (v := kwh(i, s)) is not ...]


@pytest.fixture
def lake(spark, tmp_path):
    """An ingested readings table of 4 days (M0 misses 20 values on the second day); its config and a
    function that ingests readings for a period the way a daily load does."""
    cfg = make_config(tmp_path, "ingest.format=parquet", "ingest.tables=[customers,readings]",
                      "validation.tables=[readings]", RULES)
    customers = [(f"C{i}", f"M{i}", "smart", "NORTE", "residential", 3.0, None, None, None, D0, "active")
                 for i in range(METERS)]

    def load(rows, start=None, end=None):
        for name, part in ((schemas.CUSTOMERS, customers), (schemas.READINGS, rows)):
            local_frame(spark, part, schemas.SOURCE_SCHEMAS[name]).write.mode("overwrite").parquet(
                f"{cfg.raw_dir}/{name}")
        period = [f"ingest.period_start={start}", f"ingest.period_end={end}"] if start else []
        ingest.run(spark, apply_overrides(cfg, period))

    rows = []
    for k, day in enumerate(DAYS[:4]):
        rows += _day(day, lambda i, s, k=k: None if (i, k) == (0, 1) and s < 20 else 0.1 * (i + 1) + 0.01 * s + k)
    load(rows)
    return cfg, load


def _readings(spark, cfg):
    pinned = lakehouse.read_pinned(spark, cfg.paths.table(schemas.READINGS), schemas.READINGS, "ingest")
    return pinned.df, pinned.version


def _gate(spark, cfg, now):
    """The day rules' results and readings' statistics, day by day."""
    df, version = _readings(spark, cfg)
    day_rules = [r for r in cfg.validation.rules if r.day]
    results, by_rules = days.rule_results(spark, cfg, schemas.READINGS, df, version, day_rules, now)
    described, by_stats = days.table_stats(spark, cfg, schemas.READINGS, df, version, ["meter_id", "ts", "kwh"], now)
    return results, {r["column"]: r for r in described.collect()}, by_rules, by_stats


def _assert_whole(spark, cfg, results, described):
    """The results equal a recompute over the whole table."""
    df, _ = _readings(spark, cfg)
    day_rules = [r for r in cfg.validation.rules if r.day]
    assert results == rules.evaluate_rules({schemas.READINGS: df}, day_rules)
    whole = {r["column"]: r for r in stats.column_stats(df, ["meter_id", "ts", "kwh"]).collect()}
    for column, want in whole.items():
        got = described[column]
        for key in ("count", "nulls", "min", "max", "min_text", "max_text", "dtype"):
            assert got[key] == want[key], (column, key)
        for key in ("mean", "std"):
            assert got[key] == (pytest.approx(want[key], rel=1e-12) if want[key] is not None else None), (column, key)


def _kept(spark, cfg):
    rows = spark.read.format("delta").load(cfg.paths.table(schemas.DATA_RULE_DAYS)).collect()
    moments = spark.read.format("delta").load(cfg.paths.table(schemas.DATA_STATS_DAYS)).collect()
    return ({(r["rule"], r["day"]): (r["computed_at"], r["delta_version"]) for r in rows},
            {(r["column"], r["day"]): (r["computed_at"], r["delta_version"]) for r in moments})


def test_only_the_days_an_ingest_replaced_are_checked_again_and_sums_equal_the_whole(spark, lake):
    cfg, load = lake
    first_at = dt.datetime(2026, 6, 10, 8)
    results, described, by_rules, by_stats = _gate(spark, cfg, first_at)
    assert by_rules.whole and by_rules.plan.reason == "no previous state" and by_stats.whole
    assert {r.rule: r.offending for r in results} == {"intervals": 0, "complete": 1, "small": 0}
    _assert_whole(spark, cfg, results, described)
    rule_days, stat_days = _kept(spark, cfg)
    assert {d for _, d in rule_days} == set(DAYS[:4])

    # a corrected day (M1 now misses 30 values, M2 reads 7 kWh once) and a new day, each a daily ingest
    load(_day(DAYS[2], lambda i, s: ... if i == 1 and s < 30 else (7.0 if (i, s) == (2, 5) else 0.5)), DAYS[2], DAYS[2])
    load(_day(DAYS[4], lambda i, s: 0.06 * s if i else None), DAYS[4], DAYS[4])  # M1, M2 >= 5 from slot 84
    second_at = first_at + dt.timedelta(days=1)
    results, described, by_rules, by_stats = _gate(spark, cfg, second_at)
    _, version = _readings(spark, cfg)
    for refresh in (by_rules, by_stats):
        assert not refresh.whole and refresh.plan.windows == ((DAYS[2], DAYS[2]), (DAYS[4], DAYS[4]))
        assert refresh.version == version and refresh.since == version - 2
    assert {r.rule: (r.offending, r.checked) for r in results} == {
        "intervals": (0, 15), "complete": (3, 15), "small": (1 + 2 * 12, 15 * 96 - 30)}
    _assert_whole(spark, cfg, results, described)
    assert described["kwh"]["quantiles"] is not None  # of the two days read again

    # the untouched days keep the rows the first run computed; the changed days were computed again
    again_rules, again_stats = _kept(spark, cfg)
    for kept, again in ((rule_days, again_rules), (stat_days, again_stats)):
        for (name, day), (at, v) in again.items():
            if day in (DAYS[2], DAYS[4]):
                assert (at, v) == (second_at, version)
            else:
                assert (at, v) == kept[(name, day)] == (first_at, version - 2)

    # nothing new: nothing is computed or written again, the sums stand
    table_version = lakehouse.version(spark, cfg.paths.table(schemas.DATA_RULE_DAYS))
    again, described, by_rules, _ = _gate(spark, cfg, second_at + dt.timedelta(hours=1))
    assert by_rules.plan.windows == () and again == results
    assert lakehouse.version(spark, cfg.paths.table(schemas.DATA_RULE_DAYS)) == table_version
    _assert_whole(spark, cfg, again, described)


def test_a_change_the_ingest_log_does_not_explain_recomputes_everything_and_says_so(spark, lake, capsys):
    cfg, _ = lake
    first = data.run(spark, cfg)
    assert [d.plan.reason for d in first.refreshed] == ["no previous state", "no previous state"]
    assert {r.rule: r.offending for r in first.rules} == {"intervals": 0, "complete": 1, "small": 0,
                                                          "one_reading": 0}

    # a hand-made overwrite of readings (the first day removed), with no ingest_log row
    df, version = _readings(spark, cfg)
    rpath = cfg.paths.table(schemas.READINGS)
    lakehouse.write(df.where(F.to_date("ts") != F.lit(DAYS[0])), rpath, schemas.READINGS,
                    schema=schemas.bronze_schema(schemas.READINGS))
    second = data.run(spark, cfg)
    why = f"version {version + 1} (WRITE) is not in ingest_log"
    assert [(d.part, d.whole, d.plan.reason) for d in second.refreshed] == [
        (days.STATISTICS, True, why), (days.RULES, True, why)]
    assert f"recomputed everything ({why})" in capsys.readouterr().out
    row = spark.read.format("delta").load(cfg.paths.table(stats.DATA_STATS)).where(
        (F.col("run_id") == second.run_id) & (F.col("column") == "kwh")).first()
    assert row["count"] == 3 * 96 * 3 and row["delta_version"] == version + 1
    results, described, _, _ = _gate(spark, cfg, dt.datetime(2026, 7, 1))
    assert results == [r for r in second.rules if r.rule != "one_reading"]
    _assert_whole(spark, cfg, results, described)
    kept = spark.read.format("delta").load(cfg.paths.table(schemas.DATA_RULE_DAYS))
    assert DAYS[0] not in {r["day"] for r in kept.collect()}


def test_merged_day_moments_equal_the_whole_column(spark):
    rows = [(D0, 1.0, "b"), (D0, None, None), (DAYS[1], 4.0, "a"), (DAYS[2], None, "c"), (DAYS[3], 2.5, None),
            (DAYS[3], -3.0, "z"), (DAYS[3], 10.0, "b")]
    df = spark.createDataFrame(rows, "day date, x double, s string")
    merged = {r["column"]: r for r in stats.merge_moments(stats.day_moments(df, ["x", "s"], F.col("day"))).collect()}
    whole = {r["column"]: r for r in stats.column_stats(df, ["x", "s"]).collect()}
    for c in ("x", "s"):
        for key in ("count", "nulls", "min", "max", "min_text", "max_text"):
            assert merged[c][key] == whole[c][key], (c, key)
        assert merged[c]["mean"] == pytest.approx(whole[c]["mean"]) if c == "x" else merged[c]["mean"] is None
        assert merged[c]["std"] == pytest.approx(whole[c]["std"]) if c == "x" else merged[c]["std"] is None
    one = stats.merge_moments(stats.day_moments(df.where("day = '2026-06-02'"), ["x"], F.col("day"))).first()
    assert (one["count"], one["mean"], one["std"]) == (1, 4.0, None)  # as Spark's stddev of one value


def test_day_of_a_rule_is_checked_at_load(tmp_path):
    with pytest.raises(ConfigError, match=r"validation.rules\[0\].day.*not used with unique"):
        make_config(tmp_path, "validation.rules=[{name: r, table: readings, unique: [meter_id, ts], "
                              "day: 'to_date(ts)'}]")
    with pytest.raises(ConfigError, match=r"validation.rules\[0\].day.*must be one of group_by"):
        make_config(tmp_path, "validation.rules=[{name: r, table: readings, group_by: [meter_id], "
                              "check: 'count(*) < 9', day: 'to_date(ts)'}]")
    with pytest.raises(ConfigError, match=r"validation.rules\[0\].day.*must be to_date\(ts\)"):
        make_config(tmp_path, "validation.rules=[{name: r, table: readings, check: 'kwh >= 0', "
                              "day: 'to_date(ts - interval 1 hour)'}]")
    with pytest.raises(ConfigError, match=r"validation.incremental.readings"):
        make_config(tmp_path, "validation.incremental={readings: 'to_date(ts)'}")
    ok = make_config(tmp_path, "validation.rules=[{name: r, table: readings, group_by: [meter_id, 'TO_DATE( ts )'], "
                               "check: 'count(*) < 97', day: 'to_date(`ts`)'}]")
    assert ok.validation.rules[0].day == "to_date(`ts`)"
    assert RuleConf(name="r", table="t", check="x > 0").day == ""
