"""Row-key layouts and scan planning of ntl_spark/io/hbase.py, without a server."""

from __future__ import annotations

import datetime as dt
import zlib

import pytest

from ntl_spark.config import ConfigError, load_config
from ntl_spark.io import hbase
from ntl_spark.io.hbase import KeyLayout, ScanTask, choose_strategy, plan_task, split_keys

METER_FIRST = KeyLayout("{meter_id}|{yyyymmdd}")
DAY_FIRST = KeyLayout("{salt}|{yyyymmdd}|{meter_id}", salt_buckets=16)
DAY = dt.date(2026, 9, 1)
WHOLE = ScanTask("r", b"", b"")


def test_salted_key_is_crc32_mod_buckets_zero_padded() -> None:
    salt = zlib.crc32(b"M000123") % 16
    assert DAY_FIRST.key("M000123", DAY) == f"{salt:02d}|20260901|M000123".encode()
    assert KeyLayout("{salt}|{yyyymmdd}|{meter_id}", salt_buckets=8).salt("M000123") == str(zlib.crc32(b"M000123") % 8)
    m = DAY_FIRST.parser.match(DAY_FIRST.key("M|7", DAY))  # a separator inside the meter id still parses
    assert m is not None and m.group("meter") == b"M|7" and m.group("day") == b"20260901"
    assert DAY_FIRST.day_major and not DAY_FIRST.meter_major
    assert METER_FIRST.meter_major and not METER_FIRST.day_major


@pytest.mark.parametrize(
    "layout, scan, has_meters, days, want",
    [
        (METER_FIRST, "auto", True, 1, "gets"),
        (METER_FIRST, "auto", True, 7, "gets"),
        (METER_FIRST, "auto", True, 90, "meter_ranges"),
        (METER_FIRST, "meters", True, 90, "meter_ranges"),
        (METER_FIRST, "auto", False, 1, "filter"),
        (METER_FIRST, "filter", True, 1, "filter"),
        (DAY_FIRST, "auto", True, 1, "day_ranges"),
        (DAY_FIRST, "meters", False, 365, "day_ranges"),
        (DAY_FIRST, "filter", False, 1, "filter"),
    ],
)
def test_choose_strategy(layout: KeyLayout, scan: str, has_meters: bool, days: int, want: str) -> None:
    assert choose_strategy(layout, scan, has_meters, days, get_max_days=7) == want


def test_meters_mode_never_falls_back_to_the_regex() -> None:
    with pytest.raises(ConfigError, match="hbase.scan=meters.*needs the list of meters"):
        choose_strategy(METER_FIRST, "meters", False, 1, get_max_days=7)


def test_meter_ranges_only_for_meters_inside_the_task() -> None:
    meters = ["M000001", "M000005", "M000009", "M000012"]
    task = ScanTask("r2", b"M000005|", b"M000010")
    plan = plan_task(task, METER_FIRST, "meter_ranges", DAY, DAY + dt.timedelta(days=89), meters)
    assert plan.row_filter is None and plan.rows_per_range == 90
    assert plan.ranges == ((b"M000005|20260901", b"M000005|20261130"), (b"M000009|20260901", b"M000009|20261130"))
    # a meter cut by the region boundary is clipped to the task's part of its range
    cut = plan_task(ScanTask("r", b"M000005|20261001", b""), METER_FIRST, "meter_ranges", DAY,
                    DAY + dt.timedelta(days=89), meters)
    assert cut.ranges[0] == (b"M000005|20261001", b"M000005|20261130") and len(cut.ranges) == 3


def test_gets_are_the_exact_keys_inside_the_task() -> None:
    meters = [f"M{i:06d}" for i in range(10)]
    plan = plan_task(ScanTask("r", b"M000003", b"M000006"), METER_FIRST, "gets", DAY, DAY + dt.timedelta(days=1),
                     meters)
    assert plan.ranges == () and plan.row_filter is None
    assert plan.keys == tuple(f"M00000{i}|2026090{d}".encode() for i in (3, 4, 5) for d in (1, 2))
    all_keys = plan_task(WHOLE, METER_FIRST, "gets", DAY, DAY, meters).keys
    assert len(all_keys) == 10 and list(all_keys) == sorted(all_keys)


def test_day_ranges_one_per_salt_inside_the_task() -> None:
    plan = plan_task(WHOLE, DAY_FIRST, "day_ranges", DAY, DAY, None)
    assert plan.ranges == tuple((f"{s:02d}|20260901|".encode(), f"{s:02d}|20260902|".encode()) for s in range(16))
    part = plan_task(ScanTask("r", b"04", b"08"), DAY_FIRST, "day_ranges", DAY, DAY + dt.timedelta(days=29), None)
    assert part.ranges == tuple((f"{s:02d}|20260901|".encode(), f"{s:02d}|20261001|".encode()) for s in range(4, 8))
    unsalted = plan_task(WHOLE, KeyLayout("{yyyymmdd}|{meter_id}"), "day_ranges", DAY, DAY, ["M1"])
    assert unsalted.ranges == ((b"20260901|", b"20260902|"),)


def test_filter_scans_the_whole_task_with_the_regex() -> None:
    task = ScanTask("r", b"M1", b"M5")
    plan = plan_task(task, METER_FIRST, "filter", DAY, DAY, ["M2"])
    assert plan.ranges == ((b"M1", b"M5"),) and plan.row_filter is not None and "20260901" in plan.row_filter
    day_first = plan_task(WHOLE, DAY_FIRST, "filter", DAY, DAY, None).row_filter
    assert day_first is not None and r"^\d{2}\|(?:20260901)\|.+$" in day_first


def test_salted_tables_split_by_salt() -> None:
    assert split_keys([], 4, DAY_FIRST) == [b"04", b"08", b"12"]
    assert split_keys([], 64, DAY_FIRST) == [f"{s:02d}".encode() for s in range(1, 16)]
    assert split_keys(["M1", "M2", "M3", "M4"], 2, METER_FIRST) == [b"M3|"]


@pytest.mark.parametrize(
    "overrides, message",
    [
        (["hbase.scan=regex"], "hbase.scan"),
        (["hbase.key_pattern='{salt}|{yyyymmdd}|{meter_id}'"], "hbase.salt_buckets"),
        (["hbase.salt_buckets=8"], "hbase.salt_buckets"),
        (["hbase.key_pattern='{yyyymmdd}|{salt}|{meter_id}'", "hbase.salt_buckets=8"], "must be the first field"),
    ],
)
def test_bad_scan_settings_fail_at_load(overrides: list[str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_config("test", overrides)


def test_day_first_settings_load() -> None:
    cfg = load_config("test", ["hbase.key_pattern='{salt}|{yyyymmdd}|{meter_id}'", "hbase.salt_buckets=16"])
    assert KeyLayout.of(cfg.hbase) == DAY_FIRST


def test_cell_values_decode_as_the_contract_says() -> None:
    import numpy as np

    from ntl_spark.io.hbase import decode_values

    # decimal text: empty = missing; the fast path and the value-by-value fallback agree
    clean = np.array([b"1.5", b"", b"0.25", b"1e-3", b"7"], dtype=object)
    np.testing.assert_array_equal(decode_values(clean, "string"), [1.5, np.nan, 0.25, 0.001, 7.0])
    messy = np.array([b" 2.5", b"abc", b"\xff", b"", b"3"], dtype=object)  # spaces parse; junk is missing
    np.testing.assert_array_equal(decode_values(messy, "string"), [2.5, np.nan, np.nan, np.nan, 3.0])
    # 8-byte big-endian doubles: other lengths are missing
    packed = np.array([np.float64(4.5).byteswap().tobytes() if np.little_endian else np.float64(4.5).tobytes(),
                       b"", b"\x00"], dtype=object)
    np.testing.assert_array_equal(decode_values(packed, "double"), [4.5, np.nan, np.nan])
    assert decode_values(np.array([], dtype=object), "string").shape == (0,)


def test_connector_auth_failures_are_named_and_other_errors_are_not():
    # the texts HBase 2.6's client raised against the Kerberos-secured server of scripts/services.sh
    no_login = ("java.io.IOException: Call to address=127.0.0.1:16020 failed on local exception: "
                "java.io.IOException: java.lang.RuntimeException: Found no valid authentication method from options")
    assert "no Kerberos credentials" in hbase.connector_auth_failure(no_login)
    bad_ticket = "javax.security.sasl.SaslException: GSS initiate failed [Caused by GSSException: ...]"
    assert "handshake failed" in hbase.connector_auth_failure(bad_ticket)
    assert hbase.connector_auth_failure("org.apache.hadoop.hbase.TableNotFoundException: readings") is None


def test_a_missing_connector_jar_is_recognised():
    fmt = "org.apache.hadoop.hbase.spark"
    # what Spark 3.5 raised for hbase.reader=connector without the jars
    assert hbase.connector_missing("org.apache.spark.SparkClassNotFoundException: [DATA_SOURCE_NOT_FOUND] Failed "
                                   f"to find the data source: {fmt}.", fmt)
    assert hbase.connector_missing(f"java.lang.ClassNotFoundException: {fmt}.DefaultSource", fmt)
    assert not hbase.connector_missing("java.lang.ClassNotFoundException: org.apache.zookeeper.Watcher", fmt)
