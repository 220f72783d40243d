from __future__ import annotations

import datetime as dt
import logging

import pytest
from pyspark.sql import functions as F
from pyspark.sql.types import LongType, StringType, StructField, StructType

from ntl_spark import ingest, schemas
from ntl_spark.errors import DataError
from tests.conftest import make_config

D = dt.date


def bills(spark, rows, schema=schemas.BILLS_SCHEMA):
    return spark.createDataFrame(rows, schema)


def reasons(df):
    return {r["customer_id"]: r["_reason"] for r in df.collect()}


def test_missing_column_stops_with_its_name(spark):
    df = bills(spark, [("A", D(2026, 1, 1), 1.0, 30, "actual")]).drop("kwh")
    with pytest.raises(DataError, match="kwh"):
        ingest.conform(df, schemas.BILLS, text_source=False)


def test_retyped_column_stops_with_its_name(spark):
    df = bills(spark, [("A", D(2026, 1, 1), 1.0, 30, "actual")])
    df = df.withColumn("kwh", df["kwh"].cast("string"))
    with pytest.raises(DataError, match=r"'kwh' has type string, expected double"):
        ingest.conform(df, schemas.BILLS, text_source=False)


def test_unexpected_column_stops_with_its_name_when_extra_columns_fail(spark):
    df = bills(spark, [("A", D(2026, 1, 1), 1.0, 30, "actual")]).withColumn("tariff_code", ingest.F.lit(1))
    with pytest.raises(DataError, match="tariff_code.*ingest.extra_columns=drop"):
        ingest.conform(df, schemas.BILLS, text_source=False, extra_columns="fail")


def test_unexpected_column_is_dropped_when_extra_columns_drop(spark):
    df = bills(spark, [("A", D(2026, 1, 1), 1.0, 30, "actual")]).withColumn("tariff_code", ingest.F.lit(1))
    assert ingest.check_schema(df, schemas.BILLS_SCHEMA, schemas.BILLS, extra_columns="drop") == ["tariff_code"]
    out = ingest.conform(df, schemas.BILLS, text_source=False, extra_columns="drop")
    assert out.columns == schemas.BILLS_SCHEMA.fieldNames() + ["_reason"]
    assert [r["_reason"] for r in out.collect()] == [None]


def test_missing_column_stops_even_when_extra_columns_drop(spark):
    df = bills(spark, [("A", D(2026, 1, 1), 1.0, 30, "actual")]).drop("days").withColumn("x", ingest.F.lit(1))
    with pytest.raises(DataError, match="days"):
        ingest.conform(df, schemas.BILLS, text_source=False, extra_columns="drop")


def test_negative_kwh_and_bad_values_are_quarantined_with_reason(spark):
    df = bills(spark, [
        ("A", D(2026, 1, 1), 10.0, 30, "actual"),
        ("B", D(2026, 1, 1), -5.0, 30, "actual"),
        ("C", D(2026, 1, 15), 5.0, 30, "guessed"),
    ])
    got = reasons(ingest.conform(df, schemas.BILLS, text_source=False))
    assert got["A"] is None
    assert got["B"] == "kwh negative"
    assert "read_type not in actual/estimated" in got["C"]
    assert "period not the first day of a month" in got["C"]


def test_a_bigint_past_the_int_range_is_quarantined_not_wrapped(spark):
    # Parquet int64 is accepted for bills.days; Spark's cast would turn 2**32 + 30 into 30
    schema = StructType([f if f.name != "days" else StructField("days", LongType()) for f in schemas.BILLS_SCHEMA])
    df = bills(spark, [("A", D(2026, 1, 1), 10.0, 30, "actual"), ("B", D(2026, 1, 1), 10.0, 2**32 + 30, "actual")],
               schema)
    got = ingest.conform(df, schemas.BILLS, text_source=False).collect()
    assert {r["customer_id"]: (r["days"], r["_reason"]) for r in got} == {
        "A": (30, None), "B": (None, "days: 4294967326 is outside the int range")}


def test_duplicate_bills(spark):
    df = bills(spark, [
        ("A", D(2026, 1, 1), 10.0, 30, "actual"),
        ("A", D(2026, 1, 1), 10.0, 30, "actual"),   # exact copy: one kept
        ("B", D(2026, 1, 1), 10.0, 30, "actual"),
        ("B", D(2026, 1, 1), 12.0, 30, "actual"),   # conflicting: both out
    ])
    out = ingest.conform(df, schemas.BILLS, text_source=False).collect()
    a = sorted((r["_reason"] or "") for r in out if r["customer_id"] == "A")
    b = [r["_reason"] for r in out if r["customer_id"] == "B"]
    assert a == ["", "duplicate row"]
    assert b == ["conflicting duplicate key (customer_id, period)"] * 2


def test_csv_text_that_does_not_parse_is_quarantined(spark):
    text = StructType([StructField(f.name, StringType()) for f in schemas.BILLS_SCHEMA.fields])
    df = spark.createDataFrame(
        [("A", "2026-01-01", "12.5", "30", "actual"), ("B", "2026-01-01", "lots", "30", "actual")], text
    )
    out = ingest.conform(df, schemas.BILLS, text_source=True)
    got = reasons(out)
    assert got["A"] is None
    assert got["B"] == "kwh: cannot parse 'lots' as double"
    types = [(f.name, f.dataType) for f in out.schema.fields]
    assert types == [(f.name, f.dataType) for f in schemas.BILLS_SCHEMA.fields] + [("_reason", StringType())]


def test_rename_maps_source_names(spark):
    df = bills(spark, [("A", D(2026, 1, 1), 1.0, 30, "actual")]).withColumnRenamed("kwh", "KWH_FACT")
    out = ingest.rename_columns(df, {"KWH_FACT": "kwh"})
    assert "kwh" in out.columns


# ------------------------------------------------------------ text sources
LOCAL = "yyyy-MM-dd HH:mm:ss"  # timestamps are compared as wall-clock text of the session zone (America/Montevideo)


def as_text(spark, table, rows):
    schema = StructType([StructField(f.name, StringType()) for f in schemas.SOURCE_SCHEMAS[table].fields])
    return spark.createDataFrame(rows, schema)


def by_key(df, key, *cols):
    return {r[key]: tuple(r[c] for c in cols) for r in df.collect()}


def test_iso_8601_timestamps_parse_and_offsets_become_local_time(spark):
    raw = as_text(spark, schemas.READINGS, [
        ("T", "2026-09-30T11:30:00", "0.1"),
        ("SPACE", "2026-09-30 11:30:00", "0.1"),
        ("FRACTION", "2026-09-30 11:30:00.000", "0.1"),
        ("NO_SECONDS", "2026-09-30T11:30", "0.1"),
        ("OFFSET", "2026-09-01T00:15:00-03:00", "0.1"),
        ("ZULU", "2026-09-01T03:15:00Z", "0.1"),
        ("PLUS", "2026-09-01 06:15:00+0300", "0.1"),
    ])
    out = ingest.conform(raw, schemas.READINGS, text_source=True)
    got = by_key(out.select("meter_id", F.date_format("ts", LOCAL).alias("ts"), "_reason"), "meter_id", "ts", "_reason")
    assert got == {
        "T": ("2026-09-30 11:30:00", None),
        "SPACE": ("2026-09-30 11:30:00", None),
        "FRACTION": ("2026-09-30 11:30:00", None),
        "NO_SECONDS": ("2026-09-30 11:30:00", None),
        "OFFSET": ("2026-09-01 00:15:00", None),
        "ZULU": ("2026-09-01 00:15:00", None),
        "PLUS": ("2026-09-01 00:15:00", None),
    }


def test_text_that_is_not_iso_8601_is_quarantined_not_guessed(spark):
    raw = as_text(spark, schemas.READINGS, [
        ("MONTH", "2026-09", "0.1"),
        ("DMY", "01/09/2026 00:15", "0.1"),
        ("SHORT", "2026-9-1 1:2:3", "0.1"),
        ("DATE", "2026-09-01", "0.1"),
    ])
    got = reasons_of(ingest.conform(raw, schemas.READINGS, text_source=True), "meter_id")
    assert got == {k: f"ts: cannot parse '{v}' as timestamp" for k, v in
                   [("MONTH", "2026-09"), ("DMY", "01/09/2026 00:15"), ("SHORT", "2026-9-1 1:2:3"),
                    ("DATE", "2026-09-01")]}


def test_dates_are_yyyy_mm_dd(spark):
    raw = as_text(spark, schemas.BILLS, [
        ("A", "2026-09-01", "1", "30", "actual"),
        ("B", "2026-09-01T00:00:00", "1", "30", "actual"),
        ("C", "01/09/2026", "1", "30", "actual"),
        ("D", "2026-02-30", "1", "30", "actual"),
    ])
    got = reasons_of(ingest.conform(raw, schemas.BILLS, text_source=True), "customer_id")
    assert got["A"] is None
    for key, value in [("B", "2026-09-01T00:00:00"), ("C", "01/09/2026"), ("D", "2026-02-30")]:
        assert got[key].startswith(f"period: cannot parse '{value}' as date"), got[key]


def test_timestamp_and_date_formats_override_iso(spark):
    raw = as_text(spark, schemas.EVENTS, [("A", "01/09/2026 00:15", "COVER_OPEN"),
                                          ("B", "2026-09-01 00:15:00.5", "COVER_OPEN")])
    out = ingest.conform(raw, schemas.EVENTS, text_source=True, timestamp_format="dd/MM/yyyy HH:mm")
    got = by_key(out.select("meter_id", F.date_format("ts", LOCAL).alias("ts"), "_reason"), "meter_id", "ts", "_reason")
    assert got["A"] == ("2026-09-01 00:15:00", None)
    assert got["B"] == (None, "ts: cannot parse '2026-09-01 00:15:00.5' as timestamp")  # null and quarantined, no crash
    raw = as_text(spark, schemas.BILLS, [("A", "01/09/2026", "1", "30", "actual")])
    out = ingest.conform(raw, schemas.BILLS, text_source=True, date_format="dd/MM/yyyy")
    assert [(r["period"], r["_reason"]) for r in out.collect()] == [(D(2026, 9, 1), None)]


def reasons_of(df, key):
    return {r[key]: r["_reason"] for r in df.collect()}


def test_a_column_where_no_value_parses_stops_naming_column_sample_and_key(spark):
    raw = as_text(spark, schemas.READINGS, [("M1", "01/09/2026 00:15", "0.1"), ("M1", "01/09/2026 00:30", None)])
    with pytest.raises(DataError, match=r"readings: .*'ts'.*'01/09/2026 00:\d\d'.*ingest.csv_timestamp_format"):
        ingest.check_text_parses(raw, schemas.READINGS_SCHEMA, schemas.READINGS)
    ingest.check_text_parses(raw, schemas.READINGS_SCHEMA, schemas.READINGS, timestamp_format="dd/MM/yyyy HH:mm")

    bills_raw = as_text(spark, schemas.BILLS, [("A", "01/09/2026", "1", "30", "actual")])
    with pytest.raises(DataError, match=r"bills: .*'period'.*'01/09/2026'.*ingest.csv_date_format"):
        ingest.check_text_parses(bills_raw, schemas.BILLS_SCHEMA, schemas.BILLS)
    comma = as_text(spark, schemas.BILLS, [("A", "2026-09-01", "12,5", "30", "actual")])
    with pytest.raises(DataError, match=r"bills: .*'kwh'.*'12,5'.*decimal separator.*ingest.rename.bills"):
        ingest.check_text_parses(comma, schemas.BILLS_SCHEMA, schemas.BILLS)


def test_partial_parse_failures_and_empty_columns_do_not_stop(spark):
    raw = as_text(spark, schemas.READINGS, [("M1", "garbage", None), ("M1", "2026-09-01 00:15:00", None)])
    ingest.check_text_parses(raw, schemas.READINGS_SCHEMA, schemas.READINGS)  # kwh all empty: nulls, not a format
    got = ingest.conform(raw, schemas.READINGS, text_source=True).collect()
    assert sorted(r["_reason"] or "" for r in got) == ["", "ts: cannot parse 'garbage' as timestamp"]


@pytest.mark.parametrize("value", ["0,047", "1,234.5", "-3,5"])
def test_a_number_with_a_comma_stops_even_when_other_values_parse(spark, value):
    # a decimal-comma export read with ';': its integers parse, the rest would be quarantined one by one
    raw = as_text(spark, schemas.BILLS, [("A", "2026-01-01", "103", "30", "actual"),
                                         ("B", "2026-01-01", value, "30", "actual")])
    with pytest.raises(DataError, match=rf"bills: column 'kwh' holds numbers with a comma \(e.g. '{value}'\).*"
                                        r"numbers need '\.' as the decimal separator"):
        ingest.check_text_parses(raw, schemas.BILLS_SCHEMA, schemas.BILLS)


def test_truncated_csv_line_leaves_required_bill_columns_empty(spark):
    raw = as_text(spark, schemas.BILLS, [("A", "2026-09-01", "120.5", "30", "actual"),
                                         ("B", "2026-09-01", "12", None, None),
                                         ("C", "2026-09-01", None, None, None)])
    got = reasons_of(ingest.conform(raw, schemas.BILLS, text_source=True), "customer_id")
    assert got == {"A": None, "B": "days is null; read_type is null", "C": "kwh is null; days is null; read_type is null"}


# ------------------------------------------------------------ contract rules
NOW = dt.datetime(2026, 10, 1, 12, 0)
LIMITS = ingest.ContractLimits(
    max_kwh_per_bill=1e6, max_kwh_per_interval=1e3, regions=("NORTE", "SUR"), tariffs=("residential",),
    bbox=(-35.1, -30.0, -58.5, -53.0), now=NOW, future_tolerance=dt.timedelta(days=1), intervals_per_day=96,
)


CONNECTED = D(2020, 1, 1)


def customer(cid, region="NORTE", tariff="residential", lat=-31.0, lon=-56.0, connected=CONNECTED, meter=None):
    return (cid, meter, "smart" if meter else "conventional", region, tariff, 3.0, "x", lat, lon, connected, "active")


def test_customer_region_tariff_coordinates_and_future_connection(spark):
    df = spark.createDataFrame([
        customer("OK"),
        customer("NO_GEO", lat=None, lon=None),
        customer("REGION", region="ATLANTIDA"),
        customer("TARIFF", tariff="industrial"),
        customer("LAT", lat=-25.0),
        customer("LON", lon=-60.0),
        customer("TODAY", connected=D(2026, 10, 1)),
        customer("FUTURE", connected=D(2026, 10, 2)),
    ], schemas.CUSTOMERS_SCHEMA)
    got = reasons_of(ingest.conform(df, schemas.CUSTOMERS, False, LIMITS), "customer_id")
    box = "coordinates outside lat -35.1..-30, lon -58.5..-53"
    assert got == {
        "OK": None, "NO_GEO": None, "TODAY": None,
        "REGION": "region not in ingest.regions",
        "TARIFF": "tariff not in ingest.tariffs",
        "LAT": box, "LON": box,
        "FUTURE": "connected_on after the ingest date",
    }
    any_vocabulary = ingest.ContractLimits(regions=(), tariffs=())
    assert set(reasons_of(ingest.conform(df, schemas.CUSTOMERS, False, any_vocabulary), "customer_id").values()) == {None}


def test_bill_in_a_future_month_is_quarantined(spark):
    df = bills(spark, [("A", D(2026, 10, 1), 1.0, 30, "actual"), ("B", D(2026, 11, 1), 1.0, 30, "actual")])
    got = reasons(ingest.conform(df, schemas.BILLS, False, LIMITS))
    assert got == {"A": None, "B": "period after the ingest date"}


def test_readings_off_the_interval_grid_or_in_the_future(spark):
    raw = as_text(spark, schemas.READINGS, [
        ("ON_GRID", "2026-09-01 00:15:00", "0.1"),
        ("MINUTE", "2026-09-01 00:07:00", "0.1"),
        ("SECOND", "2026-09-01 00:15:30", "0.1"),
        ("FRACTION", "2026-09-01 00:15:00.250", "0.1"),
        ("WITHIN_TOLERANCE", "2026-10-02 11:45:00", "0.1"),
        ("FUTURE", "2026-10-02 12:15:00", "0.1"),
    ])
    got = reasons_of(ingest.conform(raw, schemas.READINGS, True, LIMITS), "meter_id")
    assert got == {
        "ON_GRID": None, "WITHIN_TOLERANCE": None,
        "MINUTE": "ts not on the 15-minute grid",
        "SECOND": "ts not on the 15-minute grid",
        "FRACTION": "ts not on the 15-minute grid",
        "FUTURE": "ts more than 1 day(s) after the ingest time",
    }
    hourly = ingest.ContractLimits(intervals_per_day=24)
    got = reasons_of(ingest.conform(raw, schemas.READINGS, True, hourly), "meter_id")
    assert got["ON_GRID"] == "ts not on the 60-minute grid"


def test_events_in_the_future(spark):
    raw = as_text(spark, schemas.EVENTS, [("NOW", "2026-10-01 12:00:00", "COVER_OPEN"),
                                          ("FUTURE", "2026-10-03 00:00:00", "COVER_OPEN")])
    got = reasons_of(ingest.conform(raw, schemas.EVENTS, True, LIMITS), "meter_id")
    assert got == {"NOW": None, "FUTURE": "ts more than 1 day(s) after the ingest time"}


KEYS_SCHEMA = StructType([StructField("customer_id", StringType()), StructField("meter_id", StringType()),
                          StructField("connected_on", schemas.CUSTOMERS_SCHEMA["connected_on"].dataType)])


def customer_keys(spark):
    return spark.createDataFrame([("A", "M1", D(2024, 1, 1)), ("B", None, D(2025, 6, 1))], KEYS_SCHEMA)


def inspection(iid, cid, day, recovered=None):
    return (iid, cid, day, "irregular", "bypass", recovered, None)


def test_inspections_negative_recovery_before_connection_future_and_unknown_customer(spark):
    df = spark.createDataFrame([
        inspection("OK", "A", D(2025, 1, 1), 100.0),
        inspection("NEGATIVE", "A", D(2025, 1, 1), -5.0),
        inspection("BEFORE", "B", D(2025, 5, 31)),
        inspection("FUTURE", "A", D(2026, 10, 2)),
        inspection("UNKNOWN", "Z", D(2025, 1, 1)),
    ], schemas.INSPECTIONS_SCHEMA)
    got = reasons_of(ingest.conform(df, schemas.INSPECTIONS, False, LIMITS, customers=customer_keys(spark)),
                     "inspection_id")
    assert got == {
        "OK": None,
        "NEGATIVE": "recovered_kwh negative",
        "BEFORE": "inspected_on before the customer's connected_on",
        "FUTURE": "inspected_on after the ingest date",
        "UNKNOWN": "customer_id not in customers",
    }
    # without customers the referential rules are left out
    got = reasons_of(ingest.conform(df, schemas.INSPECTIONS, False, LIMITS), "inspection_id")
    assert got["BEFORE"] is None and got["UNKNOWN"] is None


def test_identifiers_with_surrounding_whitespace_are_quarantined_not_trimmed(spark):
    customers = spark.createDataFrame([customer("C1"), customer("C2   "), customer(" C3"),
                                       customer("C4", meter="M4\t")], schemas.CUSTOMERS_SCHEMA)
    got = reasons_of(ingest.conform(customers, schemas.CUSTOMERS, False, LIMITS), "customer_id")
    assert got == {"C1": None, "C2   ": "customer_id has leading or trailing whitespace",
                   " C3": "customer_id has leading or trailing whitespace",
                   "C4": "meter_id has leading or trailing whitespace"}
    # a padded bill names its padding, not only the customer it cannot find
    got = reasons(ingest.conform(bills(spark, [("A ", D(2026, 1, 1), 1.0, 30, "actual")]), schemas.BILLS, False,
                                 customers=customer_keys(spark)))
    assert got == {"A ": "customer_id has leading or trailing whitespace; customer_id not in customers"}


def test_nan_and_infinity_are_quarantined_under_their_own_reason(spark):
    nan, inf = float("nan"), float("inf")
    df = spark.createDataFrame([
        inspection("OK", "A", D(2025, 1, 1), 100.0),
        inspection("NAN", "A", D(2025, 1, 1), nan),
        inspection("NEG_INF", "A", D(2025, 1, 1), -inf),
    ], schemas.INSPECTIONS_SCHEMA)
    got = reasons_of(ingest.conform(df, schemas.INSPECTIONS, False, LIMITS), "inspection_id")
    assert got == {"OK": None, "NAN": "recovered_kwh is NaN or infinite", "NEG_INF": "recovered_kwh is NaN or infinite"}
    kw = [customer("OK"), customer("KW_NAN"), customer("LAT_INF", lat=inf)]
    kw[1] = kw[1][:5] + (nan,) + kw[1][6:]
    got = reasons_of(ingest.conform(spark.createDataFrame(kw, schemas.CUSTOMERS_SCHEMA), schemas.CUSTOMERS, False,
                                    LIMITS), "customer_id")
    assert got == {"OK": None, "KW_NAN": "contracted_kw is NaN or infinite", "LAT_INF": "latitude is NaN or infinite"}
    # CSV text parses "NaN" and "Infinity" as doubles; NaN would have passed as "kwh above 1000" before
    ts = "2026-09-01 00:00:00"
    raw = as_text(spark, schemas.READINGS, [("M1", ts, "NaN"), ("M2", ts, "Infinity"), ("M3", ts, "0.5")])
    got = reasons_of(ingest.conform(raw, schemas.READINGS, True, LIMITS), "meter_id")
    assert got == {"M1": "kwh is NaN or infinite", "M2": "kwh is NaN or infinite", "M3": None}


@pytest.mark.parametrize("broadcast", [True, False])
def test_bills_readings_events_must_refer_to_known_customers_and_meters(spark, broadcast):
    keys = customer_keys(spark)
    df = as_text(spark, schemas.BILLS, [("A", "2026-01-01", "1", "30", "actual"), ("Z", "2026-01-01", "1", "30", "actual"),
                                        (None, "2026-01-01", "1", "30", "actual")])
    out = ingest.conform(df, schemas.BILLS, True, customers=keys, broadcast_customers=broadcast)
    assert out.columns == schemas.BILLS_SCHEMA.fieldNames() + ["_reason"]
    assert reasons(out) == {"A": None, "Z": "customer_id not in customers", None: "customer_id is null"}
    if broadcast:
        assert "BroadcastHashJoin" in out._jdf.queryExecution().executedPlan().toString()

    raw = as_text(spark, schemas.READINGS, [("M1", "2026-09-01 00:15:00", "0.1"), ("M9", "2026-09-01 00:15:00", "0.1")])
    got = reasons_of(ingest.conform(raw, schemas.READINGS, True, customers=keys, broadcast_customers=broadcast),
                     "meter_id")
    assert got == {"M1": None, "M9": "meter_id not in customers"}
    raw = as_text(spark, schemas.EVENTS, [("M1", "2026-09-01 00:15:00", "POWER_FAIL"),
                                          ("M9", "2026-09-01 00:15:00", "POWER_FAIL")])
    got = reasons_of(ingest.conform(raw, schemas.EVENTS, True, customers=keys, broadcast_customers=broadcast),
                     "meter_id")
    assert got == {"M1": None, "M9": "meter_id not in customers"}


def test_reference_with_repeated_keys_does_not_multiply_rows(spark):
    keys = spark.createDataFrame([("A", "M1", D(2024, 1, 1)), ("A", "M1", D(2023, 1, 1))], KEYS_SCHEMA)
    df = spark.createDataFrame([inspection("I1", "A", D(2023, 6, 1))], schemas.INSPECTIONS_SCHEMA)
    out = ingest.conform(df, schemas.INSPECTIONS, False, customers=keys).collect()
    assert [(r["inspection_id"], r["_reason"]) for r in out] == [("I1", None)]  # earliest connection counts


# --------------------------------------------------------------------- gaps
def test_gaps_in_bills_are_counted_per_customer(spark):
    df = bills(spark, [("A", D(2026, m, 1), 1.0, 30, "actual") for m in (1, 2, 4, 7)]
               + [("B", D(2026, m, 1), 1.0, 30, "actual") for m in (1, 2)]
               + [("C", D(2025, 12, 1), 1.0, 30, "actual"), ("C", D(2026, 2, 1), 1.0, 30, "actual")])
    assert ingest.gaps(df, schemas.BILLS) == {"customers_with_gaps": 2, "missing_months": 4}


def test_gaps_in_readings_are_counted_in_meter_days(spark):
    rows = [("M1", "2026-09-01 00:00:00"), ("M1", "2026-09-01 23:45:00"), ("M1", "2026-09-02 00:00:00"),
            ("M1", "2026-09-05 00:00:00"), ("M2", "2026-09-01 00:00:00")]
    df = spark.createDataFrame(rows, "meter_id string, ts string").select(
        "meter_id", F.col("ts").cast("timestamp").alias("ts"), F.lit(0.1).alias("kwh"))
    assert ingest.gaps(df, schemas.READINGS) == {"meters_with_gaps": 1, "missing_meter_days": 2}
    assert ingest.gaps(df.where("false"), schemas.READINGS) == {"meters_with_gaps": 0, "missing_meter_days": 0}
    assert ingest.gaps(df, schemas.EVENTS) == {}


# ------------------------------------------------------------ configuration
def test_limits_come_from_config_and_now_is_the_utility_wall_clock(spark, tmp_path):
    cfg = make_config(tmp_path, "ingest.regions=[SUR]", "ingest.future_tolerance_days=0.5", "windows.intervals_per_day=48")
    now = ingest.local_now(spark, dt.datetime(2026, 10, 1, 15, 0, tzinfo=dt.timezone.utc))
    assert now == dt.datetime(2026, 10, 1, 12, 0)  # America/Montevideo is UTC-3
    lim = ingest.contract_limits(cfg, now)
    assert lim.regions == ("SUR",)
    assert lim.tariffs == schemas.TARIFFS
    assert lim.bbox == (-35.1, -30.0, -58.5, -53.0)
    assert lim.future_tolerance == dt.timedelta(hours=12)
    assert lim.intervals_per_day == 48 and lim.now == now


# ------------------------------------------------------------ file sources
HEADERS = {t: ",".join(schemas.SOURCE_SCHEMAS[t].fieldNames()) for t in schemas.SOURCE_TABLES}


def write_csv(raw, table, text, name="part-00000.csv"):
    folder = raw / table
    folder.mkdir(parents=True, exist_ok=True)
    data = text if isinstance(text, bytes) else text.encode()
    (folder / name).write_bytes(data)
    return folder / name


def csv_config(root, *overrides):
    return make_config(root, "ingest.format=csv", f"ingest.input={root / 'raw'}", *overrides)


def test_latin1_file_stops_naming_file_and_offset_of_first_bad_byte(tmp_path):
    from ntl_spark.io import files

    data = b"customer_id,activity\nC1,ok\nC2,Panader\xeda\n"
    path = tmp_path / "customers.csv"
    path.write_bytes(data)
    offset = data.index(b"\xed")
    with pytest.raises(DataError, match=rf"customers.csv: not valid utf-8 at byte offset {offset} \(line 3.*ingest.encoding"):
        files.check_encoding(path, "utf-8")
    files.check_encoding(path, "latin-1")


def test_encoding_check_streams_across_chunk_boundaries(tmp_path, monkeypatch):
    from ntl_spark.io import files

    monkeypatch.setattr(files, "_CHUNK", 5)  # every multi-byte character below straddles some chunk boundary
    good = "ñandú,ação,€uro\n".encode() * 7
    path = tmp_path / "a.csv"
    path.write_bytes(good)
    files.check_encoding(path, "utf-8")
    path.write_bytes(good + b"x\xff")
    with pytest.raises(DataError, match=rf"byte offset {len(good) + 1} \(line 8, byte 0xff\)"):
        files.check_encoding(path, "utf-8")
    path.write_bytes(good + "é".encode()[:1])  # truncated character at the end of the file
    with pytest.raises(DataError, match=rf"byte offset {len(good)}"):
        files.check_encoding(path, "utf-8")


def test_csv_is_read_with_the_configured_encoding(spark, tmp_path):
    from ntl_spark.io import files

    data = b"customer_id,activity\nC1,Panader\xeda\n"
    write_csv(tmp_path, "customers", data)
    with pytest.raises(DataError, match=f"part-00000.csv: not valid utf-8 at byte offset {data.index(0xED)} "):
        files.read_files(spark, str(tmp_path), "customers", "csv", schemas.CUSTOMERS_SCHEMA)
    for encoding in ("latin-1", "cp1252", "iso-8859-15"):  # Python names; Spark (Java) spells them differently
        df = files.read_files(spark, str(tmp_path), "customers", "csv", schemas.CUSTOMERS_SCHEMA, encoding=encoding)
        assert [tuple(r) for r in df.collect()] == [("C1", "Panadería")]


def test_header_only_source_stops_unless_the_table_may_be_empty(spark, tmp_path):
    write_csv(tmp_path / "raw", "bills", HEADERS["bills"] + "\n")
    cfg = csv_config(tmp_path, "ingest.tables=[bills]")
    with pytest.raises(DataError, match=r"bills: the source has no rows \(.*bills/part-00000.csv.*ingest.allow_empty"):
        ingest.gate_source(spark, cfg, schemas.BILLS, None, None)
    cfg = csv_config(tmp_path, "ingest.tables=[bills]", "ingest.allow_empty=[events, bills]")
    raw, text_source, _ = ingest.gate_source(spark, cfg, schemas.BILLS, None, None)
    assert text_source and raw.isEmpty()


def test_extra_csv_column_is_dropped_with_a_warning_or_stops(spark, tmp_path, caplog):
    write_csv(tmp_path / "raw", "bills", HEADERS["bills"] + ",branch\nA,2026-09-01,1.5,30,actual,X\n")
    with caplog.at_level(logging.WARNING, logger="ntl_spark.ingest"):
        raw, _, _ = ingest.gate_source(spark, csv_config(tmp_path), schemas.BILLS, None, None)
    assert raw.columns == schemas.BILLS_SCHEMA.fieldNames()
    assert any("['branch']" in r.getMessage() for r in caplog.records), caplog.records
    with pytest.raises(DataError, match=r"\['branch'\]"):
        ingest.gate_source(spark, csv_config(tmp_path, "ingest.extra_columns=fail"), schemas.BILLS, None, None)


def test_gate_stops_on_a_csv_column_where_nothing_parses(spark, tmp_path):
    write_csv(tmp_path / "raw", "events", HEADERS["events"] + "\nM1,30/09/2026 11:30,COVER_OPEN\n")
    with pytest.raises(DataError, match=r"events: .*'ts'.*'30/09/2026 11:30'.*ingest.csv_timestamp_format"):
        ingest.gate_source(spark, csv_config(tmp_path), schemas.EVENTS, None, None)
    cfg = csv_config(tmp_path, "ingest.csv_timestamp_format=dd/MM/yyyy HH:mm")
    ingest.gate_source(spark, cfg, schemas.EVENTS, None, None)


def test_jdbc_columns_added_upstream_follow_extra_columns(spark, tmp_path, monkeypatch, caplog):
    from ntl_spark.io import jdbc

    df = spark.createDataFrame([("A", D(2026, 1, 1), 1.0, 30, "actual")], schemas.BILLS_SCHEMA)
    upstream = StructType(schemas.BILLS_SCHEMA.fields + [StructField("BRANCH", StringType())])
    monkeypatch.setattr(ingest, "read_source", lambda *a: (df, False, "jdbc:test/bills"))
    monkeypatch.setattr(jdbc, "source_expression", lambda *a: "bills")
    monkeypatch.setattr(jdbc, "source_schema", lambda *a: upstream)
    with caplog.at_level(logging.WARNING, logger="ntl_spark.ingest"):
        raw, _, _ = ingest.gate_source(spark, make_config(tmp_path), schemas.BILLS, None, None)
    assert raw.columns == schemas.BILLS_SCHEMA.fieldNames()
    assert any("['BRANCH']" in r.getMessage() for r in caplog.records), caplog.records
    with pytest.raises(DataError, match=r"\['BRANCH'\].*jdbc.tables.bills"):
        ingest.gate_source(spark, make_config(tmp_path, "ingest.extra_columns=fail"), schemas.BILLS, None, None)
