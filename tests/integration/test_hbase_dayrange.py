"""Day-window reads against the real HBase of scripts/services.sh: both row-key layouts.

Only HBase is started here (``scripts/services.sh start hbase``, idempotent);
each test module uses its own tables. The tables are small (40 meters x 5
days), so the module runs in seconds once the servers are up.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import os
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from ntl_spark import lakehouse, schemas
from ntl_spark.config import Config, HbaseConf
from ntl_spark.ingest import hbase_meters, read_source
from ntl_spark.io import hbase
from tests.conftest import make_config, start_services
from tests.integration.test_sources import checksum, make_readings

os.environ.setdefault("PYSPARK_PYTHON", sys.executable)

pytestmark = pytest.mark.services

FIRST = dt.date(2026, 8, 30)
DAY = dt.date(2026, 9, 1)
METERS = 40
DAYS = 5
DAY_FIRST = "{salt}|{yyyymmdd}|{meter_id}"


@pytest.fixture(scope="module")
def hbase_cfg(test_root: Path) -> Config:
    """The test configuration pointing at this checkout's HBase (started if it is not running)."""
    env = start_services("hbase")
    return make_config(test_root / "dayrange", f"hbase.host={env['NTL_SERVICES_HOST']}",
                       f"hbase.port={env['NTL_HBASE_THRIFT_PORT']}")


def _load(hb: HbaseConf, data: pd.DataFrame, events: pd.DataFrame) -> None:
    hbase.create_table(hb, data["meter_id"].unique(), regions=4, replace=True)
    hbase.write_readings(hb, data)
    hbase.write_events(hb, events)


def _drop(hb: HbaseConf) -> None:
    conn = hbase.connect(hb)
    try:
        conn.delete_table(hb.table, disable=True)
    finally:
        conn.close()


EVENTS = pd.DataFrame({
    "meter_id": ["M000001", "M000001", "M000039", "M000020"],
    "ts": pd.to_datetime(["2026-09-01 00:00:00", "2026-09-01 13:04:05", "2026-09-01 23:59:59", "2026-08-31 10:00:00"]),
    "code": ["COVER_OPEN", "MAGNETIC_TAMPER", "POWER_FAIL", "CLOCK_SET"],
})


@pytest.fixture(scope="module", params=["meter_first", "day_first"])
def table(request: pytest.FixtureRequest, hbase_cfg: Config) -> Iterator[tuple[HbaseConf, pd.DataFrame]]:
    hb = dataclasses.replace(hbase_cfg.hbase, table=f"t_dayrange_{uuid.uuid4().hex[:8]}", tasks_per_region=1,
                             retries=1, retry_backoff_s=0.2)
    if request.param == "day_first":
        hb = dataclasses.replace(hb, key_pattern=DAY_FIRST, salt_buckets=8)
    data = make_readings(METERS, DAYS, FIRST, seed=3)
    _load(hb, data, EVENTS)
    yield hb, data
    _drop(hb)


def _day(data: pd.DataFrame, day: dt.date, meters: list[str] | None = None) -> pd.DataFrame:
    rows = data[data["ts"].dt.date == day]
    return rows if meters is None else rows[rows["meter_id"].isin(meters)]


def _same(got: pd.DataFrame, want: pd.DataFrame) -> None:
    assert checksum(got) == checksum(want)
    merged = want.merge(got, on=["meter_id", "ts"], how="outer", suffixes=("_in", "_out"), indicator=True)
    assert (merged["_merge"] == "both").all()


def test_one_day_returns_exactly_that_day(spark, table) -> None:  # noqa: ANN001
    hb, data = table
    stats = hbase.ScanStats.create(spark)
    got = hbase.read_readings(spark, hb, DAY, DAY, stats=stats).toPandas()
    _same(got, _day(data, DAY))
    if hb.salt_buckets > 1:  # the day is one key range per salt: no regex, no other day read
        assert stats.summary() | {"rows": 0} == {
            "strategy": "day_ranges", "tasks": 4, "scans": 8, "filtered_scans": 0, "gets": 0, "rows": 0,
            "skipped_rows": 0, "skipped_meters": 0}
        assert stats.rows.value == METERS
    else:  # no meter list on a meter-first table: the regex over every row (what scan=filter forces)
        assert stats.strategy == "filter" and stats.filtered_scans.value == 4


def test_meter_list_never_uses_the_regex(spark, table) -> None:  # noqa: ANN001
    hb, data = table
    meters = ["M000000", "M000013", "M000027", "M000039", "M999999"]
    for days, strategy in ((1, "gets"), (3, "meter_ranges")):
        end = DAY + dt.timedelta(days=days - 1)
        stats = hbase.ScanStats.create(spark)
        got = hbase.read_readings(spark, dataclasses.replace(hb, get_max_days=1), DAY, end, meters,
                                  stats=stats).toPandas()
        want = data[(data["ts"].dt.date >= DAY) & (data["ts"].dt.date <= end) & data["meter_id"].isin(meters)]
        _same(got, want)
        assert stats.filtered_scans.value == 0
        if hb.salt_buckets > 1:
            # day ranges read every meter of the days; the 36 not listed are dropped and counted
            assert (stats.strategy, stats.scans.value) == ("day_ranges", 8)
            assert stats.skipped_meters.value == {f"M{i:06d}" for i in range(METERS)} - set(meters)
            assert stats.skipped_rows.value == (METERS - 4) * days
        else:
            assert stats.strategy == strategy and stats.skipped_rows.value == 0
            # gets: one request per region holding a listed meter; ranges: one scan per listed meter
            assert (stats.gets.value, stats.scans.value) == ((4, 0) if strategy == "gets" else (0, 5))


def test_filter_switch_forces_the_regex(spark, table) -> None:  # noqa: ANN001
    hb, data = table
    stats = hbase.ScanStats.create(spark)
    got = hbase.read_readings(spark, dataclasses.replace(hb, scan="filter"), DAY, DAY, ["M000003"],
                              stats=stats).toPandas()
    _same(got, _day(data, DAY, ["M000003"]))
    assert stats.strategy == "filter" and stats.filtered_scans.value == 4
    assert len(stats.skipped_meters.value) == METERS - 1


def test_events_by_day(spark, table) -> None:  # noqa: ANN001
    hb, _ = table
    got = hbase.read_events(spark, hb, DAY, DAY).toPandas().sort_values(["meter_id", "ts"])
    assert got["code"].tolist() == ["COVER_OPEN", "MAGNETIC_TAMPER", "POWER_FAIL"]
    listed = hbase.read_events(spark, hb, DAY, DAY, ["M000001", "M000020"]).toPandas()
    assert sorted(listed["code"]) == ["COVER_OPEN", "MAGNETIC_TAMPER"]


def test_day_first_keys_and_regions(table) -> None:  # noqa: ANN001
    hb, _ = table
    if hb.salt_buckets == 1:
        pytest.skip("meter-first table")
    regions = hbase.table_regions(hb)
    assert [r["start_key"] for r in sorted(regions, key=lambda r: r["start_key"])] == [b"", b"2", b"4", b"6"]
    conn = hbase.connect(hb)
    try:
        keys = [k for k, _ in conn.table(hb.table).scan(row_prefix=b"0|20260901|", columns=[b"q:00"])]
    finally:
        conn.close()
    layout = hbase.KeyLayout.of(hb)
    assert keys == sorted(layout.key(m, DAY) for m in {f"M{i:06d}" for i in range(METERS)}
                          if layout.salt(m) == "0")


def test_ingest_reads_the_customers_meters(spark, hbase_cfg: Config, caplog: pytest.LogCaptureFixture) -> None:  # noqa: ANN001
    hb = dataclasses.replace(hbase_cfg.hbase, table=f"t_ingest_{uuid.uuid4().hex[:8]}")
    data = make_readings(12, 2, DAY, seed=4)
    _load(hb, data, EVENTS.iloc[:0])
    try:
        cfg = dataclasses.replace(hbase_cfg, hbase=hb, ingest=dataclasses.replace(hbase_cfg.ingest, source="hbase"))
        assert hbase_meters(spark, cfg) is None  # no customers table yet: no list
        assert hbase_meters(spark, dataclasses.replace(cfg, hbase=dataclasses.replace(hb, scan="filter"))) is None
        customers = spark.createDataFrame(
            [(f"C{i}", m, "smart") for i, m in enumerate(["M000001", "M000004", "M000100"])]
            + [("C9", None, "conventional"), ("C10", " ", "smart")],
            "customer_id string, meter_id string, meter_type string",
        )
        full = customers.selectExpr("*", "'MONTEVIDEO' region", "'residential' tariff", "1.0 contracted_kw",
                                    "'a' activity", "cast(null as double) latitude", "cast(null as double) longitude",
                                    "date'2020-01-01' connected_on", "'active' status")
        lakehouse.write(lakehouse.conform_to(full, schemas.CUSTOMERS_SCHEMA, "customers"),
                        cfg.paths.table(schemas.CUSTOMERS), schemas.CUSTOMERS)
        meters = hbase_meters(spark, cfg)
        assert meters is not None and meters.meter_ids == ("M000001", "M000004", "M000100")
        assert meters.customers_without_meter == 2
        # a run that ingests customers too reads the meters of its own customers source (a text source here)
        text = customers.where("meter_id = 'M000004'").selectExpr("*", "'1.5' contracted_kw")
        this_run = hbase_meters(spark, cfg, (text, True, "csv:customers"))
        assert this_run is not None and this_run.meter_ids == ("M000004",) and "csv:customers" in this_run.source
        with caplog.at_level(logging.INFO, logger="ntl_spark"):
            raw, _, _ = read_source(spark, cfg, schemas.READINGS, DAY, DAY)
        got = raw.toPandas()
        _same(got, _day(data, DAY, ["M000001", "M000004"]))  # the other 10 meters are not read
        assert "strategy gets (3 meters)" in caplog.text
        assert "reading the 3 meters of the customers table v0" in caplog.text
    finally:
        _drop(hb)
